"""Checkpoints of a GILD recipe run: everything needed to continue it, written atomically.

A checkpoint is a directory ``run_dir/checkpoint``: ``state.pt`` (the loss module's state_dict,
so actor, critics, targets, the GILD network and its counters, SAC's temperature; every
optimizer; the run's progress counters; the RNG states of torch, numpy and python; the resolved
config), ``replay_buffer/`` (TorchRL's own dump: memory-mapped storage, writer and sampler) and
a ``COMPLETE`` marker written last. It is first written as ``checkpoint.tmp`` and renamed into
place, the previous one kept as ``checkpoint.old`` until then, so a run killed at any moment
leaves a complete checkpoint to resume from and a half-written one is never read.
"""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torchrl.data import LazyTensorStorage, TensorDictReplayBuffer

NAMES = ("checkpoint", "checkpoint.old")
COMPLETE = "COMPLETE"


def save(run_dir: Path, cfg: DictConfig, loss_module, optimizers, replay_buffer, progress: dict[str, Any]) -> float:
    """Write a checkpoint of the run; returns the seconds it took."""
    start = time.perf_counter()
    tmp, final, old = run_dir / "checkpoint.tmp", run_dir / NAMES[0], run_dir / NAMES[1]
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    replay_buffer.dumps(tmp / "replay_buffer")
    state = {
        "algorithm": cfg.algorithm,
        "objective": cfg.loss.objective,
        "config": OmegaConf.to_container(cfg, resolve=True),
        "loss": loss_module.state_dict(),
        "optimizers": {name: optimizer.state_dict() for name, optimizer in optimizers.items()},
        "progress": progress,
        "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
        "replay_capacity": int(replay_buffer.storage.max_size),
    }
    torch.save(state, tmp / "state.pt")
    (tmp / COMPLETE).touch()
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return time.perf_counter() - start


def find(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of ``run_dir`` (``checkpoint.tmp`` is never one)."""
    for name in NAMES:
        path = run_dir / name
        if (path / COMPLETE).is_file():
            return path
    return None


def read_config(path: Path) -> DictConfig:
    return OmegaConf.create(torch.load(path / "state.pt", map_location="cpu", weights_only=False)["config"])


def load(path: Path, cfg: DictConfig, loss_module, optimizers, replay_buffer) -> dict[str, Any]:
    """Restore a run in place; returns its progress counters. Raises ValueError for another run's checkpoint.

    A run extended to a larger budget may have a larger replay buffer than the checkpoint's: its
    rows are then moved over oldest first, so sampling and later writes see the same buffer.
    """
    state = torch.load(path / "state.pt", map_location="cpu", weights_only=False)
    for key, expected in (("algorithm", cfg.algorithm), ("objective", cfg.loss.objective)):
        if state[key] != expected:
            raise ValueError(f"{path} holds a checkpoint of {key} {state[key]!r}, not {expected!r}.")
    loss_module.load_state_dict(state["loss"])
    for name, optimizer in optimizers.items():
        optimizer.load_state_dict(state["optimizers"][name])
    capacity = state.get("replay_capacity", min(state["config"]["replay_buffer"]["size"], state["config"]["collector"]["total_frames"]))
    if capacity == replay_buffer.storage.max_size:
        replay_buffer.loads(path / "replay_buffer")
    else:  # a run extended to a larger budget has a larger buffer: refill it in insertion order
        stored = TensorDictReplayBuffer(storage=LazyTensorStorage(capacity))
        stored.loads(path / "replay_buffer")
        rows = stored.storage[: len(stored)]
        cursor = stored.writer._cursor % capacity if len(stored) == capacity else 0
        replay_buffer.extend(torch.cat([rows[cursor:], rows[:cursor]]) if cursor else rows)
    torch.set_rng_state(state["rng"]["torch"])
    np.random.set_state(state["rng"]["numpy"])
    random.setstate(state["rng"]["python"])
    return state["progress"]
