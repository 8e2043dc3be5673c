"""Demonstrations: (s, a) pairs from a sub-optimal behaviour policy, in TorchRL's TED layout.

A :class:`Demonstrations` holds one TensorDict of batch size ``[N]`` (one row per transition)
wrapped in a TorchRL :class:`~torchrl.data.TensorStorage`:

* ``observation`` ``(N, obs_dim)`` and ``action`` ``(N, act_dim)``: always present;
* ``episode`` ``(N,)`` int64: the episode each row belongs to (all 0 when the source has no
  episode boundaries, e.g. the paper's flat ``[s | a]`` array);
* ``("next", "observation")``, ``("next", "reward")``, ``("next", "done")``,
  ``("next", "terminated")``, ``("next", "truncated")``: when the source has them.

Values keep the source's dtype (a float64 array round-trips exactly); :meth:`sample` returns
float32. Every loading or validation failure raises :class:`DemonstrationError` (a
``ValueError``) whose message names the file, the field and what was expected.
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.utils import NestedKey
from torchrl.data import TensorDictReplayBuffer, TensorStorage
from torchrl.data.replay_buffers.samplers import RandomSampler

from gild_torchrl.tasks import base_task_id

__all__ = ["Demonstrations", "DemonstrationError", "MissingDemonstrationError", "bundled", "BUNDLED_DIR"]

FORMAT_NAME = "gild_torchrl.demonstrations"
FORMAT_VERSION = 1
META_FILE = "meta.json"
STORAGE_DIR = "storage"  # TensorDict.memmap layout
COMPRESSED_FILE = "data.npz"  # compressed layout (bundled sets)
BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"

_NEXT_KEYS = ("observation", "reward", "done", "terminated", "truncated")


class DemonstrationError(ValueError):
    """A demonstration source is missing, malformed, or does not fit the task."""


class MissingDemonstrationError(DemonstrationError, FileNotFoundError):
    """A demonstration file or directory does not exist."""


def _fail(source: str | os.PathLike | None, field: str | None, message: str) -> DemonstrationError:
    where = str(source) if source is not None else "<in-memory demonstrations>"
    what = f" field {field!r}" if field else ""
    return DemonstrationError(f"{where}:{what} {message}")


def _require_path(path: str | os.PathLike, kind: str = "file") -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise MissingDemonstrationError(f"{p}: no such {kind} (demonstrations expected here)")
    return p


def _as_tensor(value: Any, source, field: str) -> torch.Tensor:
    try:
        arr = np.asarray(value)
    except Exception as err:  # noqa: BLE001 - any conversion failure is a malformed field
        raise _fail(source, field, f"is not a numeric array ({err})") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise _fail(source, field, f"expected a numeric array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise _fail(source, field, f"expected a real-valued array, got dtype {arr.dtype}")
    return torch.from_numpy(np.ascontiguousarray(arr))


class Demonstrations:
    """Demonstration transitions in TED layout, with loaders, validation, sampling and storage.

    Args:
        data: a TensorDict of batch size ``[N]`` with at least ``observation`` and ``action``;
            ``episode`` is added (all zeros) when missing.
        meta: metadata saved next to the data (task id, returns, provenance, ...).
        source: where the data came from, used in error messages.
    """

    def __init__(self, data: TensorDictBase, meta: dict[str, Any] | None = None, source: str | None = None):
        self.source = source
        if not isinstance(data, TensorDictBase) or data.batch_dims != 1:
            raise _fail(source, None, "expected a TensorDict with one batch dimension (one row per transition)")
        for key in ("observation", "action"):
            if key not in data.keys():
                raise _fail(source, key, "is missing (demonstrations need 'observation' and 'action')")
        n = data.batch_size[0]
        if "episode" not in data.keys():
            data.set("episode", torch.zeros(n, dtype=torch.int64))
        for key in ("observation", "action"):
            if data.get(key).ndim != 2:
                raise _fail(source, key, f"expected shape (N, dim), got {tuple(data.get(key).shape)}")
        self._storage = TensorStorage(data)
        self.meta: dict[str, Any] = dict(meta or {})
        self.meta.update(self._shape_meta())

    # ------------------------------------------------------------------ basic properties
    @property
    def data(self) -> TensorDictBase:
        """The TED TensorDict (batch size ``[N]``) behind the storage."""
        return self._storage._storage

    @property
    def storage(self) -> TensorStorage:
        """The TorchRL storage, e.g. to build a replay buffer over the demonstrations."""
        return self._storage

    @property
    def obs_dim(self) -> int:
        return int(self.data.get("observation").shape[-1])

    @property
    def act_dim(self) -> int:
        return int(self.data.get("action").shape[-1])

    @property
    def num_episodes(self) -> int | None:
        if self.meta.get("episodes_known", True) is False:
            return None
        return int(torch.unique(self.data.get("episode")).numel()) if len(self) else 0

    @property
    def returns(self) -> list[float] | None:
        """Per-episode returns (dense, as the demonstrator earned them) when known."""
        return self.meta.get("returns")

    @property
    def task(self) -> str | None:
        return self.meta.get("task")

    def __len__(self) -> int:
        return int(self.data.batch_size[0])

    def __repr__(self) -> str:
        return (
            f"Demonstrations(task={self.task!r}, transitions={len(self)}, episodes={self.num_episodes}, "
            f"obs_dim={self.obs_dim}, act_dim={self.act_dim})"
        )

    def _shape_meta(self) -> dict[str, Any]:
        return {
            "obs_dim": self.obs_dim,
            "act_dim": self.act_dim,
            "num_transitions": len(self),
            "num_episodes": self.num_episodes,
        }

    # ------------------------------------------------------------------ sampling
    def sample(
        self,
        batch_size: int,
        generator: torch.Generator | None = None,
        device=None,
        *,
        observation_key: NestedKey = "observation",
        action_key: NestedKey = "action",
    ) -> TensorDict:
        """Uniformly sampled rows (with replacement), floats as float32, batch size ``[batch_size]``.

        ``observation_key`` / ``action_key`` name the entries as the loss reads them (an env
        that writes ``obs``/``act``; ``Demonstrations.sample(n, **loss.demo_keys)``).
        """
        if len(self) == 0:
            raise _fail(self.source, None, "cannot sample from empty demonstrations")
        idx = torch.randint(len(self), (batch_size,), generator=generator)
        batch = _renamed(self.data[idx], observation_key, action_key)
        batch = batch.apply(lambda x: x.to(torch.float32) if x.is_floating_point() else x)
        return batch.to(device) if device is not None else batch

    def as_tensordict(self, observation_key: NestedKey = "observation", action_key: NestedKey = "action") -> TensorDictBase:
        """Every row, with the observation and action under the given keys (the stored dtypes kept)."""
        return _renamed(self.data, observation_key, action_key)

    def as_replay_buffer(self, batch_size: int, **kwargs) -> TensorDictReplayBuffer:
        """A TorchRL replay buffer over the demonstrations (uniform sampling), e.g. for the losses' demo batch."""
        data = self.data.apply(lambda x: x.to(torch.float32) if x.is_floating_point() else x)
        return TensorDictReplayBuffer(
            storage=TensorStorage(data), sampler=RandomSampler(), batch_size=batch_size, **kwargs
        )

    def episodes(self) -> list[TensorDictBase]:
        """The rows of each episode, in episode order."""
        ep = self.data.get("episode")
        return [self.data[ep == e] for e in torch.unique(ep)]

    # ------------------------------------------------------------------ validation
    def validate(
        self,
        obs_dim: int | None = None,
        act_dim: int | None = None,
        low: float | Sequence[float] | torch.Tensor | None = None,
        high: float | Sequence[float] | torch.Tensor | None = None,
        task: str | None = None,
        atol: float = 1e-5,
    ) -> Demonstrations:
        """Check the demonstrations fit a task; raise :class:`DemonstrationError` on the first problem.

        Checks: not empty, observation/action dimensions, finite values in every float field,
        actions within ``[low - atol, high + atol]``. Returns ``self`` so calls can be chained.
        """
        src = self.source
        for_task = f" for task {task}" if task else ""
        if len(self) == 0:
            raise _fail(src, "observation", "is empty: expected at least one transition")
        if obs_dim is not None and self.obs_dim != obs_dim:
            raise _fail(src, "observation", f"has dimension {self.obs_dim}, expected {obs_dim}{for_task}")
        if act_dim is not None and self.act_dim != act_dim:
            raise _fail(src, "action", f"has dimension {self.act_dim}, expected {act_dim}{for_task}")
        for key, value in self.data.items(include_nested=True, leaves_only=True):
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                name = "/".join(key) if isinstance(key, tuple) else key
                row = int((~torch.isfinite(value)).reshape(len(self), -1).any(-1).nonzero()[0])
                raise _fail(src, name, f"contains NaN or inf (first at row {row}); expected finite values")
        action = self.data.get("action").to(torch.float64)
        for bound, name in ((low, "low"), (high, "high")):
            if bound is None:
                continue
            b = torch.as_tensor(np.asarray(bound, dtype=np.float64)).reshape(-1)
            if b.numel() not in (1, self.act_dim):
                raise _fail(src, "action", f"bound {name!r} has {b.numel()} entries, expected 1 or {self.act_dim}")
            bad = action < b - atol if name == "low" else action > b + atol
            if bool(bad.any()):
                row, col = (int(i) for i in bad.nonzero()[0])
                raise _fail(
                    src,
                    "action",
                    f"value {float(action[row, col]):.6g} at row {row}, column {col} is outside the "
                    f"action bounds [{_fmt(low, col, '-inf')}, {_fmt(high, col, 'inf')}]{for_task}",
                )
        return self

    def validate_for_env(
        self,
        env,
        task: str | None = None,
        observation_key: NestedKey | None = None,
        action_key: NestedKey | None = None,
    ) -> Demonstrations:
        """Validate against a TorchRL env's specs (observation and action shapes, action bounds).

        ``observation_key``: the env's observation entry the demonstrations' observations match
        (default ``"observation"``, or the env's only observation entry); ``action_key``: the
        env's action entry (default ``env.action_key``).
        """
        keys = [k for k in env.observation_spec.keys(include_nested=True, leaves_only=True)]
        if observation_key is None:
            observation_key = "observation" if "observation" in keys or len(keys) != 1 else keys[0]
        if observation_key not in keys:
            raise _fail(self.source, "observation", f"cannot be matched to the env: it has no observation entry "
                        f"{observation_key!r} (its observation_spec holds {keys}); pass observation_key=")
        obs_spec = env.observation_spec[observation_key]
        act_spec = env.full_action_spec[action_key if action_key is not None else env.action_key]
        low = getattr(getattr(act_spec, "space", None), "low", None)
        high = getattr(getattr(act_spec, "space", None), "high", None)
        if low is not None:
            low, high = low.reshape(-1, act_spec.shape[-1])[0], high.reshape(-1, act_spec.shape[-1])[0]
        return self.validate(obs_spec.shape[-1], act_spec.shape[-1], low, high, task=task or self.task)

    def validate_for_task(self, name: str) -> Demonstrations:
        """Validate against a task by name (anything :func:`gild_torchrl.envs.make_env` accepts)."""
        from gild_torchrl.envs import make_env

        env = make_env(name, sparse=False)
        try:
            return self.validate_for_env(env, task=name)
        finally:
            env.close()

    # ------------------------------------------------------------------ saving and loading
    def save(self, directory: str | os.PathLike, compress: bool = False) -> Path:
        """Write the demonstrations to ``directory``: TorchRL memory-mapped storage + ``meta.json``.

        ``compress=True`` writes one compressed ``data.npz`` instead of the memory map (the bundled
        sets use it to stay small); :meth:`load` reads both.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        data = self.data.contiguous() if hasattr(self.data, "contiguous") else self.data
        if compress:
            arrays = {"/".join(k) if isinstance(k, tuple) else k: v.cpu().numpy()
                      for k, v in data.items(include_nested=True, leaves_only=True)}
            np.savez_compressed(directory / COMPRESSED_FILE, **arrays)
        else:
            data.memmap(directory / STORAGE_DIR, num_threads=0)
        meta = {"format": FORMAT_NAME, "version": FORMAT_VERSION, **self.meta, **self._shape_meta()}
        meta["layout"] = "npz" if compress else "memmap"
        (directory / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike) -> Demonstrations:
        """Load what :meth:`save` wrote (the data is copied into memory)."""
        directory = _require_path(directory, "directory")
        meta_path = directory / META_FILE
        if not meta_path.is_file():
            raise _fail(directory, META_FILE, "is missing: expected a directory written by Demonstrations.save")
        try:
            meta = json.loads(meta_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise _fail(meta_path, None, f"is not valid JSON ({err})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
            raise _fail(meta_path, "format", f"expected {FORMAT_NAME!r}, got {meta.get('format') if isinstance(meta, dict) else meta!r}")
        if (directory / COMPRESSED_FILE).is_file():
            arrays = _load_npz(directory / COMPRESSED_FILE)
            data = TensorDict(
                {tuple(k.split("/")): _as_tensor(v, directory / COMPRESSED_FILE, k) for k, v in arrays.items()},
                batch_size=[],
            )
        elif (directory / STORAGE_DIR).is_dir():
            try:
                data = TensorDict.load_memmap(directory / STORAGE_DIR).clone()
            except Exception as err:  # noqa: BLE001 - corrupt or truncated memory maps
                raise _fail(directory / STORAGE_DIR, None, f"could not be read as a TensorDict memory map ({err})") from None
        else:
            raise _fail(directory, STORAGE_DIR, f"is missing: expected {STORAGE_DIR}/ or {COMPRESSED_FILE}")
        data = _with_row_batch(data, directory)
        demos = cls(data, meta={k: v for k, v in meta.items() if k not in ("format", "version", "layout")}, source=str(directory))
        for key in ("num_transitions", "obs_dim", "act_dim"):
            if key in meta and meta[key] != demos.meta[key]:
                raise _fail(meta_path, key, f"says {meta[key]} but the stored data has {demos.meta[key]} (truncated or mismatched files)")
        return demos

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_episodes(
        cls,
        episodes: Sequence[TensorDictBase],
        task: str | None = None,
        returns: Sequence[float] | None = None,
        extra_meta: dict[str, Any] | None = None,
        keys: Sequence[str | tuple[str, ...]] | None = None,
    ) -> Demonstrations:
        """Concatenate rollouts (each a TensorDict of shape ``[T]``) into TED rows with an episode index.

        ``keys`` restricts what is kept (default: observation, action and the ``next`` entries of TED).
        """
        if keys is None:
            keys = ["observation", "action"] + [("next", k) for k in _NEXT_KEYS]
        rows = []
        for i, ep in enumerate(episodes):
            ep = ep.reshape(-1)
            present = [k for k in keys if k in ep.keys(include_nested=True)]
            sub = ep.select(*present)
            sub.set("episode", torch.full((ep.shape[0],), i, dtype=torch.int64))
            rows.append(sub)
        if not rows:
            raise _fail(None, None, "from_episodes got no episodes")
        data = torch.cat(rows, 0)
        meta = {"task": task, "returns": None if returns is None else [float(r) for r in returns]}
        meta.update(extra_meta or {})
        return cls(data, meta=meta)

    @classmethod
    def from_numpy(
        cls,
        path: str | os.PathLike,
        obs_dim: int | None = None,
        act_dim: int | None = None,
        task: str | None = None,
    ) -> Demonstrations:
        """Load a ``.npy``/``.npz`` file: one ``(N, obs_dim + act_dim)`` array with columns ``[s | a]``
        (the paper's format; give ``obs_dim`` or ``act_dim``), or named arrays ``observations`` and
        ``actions`` (optionally ``next_observations``, ``rewards``, ``terminals``, ``timeouts``,
        ``dones``, ``episode``).
        """
        path = _require_path(path)
        if path.suffix == ".npy":
            try:
                arrays = {"data": np.load(path, allow_pickle=False)}
            except (ValueError, OSError, EOFError) as err:
                raise _fail(path, None, f"could not be read as a .npy array (truncated or corrupt? {err})") from None
        elif path.suffix == ".npz":
            arrays = _load_npz(path)
        else:
            raise _fail(path, None, f"has suffix {path.suffix!r}, expected .npy or .npz")
        data = _arrays_to_td(arrays, path, obs_dim, act_dim)
        return cls(data, meta=_import_meta(task, path, "numpy", data), source=str(path))

    @classmethod
    def from_pickle(
        cls,
        path: str | os.PathLike,
        obs_dim: int | None = None,
        act_dim: int | None = None,
        task: str | None = None,
        trust: bool = False,
    ) -> Demonstrations:
        """Load a legacy pickled array (or dict of named arrays) of the same layouts as :meth:`from_numpy`.

        Unpickling runs arbitrary code, so this refuses unless ``trust=True``.
        """
        path = _require_path(path)
        if not trust:
            raise _fail(path, None, "refusing to unpickle (it can run arbitrary code): pass trust=True only for files you trust")
        try:
            with open(path, "rb") as f:
                obj = pickle.load(f)  # noqa: S301 - the caller vouched for the file with trust=True
        except Exception as err:  # noqa: BLE001 - truncated/corrupt pickles raise many types
            raise _fail(path, None, f"could not be unpickled (truncated or corrupt? {type(err).__name__}: {err})") from None
        if isinstance(obj, dict):
            arrays = obj
        elif isinstance(obj, (np.ndarray, list, tuple, torch.Tensor)):
            arrays = {"data": obj.numpy() if isinstance(obj, torch.Tensor) else obj}
        else:
            raise _fail(path, None, f"holds a {type(obj).__name__}, expected an array or a dict of named arrays")
        data = _arrays_to_td(arrays, path, obs_dim, act_dim)
        return cls(data, meta=_import_meta(task, path, "pickle", data), source=str(path))

    @classmethod
    def from_minari(cls, dataset: str | os.PathLike, task: str | None = None) -> Demonstrations:
        """Read a Minari dataset (HDF5 format) by local id or by path, offline, with h5py.

        ``dataset`` is a directory holding ``data/main_data.hdf5`` (the dataset's directory, or its
        ``data`` folder), the ``.hdf5`` file itself, or a local dataset id (looked up under
        ``$MINARI_DATASETS_PATH`` or ``~/.minari/datasets``). TorchRL's own Minari loader is not
        used: in torchrl 0.14.1 it returns all-zero data.
        """
        import h5py

        path = _resolve_minari(dataset)
        meta_json = path.parent / "metadata.json"
        minari_meta: dict[str, Any] = {}
        if meta_json.is_file():
            try:
                minari_meta = json.loads(meta_json.read_text())
            except json.JSONDecodeError as err:
                raise _fail(meta_json, None, f"is not valid JSON ({err})") from None
            if minari_meta.get("data_format", "hdf5") != "hdf5":
                raise _fail(meta_json, "data_format", f"is {minari_meta.get('data_format')!r}, only 'hdf5' datasets are supported")
        rows, returns = [], []
        try:
            with h5py.File(path, "r") as f:
                names = sorted((k for k in f.keys() if k.startswith("episode_")), key=lambda k: int(k.split("_")[1]))
                if not names:
                    raise _fail(path, "episode_*", "no episodes found: expected groups episode_0, episode_1, ...")
                for i, name in enumerate(names):
                    g = f[name]
                    for field in ("observations", "actions"):
                        if field not in g:
                            raise _fail(path, f"{name}/{field}", "is missing")
                        if not isinstance(g[field], h5py.Dataset):
                            raise _fail(path, f"{name}/{field}", "is a dict space; only Box observations and actions are supported")
                    obs = _as_tensor(g["observations"][()], path, f"{name}/observations")
                    act = _as_tensor(g["actions"][()], path, f"{name}/actions")
                    T = act.shape[0]
                    if obs.ndim != 2 or act.ndim != 2 or obs.shape[0] != T + 1:
                        raise _fail(path, f"{name}/observations",
                                    f"has shape {tuple(obs.shape)} with actions {tuple(act.shape)}: expected (T+1, obs_dim) and (T, act_dim)")
                    row = {"observation": obs[:-1], "action": act, ("next", "observation"): obs[1:],
                           "episode": torch.full((T,), i, dtype=torch.int64)}
                    if "rewards" in g:
                        rew = _as_tensor(g["rewards"][()], path, f"{name}/rewards").reshape(T, 1)
                        row[("next", "reward")] = rew
                        returns.append(float(rew.sum()))
                    term = _as_tensor(g["terminations"][()], path, f"{name}/terminations").reshape(T, 1).bool() if "terminations" in g else None
                    trunc = _as_tensor(g["truncations"][()], path, f"{name}/truncations").reshape(T, 1).bool() if "truncations" in g else None
                    if term is not None:
                        row[("next", "terminated")] = term
                    if trunc is not None:
                        row[("next", "truncated")] = trunc
                    if term is not None and trunc is not None:
                        row[("next", "done")] = term | trunc
                    rows.append(TensorDict(row, batch_size=[T]))
        except DemonstrationError:
            raise
        except (OSError, KeyError, ValueError) as err:
            raise _fail(path, None, f"could not be read as a Minari HDF5 dataset (truncated or corrupt? {err})") from None
        data = torch.cat(rows, 0)
        if task is None and "env_spec" in minari_meta:
            try:
                task = json.loads(minari_meta["env_spec"]).get("id")
            except (json.JSONDecodeError, AttributeError):
                task = None
        meta = _import_meta(task, path, "minari", data)
        meta["returns"] = returns if len(returns) == len(rows) else None
        meta["minari_dataset_id"] = minari_meta.get("dataset_id")
        return cls(data, meta=meta, source=str(path))

    def to_minari(self, dataset_id: str, env_id: str | None = None, description: str | None = None):
        """Write the set as a local Minari dataset (offline), one Minari episode per episode; returns it.

        Minari stores ``T + 1`` observations per episode: the final one is the last row's
        ``("next", "observation")`` when the set has it, else a copy of the last observation
        (the dataset's description says so). Rewards are the stored ``("next", "reward")``, else
        zeros; the last step is terminated or truncated as stored, else truncated.
        ``Demonstrations.from_minari(dataset_id)`` reads back the same observations and actions.
        """
        import minari
        from gymnasium.spaces import Box
        from minari.data_collector import EpisodeBuffer

        keys = self.data.keys(include_nested=True)
        has_next = ("next", "observation") in keys
        buffers = []
        for i, episode in enumerate(self.episodes()):
            obs = episode.get("observation").numpy()
            last = episode.get(("next", "observation"))[-1:].numpy() if has_next else obs[-1:]
            T = obs.shape[0]
            flag = {k: episode.get(("next", k)).reshape(T).numpy().astype(bool) if ("next", k) in keys else None
                    for k in ("terminated", "truncated")}
            terminated = flag["terminated"] if flag["terminated"] is not None else np.zeros(T, bool)
            truncated = flag["truncated"] if flag["truncated"] is not None else np.zeros(T, bool)
            if not (terminated[-1] or truncated[-1]):
                truncated = truncated.copy()
                truncated[-1] = True
            rewards = episode.get(("next", "reward")).reshape(T).numpy() if ("next", "reward") in keys else np.zeros(T)
            buffers.append(EpisodeBuffer(id=i, observations=np.concatenate([obs, last]), actions=episode.get("action").numpy(),
                                         rewards=rewards, terminations=terminated, truncations=truncated, infos={}))
        note = description or f"gild_torchrl demonstrations ({self.task or 'unknown task'}), {len(self)} transitions"
        if not has_next:
            note += "; each episode's final observation repeats its last one (the set stores no next observations)"

        def box(array):
            return Box(-np.inf, np.inf, shape=array.shape[1:], dtype=array.dtype)

        return minari.create_dataset_from_buffers(
            dataset_id, buffers, env=env_id, algorithm_name="gild_torchrl", description=note,
            observation_space=box(buffers[0].observations), action_space=box(buffers[0].actions),
        )

    @classmethod
    def from_replay_buffer(cls, path: str | os.PathLike, task: str | None = None) -> Demonstrations:
        """Read a TorchRL replay buffer dump (``ReplayBuffer.dumps(path)``) without unpickling anything.

        Reads the ``storage/`` memory map and its filled length; episodes come from
        ``("collector", "traj_ids")`` when present, else from the ``("next", "done")`` flags.
        Assumes the buffer had not wrapped around (rows in insertion order).
        """
        path = _require_path(path, "directory")
        storage_dir = path / "storage"
        meta_path = storage_dir / "storage_metadata.json"
        if not meta_path.is_file():
            raise _fail(path, "storage/storage_metadata.json", "is missing: expected a directory written by ReplayBuffer.dumps")
        try:
            length = int(json.loads(meta_path.read_text())["len"])
            td = TensorDict.load_memmap(storage_dir)
        except Exception as err:  # noqa: BLE001
            raise _fail(storage_dir, None, f"could not be read as a TorchRL storage dump (truncated or corrupt? {err})") from None
        if td.batch_dims < 1 or td.batch_size[0] < length:
            raise _fail(storage_dir, None, f"holds {tuple(td.batch_size)} rows but its metadata says {length}")
        td = td[:length].clone()
        if td.batch_dims > 1:  # a storage of trajectories [n_traj, T]: flatten to rows
            td = td.reshape(-1)
        if "index" in td.keys():
            td = td.exclude("index")
        if ("collector", "traj_ids") in td.keys(include_nested=True):
            traj = td.get(("collector", "traj_ids"))
            _, episode = torch.unique(traj, return_inverse=True)
            td = td.exclude("collector")
        elif ("next", "done") in td.keys(include_nested=True):
            done = td.get(("next", "done")).reshape(td.shape[0]).long()
            episode = torch.cat([torch.zeros(1, dtype=torch.long), done.cumsum(0)[:-1]])
        else:
            episode = torch.zeros(td.shape[0], dtype=torch.long)
        keep = ["observation", "action"] + [("next", k) for k in _NEXT_KEYS]
        td = td.select(*[k for k in keep if k in td.keys(include_nested=True)])
        td.set("episode", episode.reshape(-1).to(torch.int64))
        meta = _import_meta(task, path, "torchrl_replay_buffer", td)
        return cls(td, meta=meta, source=str(path))


# ---------------------------------------------------------------------- helpers
def _renamed(rows: TensorDictBase, observation_key: NestedKey, action_key: NestedKey) -> TensorDictBase:
    """``rows`` (a shallow copy) with ``observation`` (also under ``next``) and ``action`` under the given keys."""
    names = {"observation": observation_key, ("next", "observation"): ("next", *_key_tuple(observation_key)),
             "action": action_key}
    present = rows.keys(include_nested=True)
    moves = {old: new for old, new in names.items() if old in present and _key_tuple(old) != _key_tuple(new)}
    if not moves:
        return rows
    rows = rows.copy()
    for old, new in moves.items():
        rows.rename_key_(old, new)
    return rows


def _key_tuple(key: NestedKey) -> tuple:
    return tuple(key) if isinstance(key, tuple) else (key,)


def _fmt(bound, col: int, default: str) -> str:
    if bound is None:
        return default
    b = np.asarray(torch.as_tensor(bound).cpu() if isinstance(bound, torch.Tensor) else bound, dtype=np.float64).reshape(-1)
    return f"{b[0] if b.size == 1 else b[col]:.6g}"


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise _fail(path, None, f"could not be read as a .npz archive (truncated or corrupt? {err})") from None


def _with_row_batch(data: TensorDictBase, source) -> TensorDictBase:
    """Give a TensorDict built from loose arrays its row batch size, checking the row counts agree."""
    lengths = {"/".join(k) if isinstance(k, tuple) else k: v.shape[0] if v.ndim else None
               for k, v in data.items(include_nested=True, leaves_only=True)}
    if "observation" not in lengths:
        raise _fail(source, "observation", "is missing")
    n = lengths["observation"]
    for k, v in lengths.items():
        if v != n:
            raise _fail(source, k, f"has {v} rows, expected {n} (the number of observation rows)")
    data.batch_size = [n]
    return data


_ALIASES = {
    "observation": ("observations", "observation", "obs", "states", "s"),
    "action": ("actions", "action", "acts", "a"),
    ("next", "observation"): ("next_observations", "next_observation", "next_obs"),
    ("next", "reward"): ("rewards", "reward"),
    ("next", "terminated"): ("terminals", "terminations", "terminated"),
    ("next", "truncated"): ("timeouts", "truncations", "truncated"),
    ("next", "done"): ("dones", "done"),
    "episode": ("episode", "episodes", "episode_index"),
}


def _arrays_to_td(arrays: dict[str, Any], source, obs_dim: int | None, act_dim: int | None) -> TensorDict:
    named = {}
    for key, aliases in _ALIASES.items():
        for alias in aliases:
            if alias in arrays:
                named[key] = arrays[alias]
                break
    if "observation" in named or "action" in named:
        for key in ("observation", "action"):
            if key not in named:
                raise _fail(source, _ALIASES[key][0], f"is missing (named arrays need both {_ALIASES['observation'][0]!r} and {_ALIASES['action'][0]!r})")
        tensors = {k: _as_tensor(v, source, _ALIASES[k][0]) for k, v in named.items()}
        for key in ("observation", "action", ("next", "observation")):
            if key in tensors and tensors[key].ndim != 2:
                raise _fail(source, _ALIASES[key][0], f"has shape {tuple(tensors[key].shape)}, expected (N, dim)")
        n = tensors["observation"].shape[0]
        for key in (("next", "reward"), ("next", "terminated"), ("next", "truncated"), ("next", "done")):
            if key in tensors:
                t = tensors[key]
                if t.numel() != n:
                    raise _fail(source, _ALIASES[key][0], f"has {t.numel()} entries, expected {n}")
                tensors[key] = t.reshape(n, 1) if key[1] == "reward" else t.reshape(n, 1).bool()
        if "episode" in tensors:
            tensors["episode"] = tensors["episode"].reshape(-1).to(torch.int64)
        if ("next", "done") not in tensors and ("next", "terminated") in tensors and ("next", "truncated") in tensors:
            tensors[("next", "done")] = tensors[("next", "terminated")] | tensors[("next", "truncated")]
        if "episode" not in tensors and ("next", "done") in tensors:
            done = tensors[("next", "done")].reshape(-1).long()
            tensors["episode"] = torch.cat([torch.zeros(1, dtype=torch.long), done.cumsum(0)[:-1]])
        if obs_dim is not None and tensors["observation"].shape[1] != obs_dim:
            raise _fail(source, _ALIASES["observation"][0], f"has dimension {tensors['observation'].shape[1]}, expected {obs_dim}")
        if act_dim is not None and tensors["action"].shape[1] != act_dim:
            raise _fail(source, _ALIASES["action"][0], f"has dimension {tensors['action'].shape[1]}, expected {act_dim}")
        return _with_row_batch(TensorDict(tensors, batch_size=[]), source)
    if len(arrays) != 1:
        raise _fail(source, None, f"holds arrays {sorted(arrays)}: expected one (N, obs_dim + act_dim) array or named arrays 'observations' and 'actions'")
    (field, value), = arrays.items()
    flat = _as_tensor(value, source, field)
    if flat.ndim != 2:
        raise _fail(source, field, f"has shape {tuple(flat.shape)}, expected (N, obs_dim + act_dim) with columns [s | a]")
    width = flat.shape[1]
    if obs_dim is None and act_dim is None:
        raise _fail(source, field, "is one [s | a] array: pass obs_dim or act_dim to split its columns")
    for name, dim in (("obs_dim", obs_dim), ("act_dim", act_dim)) if obs_dim is None or act_dim is None else ():
        if dim is not None and not 1 <= dim < width:
            raise _fail(source, field, f"has {width} columns [s | a], so {name} must lie in 1..{width - 1} "
                        f"(leaving at least one column for the other part), got {name}={dim}")
    if obs_dim is None:
        obs_dim = width - act_dim
    if act_dim is None:
        act_dim = width - obs_dim
    if obs_dim < 1 or act_dim < 1 or obs_dim + act_dim != width:
        raise _fail(source, field, f"has {width} columns, expected obs_dim + act_dim = {obs_dim} + {act_dim} = {obs_dim + act_dim}")
    td = TensorDict({"observation": flat[:, :obs_dim].clone(), "action": flat[:, obs_dim:].clone()}, batch_size=[flat.shape[0]])
    td.set("episode", torch.zeros(flat.shape[0], dtype=torch.int64))
    return td


def _import_meta(task: str | None, path: Path, kind: str, data: TensorDictBase) -> dict[str, Any]:
    episodes_known = not ("episode" in data.keys() and data.shape[0] and bool((data.get("episode") == 0).all())
                          and ("next", "done") not in data.keys(include_nested=True))
    return {"task": task, "returns": None, "provenance": f"imported from {kind} file {path}",
            "episodes_known": episodes_known}


def _resolve_minari(dataset: str | os.PathLike) -> Path:
    p = Path(dataset).expanduser()
    if not p.exists():
        root = Path(os.environ.get("MINARI_DATASETS_PATH", Path.home() / ".minari" / "datasets"))
        p = root / str(dataset)
        if not p.exists():
            raise MissingDemonstrationError(
                f"{dataset}: no such Minari dataset path, and no local dataset of that id under {root}"
            )
    for candidate in (p, p / "main_data.hdf5", p / "data" / "main_data.hdf5"):
        if candidate.is_file():
            return candidate
    raise _fail(p, "data/main_data.hdf5", "is missing: expected a Minari dataset in HDF5 format")


def bundled(task_name: str, kind: str | None = None) -> Path:
    """Directory of the bundled demonstrations of a task ("Hopper-v5", "SparseHopper-v5", "PointNav", ...).

    ``kind``: another bundled set of the task, stored as ``<task>_<kind>`` (``"weak"``: a weaker
    demonstrator, for the demo_quality preset). Raises :class:`MissingDemonstrationError` listing
    the available sets when there is none.
    """
    name = base_task_id(task_name) + (f"_{kind}" if kind else "")
    path = BUNDLED_DIR / name
    if not (path / META_FILE).is_file():
        available = sorted(p.name for p in BUNDLED_DIR.iterdir() if (p / META_FILE).is_file()) if BUNDLED_DIR.is_dir() else []
        what = f"task {task_name!r}" + (f" of kind {kind!r}" if kind else "")
        raise MissingDemonstrationError(f"{path}: no bundled demonstrations for {what}; available: {available}")
    return path
