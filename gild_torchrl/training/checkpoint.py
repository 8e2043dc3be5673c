"""Checkpoints of a run: everything needed to continue it exactly, written atomically.

A checkpoint is a directory ``run_dir/checkpoint``: ``state.pt`` (the loss module's state_dict,
so actor, critics, targets, the GILD network and its counters, SAC's temperature; every
optimizer; the run's :class:`~gild_torchrl.training.run_dir.Progress`; the RNG states of torch,
numpy and python; the collection state: the collector's carrier, which holds the episode in
progress, and the training and evaluation envs' states, see :mod:`gild_torchrl.envs.state`;
the resolved config), ``replay_buffer/`` (TorchRL's own dump) and a ``COMPLETE`` marker written
last, after ``manifest.json`` (the size and SHA-256 of every other file). It is first written as
``checkpoint.tmp`` and renamed into place, the previous one kept as ``checkpoint.old``, so a run
killed at any moment leaves a complete checkpoint to resume from and a half-written one is never
read. Loading checks every file against the manifest: a damaged newest checkpoint is refused,
naming the file, and the previous one is used instead, saying so.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torchrl.data import LazyTensorStorage, TensorDictReplayBuffer

from gild_torchrl.envs.state import continue_episode, get_env_state, set_env_state
from gild_torchrl.training.run_dir import CHECKPOINT_DIRS, Progress

COMPLETE = "COMPLETE"
MANIFEST = "manifest.json"


class CheckpointError(ValueError):
    """A checkpoint that cannot be trusted: a file missing, cut short or changed since it was written."""


@dataclass
class Restored:
    """What :func:`load` read that is applied later: the counters, and the state of the collection and RNGs,
    which :func:`resume_collection` restores once the collector exists."""

    progress: Progress
    rng: dict[str, Any]
    collection: dict[str, Any] | None  # None: a checkpoint written before exact resume


def save(run_dir: Path, cfg: DictConfig, loss_module, optimizers, replay_buffer, progress: Progress,
         collector=None, envs: tuple = ()) -> float:
    """Write a checkpoint of the run; returns the seconds it took."""
    start = time.perf_counter()
    tmp, final, old = run_dir / "checkpoint.tmp", run_dir / CHECKPOINT_DIRS[0], run_dir / CHECKPOINT_DIRS[1]
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if replay_buffer is not None:  # an on-policy run keeps none
        replay_buffer.dumps(tmp / "replay_buffer")
    state = {
        "algorithm": cfg.algorithm,
        "objective": cfg.loss.objective,
        "config": OmegaConf.to_container(cfg, resolve=True),
        "loss": loss_module.state_dict(),
        "optimizers": {name: optimizer.state_dict() for name, optimizer in optimizers.items()},
        "progress": progress.as_dict(),
        "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
        "replay_capacity": int(replay_buffer.storage.max_size) if replay_buffer is not None else 0,
    }
    if collector is not None:
        state["collection"] = {"carrier": _carrier(collector).clone(), "envs": [get_env_state(env) for env in envs]}
    torch.save(state, tmp / "state.pt")
    write_manifest(tmp)
    (tmp / COMPLETE).touch()
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)  # kept: resume falls back to it if the newer one is found damaged
    tmp.rename(final)
    return time.perf_counter() - start


def _digest(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_manifest(path: Path) -> None:
    """``manifest.json``: the size and SHA-256 of every file of the checkpoint at ``path``."""
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.name not in (MANIFEST, COMPLETE))
    manifest = {p.relative_to(path).as_posix(): {"size": p.stat().st_size, "sha256": _digest(p)} for p in files}
    (path / MANIFEST).write_text(json.dumps(manifest, indent=0))


def damage(path: Path) -> str | None:
    """What is wrong with the checkpoint at ``path`` (one sentence naming the file), or None when every
    file matches its manifest. A checkpoint written before manifests is only checked for ``state.pt``."""
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        return None if (path / "state.pt").is_file() else f"{path / 'state.pt'} is missing"
    try:
        manifest = json.loads(manifest_path.read_text())
    except ValueError:
        return f"{manifest_path} cannot be read"
    for name, expected in manifest.items():
        file = path / name
        if not file.is_file():
            return f"{file} is missing"
        size = file.stat().st_size
        if size != expected["size"]:
            return f"{file} has {size} bytes where {expected['size']} were written"
        if _digest(file) != expected["sha256"]:
            return f"{file} does not match the checksum it was written with"
    return None


_VERIFIED: dict[tuple, str | None] = {}  # (checkpoint, its files' sizes and times) -> damage: each state hashed once


def find(run_dir: Path) -> Path | None:
    """The newest complete and undamaged checkpoint of ``run_dir`` (``checkpoint.tmp`` is never one).

    A damaged newest checkpoint is passed over for the previous one, saying so; raises
    :class:`CheckpointError` when every complete checkpoint is damaged."""
    problems = []
    for name in CHECKPOINT_DIRS:
        path = Path(run_dir) / name
        if not (path / COMPLETE).is_file():
            continue
        key = (str(path.resolve()), *((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in sorted(path.rglob("*"))))
        first_look = key not in _VERIFIED
        if first_look:
            _VERIFIED[key] = damage(path)
        if _VERIFIED[key] is None:
            if problems and first_look:
                print(f"{problems[-1]}; using the previous checkpoint {path} instead.", flush=True)
            return path
        problems.append(_VERIFIED[key])
    if problems:
        raise CheckpointError(f"{problems[0]}, so the checkpoint cannot be trusted, and there is no earlier complete "
                              f"one to fall back to.")
    return None


def _read_state(path: Path) -> dict[str, Any]:
    """``state.pt`` of a checkpoint; one sentence naming the file when it cannot be read."""
    try:
        return torch.load(path / "state.pt", map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises RuntimeError, EOFError, UnpicklingError... for a damaged file
        raise CheckpointError(f"{path / 'state.pt'} cannot be read ({type(err).__name__}); the checkpoint is damaged.") from None


def read_config(path: Path) -> DictConfig:
    """The resolved config a checkpoint was written with."""
    return OmegaConf.create(_read_state(path)["config"])


def read_progress(path: Path) -> Progress:
    """The counters a checkpoint was written with."""
    return Progress.from_dict(_read_state(path)["progress"])


def load(path: Path, cfg: DictConfig, loss_module, optimizers, replay_buffer) -> Restored:
    """Restore the networks, optimizers and replay buffer in place. Raises ValueError for another run's checkpoint.

    A run extended to a larger budget may have a larger replay buffer than the checkpoint's: its
    rows are then moved over oldest first, so sampling and later writes see the same buffer.
    """
    state = _read_state(path)
    for key, expected in (("algorithm", cfg.algorithm), ("objective", cfg.loss.objective)):
        if state[key] != expected:
            raise ValueError(f"{path} holds a checkpoint of {key} {state[key]!r}, not {expected!r}.")
    loss_module.load_state_dict(state["loss"])
    for name, optimizer in optimizers.items():
        optimizer.load_state_dict(state["optimizers"][name])
    capacity = state.get("replay_capacity", min(state["config"]["replay_buffer"]["size"], state["config"]["collector"]["total_frames"]))
    if replay_buffer is None:
        pass
    elif capacity == replay_buffer.storage.max_size:
        replay_buffer.loads(path / "replay_buffer")
    else:  # a run extended to a larger budget has a larger buffer: refill it in insertion order
        stored = TensorDictReplayBuffer(storage=LazyTensorStorage(capacity))
        stored.loads(path / "replay_buffer")
        rows = stored.storage[: len(stored)]
        cursor = stored.writer._cursor % capacity if len(stored) == capacity else 0
        replay_buffer.extend(torch.cat([rows[cursor:], rows[:cursor]]) if cursor else rows)
    return Restored(Progress.from_dict(state["progress"]), state["rng"], state.get("collection"))


def resume_collection(restored: Restored, collector, envs: tuple, seed: int) -> bool:
    """Put the collector and the envs where the checkpoint left them, then the RNGs (last: building
    the collector reset its env). Returns whether the resume is exact; a checkpoint written before
    collection states were saved reseeds the envs instead (``seed`` + frames), as runs did then."""
    exact = restored.collection is not None
    if exact:
        for env, env_state in zip(envs, restored.collection["envs"]):
            set_env_state(env, env_state)
        carrier = _carrier(collector)
        saved = restored.collection["carrier"]
        if set(carrier.keys(True, True)) == set(saved.keys(True, True)):
            carrier.update_(saved)
        else:
            carrier.update(saved)
        continue_episode(envs[0], carrier)  # the training env's step count and running returns
    else:
        collector.set_seed(seed + restored.progress.frames)
    torch.set_rng_state(restored.rng["torch"])
    np.random.set_state(restored.rng["numpy"])
    random.setstate(restored.rng["python"])
    return exact


def _carrier(collector):
    """The collector's carrier TensorDict (TorchRL 0.14 keeps the episode in progress there)."""
    carrier = getattr(collector, "_carrier", None)
    if carrier is None:
        raise RuntimeError(f"{type(collector).__name__} has no _carrier; exact resume needs TorchRL's Collector (0.14).")
    return carrier
