"""Evaluation: deterministic episodes on the dense task."""

from __future__ import annotations

from typing import Any

import torch
from torchrl.envs import EnvBase, ExplorationType, set_exploration_type


@torch.no_grad()
def evaluate(policy: Any, env: EnvBase, episodes: int = 10, max_steps: int = 1000) -> dict[str, Any]:
    """Run ``episodes`` episodes with the deterministic policy and average their returns.

    Returns ``{"dense_return", "sparse_return", "return", "length", "x_final"}`` means, plus
    ``"dense_returns"`` (the per-episode list). ``return`` is the env's own reward (dense for an
    evaluation env). Works for single envs and for batched ones (PointNav).
    """
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
    n = len(dense)
    return {
        "dense_return": sum(dense) / n,
        "sparse_return": sum(sparse) / n,
        "return": sum(rets) / n,
        "length": sum(lengths) / n,
        "x_final": sum(xs) / n,
        "dense_returns": dense,
    }
