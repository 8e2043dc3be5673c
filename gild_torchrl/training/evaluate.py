"""Evaluation: deterministic episodes on the dense task."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from tensordict import TensorDict
from torchrl.envs import EnvBase, ExplorationType, TransformedEnv, set_exploration_type


@torch.no_grad()
def evaluate(policy: Any, env: EnvBase | Sequence[EnvBase], episodes: int = 10, max_steps: int = 1000) -> dict[str, Any]:
    """Run ``episodes`` episodes with the deterministic policy and average their returns.

    ``env`` is one env, whose episodes run one after another (a batched one, PointNav, runs its
    sub-envs together), or a list of ``episodes`` Gymnasium-backed envs of :func:`make_env`, one
    per episode, stepped together: one policy call per step over the episodes still running,
    each env stepped through its Gymnasium core (the TorchRL env's per-step work is most of an
    evaluation step otherwise). Each episode is the one its env would give alone.

    Returns ``{"dense_return", "sparse_return", "return", "length", "x_final"}`` means, plus
    ``"dense_returns"`` (the per-episode list). ``return`` is the env's own reward (dense for an
    evaluation env).
    """
    if isinstance(env, EnvBase):
        columns = _one_after_another(policy, env, episodes, max_steps)
    elif len(env) == 1:
        columns = _one_after_another(policy, env[0], episodes, max_steps)
    elif len(env) == episodes:
        columns = _together(policy, list(env), max_steps)
    else:
        raise ValueError(f"evaluate: got {len(env)} envs for episodes={episodes}; expected one env or one per episode.")
    dense, sparse, rets, lengths, xs = columns
    n = len(dense)
    return {
        "dense_return": sum(dense) / n,
        "sparse_return": sum(sparse) / n,
        "return": sum(rets) / n,
        "length": sum(lengths) / n,
        "x_final": sum(xs) / n,
        "dense_returns": dense,
    }


def _one_after_another(policy: Any, env: EnvBase, episodes: int, max_steps: int) -> tuple[list, ...]:
    dense, sparse, rets, lengths, xs = [], [], [], [], []
    with set_exploration_type(ExplorationType.DETERMINISTIC):
        while len(dense) < episodes:
            # A single env stops at its episode's end; a batched one runs on and each sub-env's
            # first episode is read.
            single = env.batch_size == torch.Size([])
            traj = env.rollout(max_steps, policy, break_when_any_done=single, auto_cast_to_device=True)
            traj = traj.reshape(-1, traj.shape[-1]) if traj.ndim > 1 else traj.unsqueeze(0)
            for ep in traj:
                done = ep.get(("next", "done")).reshape(-1)
                end = int(done.nonzero()[0]) if bool(done.any()) else ep.shape[0] - 1
                nxt = ep.get("next")[end]
                dense.append(float(nxt.get("episode_dense_reward").sum()))
                sparse.append(float(nxt.get("episode_sparse_reward").sum()))
                rets.append(float(nxt.get("episode_reward").sum()))
                lengths.append(end + 1)
                xs.append(float(nxt.get("x_position").sum()))
                if len(dense) >= episodes:
                    break
    return dense, sparse, rets, lengths, xs


def gymnasium_core(env: EnvBase):
    """The Gymnasium env inside a TorchRL env of :func:`make_env` (under its transforms)."""
    while isinstance(env, TransformedEnv):
        env = env.base_env
    core = getattr(env, "_env", None)
    if core is None or not hasattr(core, "step"):
        raise ValueError(f"evaluate: {type(env).__name__} is not a Gymnasium-backed env; evaluate its episodes one "
                         f"after another (pass the env itself).")
    return core


def _together(policy: Any, envs: list[EnvBase], max_steps: int) -> tuple[list, ...]:
    """One episode per env, stepped together. The sums are float32 running sums, as the env's
    ``EpisodeInfo`` keeps them, so the returns are the ones a TorchRL rollout gives."""
    cores = [gymnasium_core(env) for env in envs]
    n = len(cores)
    observations = [torch.as_tensor(core.reset()[0]) for core in cores]
    sums = np.zeros((3, n), dtype=np.float32)  # reward, dense reward, sparse reward
    lengths, xs = [0] * n, [0.0] * n
    running = list(range(n))
    with set_exploration_type(ExplorationType.DETERMINISTIC):
        while running:
            batch = torch.stack([observations[i] for i in running]).to(torch.float32)  # the env's float32 observations
            actions = policy(TensorDict({"observation": batch}, batch_size=[len(running)])).get("action")
            still = []
            for i, action in zip(running, actions.numpy()):
                observation, reward, terminated, truncated, info = cores[i].step(action)
                step = np.array([reward, info["dense_reward"], info["sparse_reward"]]).astype(np.float32)
                sums[:, i] += step
                lengths[i] += 1
                xs[i] = float(np.float32(info["x_position"]))  # the env's float32 entry
                observations[i] = torch.as_tensor(observation)
                if not (terminated or truncated or lengths[i] >= max_steps):
                    still.append(i)
            running = still
    return sums[1].tolist(), sums[2].tolist(), sums[0].tolist(), lengths, xs
