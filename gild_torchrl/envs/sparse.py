"""Sparse-reward MuJoCo locomotion tasks (GILD spec, "Sparse-reward tasks").

The training reward of a step is the task's dense reward when the agent's x position after the
step is more than ``threshold`` beyond the model's nominal initial x (``x0``), and 0 otherwise.
The gate is evaluated on every step, so falling back behind the line gives 0 again.
The task table (ids and thresholds) lives in :mod:`gild_torchrl.tasks` and is re-exported here.
This module only imports Gymnasium and that table, so that registering the ids stays cheap; the
ids are registered when :mod:`gild_torchrl.envs` (or :mod:`gild_torchrl`) is imported, which also
happens in the workers that torchrl starts with ``spawn``.
"""

from __future__ import annotations

import math
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import load_env_creator

from gild_torchrl.tasks import SPARSE_IDS, SPARSE_THRESHOLDS, base_task_id, sparse_threshold

__all__ = [
    "SPARSE_THRESHOLDS",
    "SPARSE_IDS",
    "SparseRewardWrapper",
    "register_sparse_envs",
    "sparse_threshold",
    "base_task_id",
]

class SparseRewardWrapper(gym.Wrapper):
    """Gate a locomotion task's dense reward on the distance travelled along x.

    reward = dense reward if ``info["x_position"] - x0 > threshold`` else 0, checked every step.
    The step info also carries ``"dense_reward"``, ``"sparse_reward"`` (the gated value) and
    ``"x_position"``, so that training and evaluation can log both returns. With ``gate=False``
    the reward stays dense (the evaluation task) and only the info entries are added, so both
    kinds of env expose the same keys. With ``threshold=None`` nothing is gated
    (``sparse_reward == dense_reward``).

    Args:
        env: a Gymnasium env whose step info reports ``"x_position"`` (MuJoCo v5 locomotion tasks).
        threshold: the gate distance, or ``None`` (no gate).
        x0: the model's nominal initial x (0 for Gymnasium's models, not the noisy reset position).
        gate: return the gated reward (sparse task) or the dense one.
    """

    def __init__(self, env: gym.Env, threshold: float | None, x0: float = 0.0, gate: bool = True):
        super().__init__(env)
        if threshold is not None and not math.isfinite(float(threshold)):
            raise ValueError(f"SparseRewardWrapper: threshold must be a finite float, got {threshold!r}")
        self.threshold = None if threshold is None else float(threshold)
        self.x0 = float(x0)
        self.gate_reward = bool(gate)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        info = dict(info)
        # numpy scalars: torchrl's info reader reads ``.dtype``.
        info["dense_reward"] = np.float64(0.0)
        info["sparse_reward"] = np.float64(0.0)
        info["x_position"] = np.float64(self._x_position(info))
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = dict(info)
        x = self._x_position(info)
        dense = float(reward)
        sparse = self.gate(dense, x)
        info["dense_reward"] = np.float64(dense)
        info["sparse_reward"] = np.float64(sparse)
        info["x_position"] = np.float64(x)
        if self.gate_reward:
            reward = sparse
        return obs, reward, terminated, truncated, info

    def gate(self, dense_reward: SupportsFloat, x_position: float) -> float:
        """The spec's rule for one step: the dense reward past the line, 0 behind it."""
        if self.threshold is None:
            return float(dense_reward)
        return float(dense_reward) if x_position - self.x0 > self.threshold else 0.0

    def _x_position(self, info: dict[str, Any]) -> float:
        if "x_position" in info:
            return float(info["x_position"])
        # Fall back on the root body's x coordinate (MuJoCo qpos[0]) for tasks that do not report it.
        data = getattr(self.env.unwrapped, "data", None)
        if data is None:
            raise ValueError(
                f"SparseRewardWrapper: env {self.env.spec.id if self.env.spec else self.env!r} reports "
                "no info['x_position'] and has no MuJoCo data to read it from"
            )
        return float(data.qpos[0])


def _make_sparse(base_id: str, threshold: float, x0: float = 0.0, **kwargs: Any) -> gym.Env:
    # Build the base task from its entry point, not with gym.make: gym.make would add a
    # TimeLimit (and checkers) that the registration of the sparse id then adds a second time.
    spec = gym.spec(base_id)
    creator = load_env_creator(spec.entry_point) if isinstance(spec.entry_point, str) else spec.entry_point
    env = creator(**{**spec.kwargs, **kwargs})
    return SparseRewardWrapper(env, threshold=threshold, x0=x0)


def register_sparse_envs() -> None:
    """Register ``SparseHopper-v5``, ``SparseWalker2d-v5``, ``SparseHalfCheetah-v5``, ``SparseAnt-v5``.

    Idempotent; each keeps its base task's episode length (1000) and termination.
    """
    for sparse_id, base in SPARSE_IDS.items():
        if sparse_id in gym.registry:
            continue
        base_spec = gym.spec(base)
        gym.register(
            id=sparse_id,
            entry_point=_make_sparse,
            max_episode_steps=base_spec.max_episode_steps,
            kwargs={"base_id": base, "threshold": SPARSE_THRESHOLDS[base]},
        )
