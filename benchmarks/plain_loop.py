"""A whole TD3 or SAC run written the way CleanRL writes one: the floor the recipe's wall time is measured against.

Gymnasium's sparse Hopper stepped directly, a replay buffer of preallocated tensors, the update of
``benchmarks/plain_reference.py`` and the recipe's schedule: uniform random actions for the random
phase, then ``frames_per_batch`` frames collected with the exploration policy followed by as many
updates (the recipe's ``utd_ratio`` 1), and every ``eval_interval`` frames (and at the end) the
recipe's evaluation protocol: ``eval_episodes`` deterministic episodes of the dense task, one
after another, one policy call per step. No TensorDict, no TorchRL, no logger, no checkpoint.

    python -m benchmarks.plain_loop [--algorithm td3] [--frames 8000] [--random-frames 3000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import gymnasium as gym
import numpy as np
import torch

from benchmarks.plain_reference import PLAIN
from gild_torchrl.envs import register_sparse_envs
from gild_torchrl.tasks import SPARSE_IDS

#: The split of a plain run's wall time, named as the recipe's timers are.
PARTS = ("collect", "sample", "update", "eval")


class TensorReplay:
    """Transitions in preallocated tensors, a ring of ``capacity`` rows, uniform sampling with replacement."""

    def __init__(self, capacity: int, obs_dim: int, act_dim: int) -> None:
        self.obs = torch.zeros(capacity, obs_dim)
        self.action = torch.zeros(capacity, act_dim)
        self.reward = torch.zeros(capacity, 1)
        self.next_obs = torch.zeros(capacity, obs_dim)
        self.terminated = torch.zeros(capacity, 1, dtype=torch.bool)
        self.capacity, self.size, self.cursor = capacity, 0, 0

    def add(self, obs, action, reward: float, next_obs, terminated: bool) -> None:
        i = self.cursor
        self.obs[i] = torch.from_numpy(obs)
        self.action[i] = torch.from_numpy(action)
        self.reward[i] = reward
        self.next_obs[i] = torch.from_numpy(next_obs)
        self.terminated[i] = terminated
        self.cursor = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        index = torch.randint(self.size, (batch_size,))
        return self.obs[index], self.action[index], self.reward[index], self.next_obs[index], self.terminated[index]


def act(agent, obs: torch.Tensor, deterministic: bool, exploration_std: float) -> torch.Tensor:
    """The actor's action in [-1, 1] (Hopper's bounds): TD3's tanh output plus Gaussian noise, SAC's
    tanh-Gaussian sample, or their deterministic modes."""
    if hasattr(agent, "sample"):  # SAC
        if deterministic:
            return torch.tanh(agent.actor(obs).chunk(2, -1)[0])
        return agent.sample(obs)[0]
    action = torch.tanh(agent.actor(obs))
    if not deterministic:
        action = (action + exploration_std * torch.randn_like(action)).clamp(-1.0, 1.0)
    return action


@torch.no_grad()
def evaluate(agent, env: gym.Env, episodes: int) -> tuple[list[float], int]:
    """``episodes`` deterministic episodes one after another; their returns and the steps taken."""
    returns, steps = [], 0
    for _ in range(episodes):
        obs, _ = env.reset()
        total, done = 0.0, False
        while not done:
            action = act(agent, torch.as_tensor(obs, dtype=torch.float32), True, 0.0)
            obs, reward, terminated, truncated, _ = env.step(action.numpy())
            total += float(reward)
            done = terminated or truncated
            steps += 1
        returns.append(total)
    return returns, steps


def run(algorithm: str = "td3", env_id: str = "Hopper-v5", frames: int = 8000, random_frames: int = 3000,
        frames_per_batch: int = 10, eval_interval: int = 5000, eval_episodes: int = 10, batch_size: int = 256,
        hidden: Sequence[int] = (256, 256), exploration_std: float = 0.1, seed: int = 0, threads: int = 1) -> dict:
    """One run; returns its wall time, frames, updates, the seconds of each part (``random_phase``: the
    collection's before the first update), the last evaluation's returns and the evaluation steps."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    register_sparse_envs()
    sparse_id = next(sparse for sparse, base in SPARSE_IDS.items() if base == env_id)
    env, eval_env = gym.make(sparse_id), gym.make(env_id)
    env.action_space.seed(seed)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    agent = PLAIN[algorithm](obs_dim, act_dim, hidden)
    replay = TensorReplay(frames, obs_dim, act_dim)
    timers = dict.fromkeys(PARTS, 0.0)
    start = time.perf_counter()
    obs, _ = env.reset(seed=seed)
    eval_env.reset(seed=seed + 10_000)
    collected, updates, next_eval, returns, eval_steps, random_phase = 0, 0, eval_interval, [], 0, 0.0
    while collected < frames:
        tick = time.perf_counter()
        for _ in range(frames_per_batch):
            if collected < random_frames:
                action = env.action_space.sample()
            else:
                with torch.no_grad():
                    action = act(agent, torch.as_tensor(obs, dtype=torch.float32), False, exploration_std).numpy()
            next_obs, reward, terminated, truncated, _ = env.step(action)
            replay.add(obs, action, reward, next_obs, terminated)
            obs = env.reset()[0] if terminated or truncated else next_obs
            collected += 1
        timers["collect"] += time.perf_counter() - tick
        if collected > random_frames:
            if not updates:
                random_phase = timers["collect"]
            for _ in range(frames_per_batch):
                tick = time.perf_counter()
                batch = replay.sample(batch_size)
                timers["sample"] += time.perf_counter() - tick
                tick = time.perf_counter()
                agent.update(*batch)
                updates += 1
                timers["update"] += time.perf_counter() - tick
        if collected >= next_eval or collected >= frames:
            tick = time.perf_counter()
            returns, steps = evaluate(agent, eval_env, eval_episodes)
            eval_steps += steps
            timers["eval"] += time.perf_counter() - tick
            while next_eval <= collected:
                next_eval += eval_interval
    return {"wall_time": time.perf_counter() - start, "frames": collected, "updates": updates, "dense_returns": returns,
            "eval_steps": eval_steps, "random_phase": random_phase, **timers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithm", default="td3", choices=("td3", "sac"))
    parser.add_argument("--env", default="Hopper-v5")
    parser.add_argument("--frames", type=int, default=8000)
    parser.add_argument("--random-frames", type=int, default=3000)
    parser.add_argument("--frames-per-batch", type=int, default=10)
    parser.add_argument("--eval-interval", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    result = run(args.algorithm, args.env, args.frames, args.random_frames, args.frames_per_batch, args.eval_interval,
                 threads=args.threads)
    wall = result["wall_time"]
    print(f"plain {args.algorithm}: {wall:.1f} s, {args.frames / wall:.0f} frames/s, {result['updates']} updates; "
          + ", ".join(f"{part} {100 * result[part] / wall:.1f}%" for part in PARTS)
          + f"; last evaluation {np.mean(result['dense_returns']):.1f}")


if __name__ == "__main__":
    main()
