"""The episode's running sums and step count, kept by the Gymnasium env itself.

TorchRL's ``StepCounter``, ``RewardSum`` and two ``EpisodeSum`` transforms plus ``DoubleToFloat``
cost about half of a training env's step (a transform's dispatch per frame each); this wrapper,
under TorchRL's ``GymWrapper``, gives the same entries as info: float32 observations and info
values (``DoubleToFloat``'s rounding), ``step_count`` (int64) and the float32 running sums
``episode_reward``, ``episode_dense_reward`` and ``episode_sparse_reward``, added step by step in
float32 as those transforms add them, so every entry a run reads is the one it read before.

The sums live in the wrapper, not in the TorchRL carrier that the transforms read them from: a
resumed run sets them back from its carrier (:meth:`EpisodeInfo.continue_episode`).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

#: The wrapper's info entries: name -> (dtype, shape); read by TorchRL's info reader.
EPISODE_INFO: dict[str, tuple[type, tuple[int, ...]]] = {
    "dense_reward": (np.float32, ()),
    "sparse_reward": (np.float32, ()),
    "x_position": (np.float32, ()),
    "step_count": (np.int64, (1,)),
    "episode_reward": (np.float32, (1,)),
    "episode_dense_reward": (np.float32, (1,)),
    "episode_sparse_reward": (np.float32, (1,)),
}
#: The running entries, in the order :meth:`EpisodeInfo.continue_episode` takes them.
RUNNING = ("step_count", "episode_reward", "episode_dense_reward", "episode_sparse_reward")


class EpisodeInfo(gym.Wrapper):
    """float32 observations and the episode's step count and running returns as info entries.

    Wraps an env whose info carries ``dense_reward``, ``sparse_reward`` and ``x_position``
    (:class:`~gild_torchrl.envs.sparse.SparseRewardWrapper`).
    """

    def __init__(self, env: gym.Env):
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, gym.spaces.Box):
            raise ValueError(f"EpisodeInfo: expected a Box observation space, got {space!r}.")
        self.observation_space = gym.spaces.Box(space.low.astype(np.float32), space.high.astype(np.float32),
                                                shape=space.shape, dtype=np.float32)
        self._steps = 0
        self._sums = np.zeros(3, dtype=np.float32)  # reward, dense reward, sparse reward

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        observation, info = self.env.reset(seed=seed, options=options)
        self._steps = 0
        self._sums = np.zeros(3, dtype=np.float32)
        return observation.astype(np.float32), self._info(info)

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._steps += 1
        self._sums = self._sums + np.array([reward, info["dense_reward"], info["sparse_reward"]]).astype(np.float32)
        return observation.astype(np.float32), reward, terminated, truncated, self._info(info)

    def _info(self, info: dict[str, Any]) -> dict[str, Any]:
        info = dict(info)
        for key in ("dense_reward", "sparse_reward", "x_position"):
            info[key] = np.float32(info[key])
        info["step_count"] = np.array([self._steps], dtype=np.int64)
        info["episode_reward"] = self._sums[0:1].copy()
        info["episode_dense_reward"] = self._sums[1:2].copy()
        info["episode_sparse_reward"] = self._sums[2:3].copy()
        return info

    def continue_episode(self, step_count: int, episode_reward: float, episode_dense_reward: float,
                         episode_sparse_reward: float) -> None:
        """Carry on an episode from its counters (a resumed run's, read from its collector's carrier)."""
        self._steps = int(step_count)
        self._sums = np.array([episode_reward, episode_dense_reward, episode_sparse_reward], dtype=np.float32)
