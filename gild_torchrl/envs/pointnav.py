"""PointNav: a cheap batched 2D sparse-reward navigation task, and a detouring demonstrator.

The paper suggests point navigation as the sanity check for learning from sub-optimal
demonstrations: the reward comes only on arrival, so uniform exploration rarely finds it, while a
demonstrator that reaches the goal by a detour shows where the reward is without showing the best
path. Everything is plain torch, batched over ``batch_size``.

Task (defaults):
  * start uniformly in ``[-start_noise, start_noise]^2`` around the origin, goal at ``(1, 0)``
    (``goal_angle_range > 0`` draws the goal's angle uniformly in ``[-range, range]`` on the unit
    circle instead);
  * action in ``[-1, 1]^2``, the point moves by ``step_size * action`` (0.05), clipped to the arena
    ``[-arena, arena]^2``;
  * reward ``1 - t / max_steps`` on the step ``t`` (1-based) that brings the point within
    ``goal_radius`` (0.1) of the goal, 0 otherwise, so an earlier arrival is worth more than a
    detour; the episode terminates on arrival and is truncated after ``max_steps`` (100) steps;
  * observation ``[x, y, goal_x - x, goal_y - y]`` (float32).

Dense counterpart (``("next", "dense_reward")``, what a shaped task would pay):
``dense_reward = (d_{t-1} - d_t) - 0.01``: progress toward the goal minus a time cost, so its
episode sum is ``d_0 - d_T - 0.01 T`` (about 0.72 for a straight path, lower for a detour, about
-1 for a random walk). ``("next", "sparse_reward")`` repeats the arrival reward and
``("next", "x_position")`` is the point's x, as for the MuJoCo tasks.
"""

from __future__ import annotations

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Bounded, Categorical, Composite, Unbounded
from torchrl.envs import EnvBase

__all__ = ["PointNavEnv", "DetourDemonstrator", "random_success_rate"]


class PointNavEnv(EnvBase):
    """Batched 2D point navigation with a reward only on arrival (see the module docstring)."""

    def __init__(
        self,
        batch_size: int | tuple[int, ...] | torch.Size = (),
        max_steps: int = 100,
        step_size: float = 0.05,
        goal_radius: float = 0.1,
        goal_distance: float = 1.0,
        goal_angle_range: float = 0.0,
        start_noise: float = 0.05,
        arena: float = 2.0,
        time_cost: float = 0.01,
        device: torch.device | str = "cpu",
        seed: int | None = None,
    ):
        if isinstance(batch_size, int):
            batch_size = (batch_size,)
        super().__init__(device=device, batch_size=torch.Size(batch_size))
        if max_steps < 1 or step_size <= 0 or goal_radius <= 0:
            raise ValueError(
                f"PointNavEnv: expected max_steps >= 1, step_size > 0 and goal_radius > 0, got "
                f"{max_steps}, {step_size}, {goal_radius}"
            )
        self.max_steps = int(max_steps)
        self.step_size = float(step_size)
        self.goal_radius = float(goal_radius)
        self.goal_distance = float(goal_distance)
        self.goal_angle_range = float(goal_angle_range)
        self.start_noise = float(start_noise)
        self.arena = float(arena)
        self.time_cost = float(time_cost)
        self._make_specs()
        self.rng = torch.Generator(device=self.device)
        self._set_seed(seed)

    def _make_specs(self) -> None:
        bs = self.batch_size
        dev = self.device
        self.observation_spec = Composite(
            observation=Unbounded((*bs, 4), dtype=torch.float32, device=dev),
            goal=Unbounded((*bs, 2), dtype=torch.float32, device=dev),
            t=Unbounded((*bs, 1), dtype=torch.int64, device=dev),
            dense_reward=Unbounded(bs, dtype=torch.float32, device=dev),
            sparse_reward=Unbounded(bs, dtype=torch.float32, device=dev),
            x_position=Unbounded(bs, dtype=torch.float32, device=dev),
            shape=bs,
            device=dev,
        )
        self.action_spec = Bounded(-1.0, 1.0, (*bs, 2), dtype=torch.float32, device=dev)
        self.reward_spec = Unbounded((*bs, 1), dtype=torch.float32, device=dev)
        self.full_done_spec = Composite(
            done=Categorical(2, (*bs, 1), dtype=torch.bool, device=dev),
            terminated=Categorical(2, (*bs, 1), dtype=torch.bool, device=dev),
            truncated=Categorical(2, (*bs, 1), dtype=torch.bool, device=dev),
            shape=bs,
            device=dev,
        )

    def _set_seed(self, seed: int | None) -> None:
        if seed is None:
            seed = int(torch.empty((), dtype=torch.int64).random_().item())
        self.rng.manual_seed(int(seed))

    def _rand(self, *shape: int) -> torch.Tensor:
        return torch.rand(*self.batch_size, *shape, generator=self.rng, device=self.device)

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs) -> TensorDictBase:
        bs = self.batch_size
        pos = (self._rand(2) * 2 - 1) * self.start_noise
        angle = (self._rand(1) * 2 - 1) * self.goal_angle_range
        goal = torch.cat([angle.cos(), angle.sin()], -1) * self.goal_distance
        t = torch.zeros(*bs, 1, dtype=torch.int64, device=self.device)
        if tensordict is not None and "_reset" in tensordict.keys() and "observation" in tensordict.keys():
            # Partial reset of a batch: keep the state of the sub-envs that are not reset.
            mask = tensordict.get("_reset").reshape(*bs, 1)
            pos = torch.where(mask, pos, tensordict.get("observation")[..., :2])
            goal = torch.where(mask, goal, tensordict.get("goal"))
            t = torch.where(mask, t, tensordict.get("t"))
        false = torch.zeros(*bs, 1, dtype=torch.bool, device=self.device)
        return TensorDict(
            {
                "observation": torch.cat([pos, goal - pos], -1),
                "goal": goal,
                "t": t,
                "dense_reward": torch.zeros(bs, device=self.device),
                "sparse_reward": torch.zeros(bs, device=self.device),
                "x_position": pos[..., 0].clone(),
                "done": false,
                "terminated": false.clone(),
                "truncated": false.clone(),
            },
            batch_size=bs,
            device=self.device,
        )

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        obs = tensordict.get("observation")
        goal = tensordict.get("goal")
        pos = obs[..., :2]
        action = tensordict.get("action").clamp(-1.0, 1.0)
        new_pos = (pos + self.step_size * action).clamp(-self.arena, self.arena)
        t = tensordict.get("t") + 1
        d_old = (goal - pos).norm(dim=-1)
        d_new = (goal - new_pos).norm(dim=-1)
        arrived = (d_new <= self.goal_radius).unsqueeze(-1)
        reward = torch.where(arrived, 1.0 - t.to(torch.float32) / self.max_steps, torch.zeros_like(d_new).unsqueeze(-1))
        truncated = (t >= self.max_steps) & ~arrived
        return TensorDict(
            {
                "observation": torch.cat([new_pos, goal - new_pos], -1),
                "goal": goal,
                "t": t,
                "dense_reward": d_old - d_new - self.time_cost,
                "sparse_reward": reward.squeeze(-1).clone(),
                "x_position": new_pos[..., 0].clone(),
                "reward": reward,
                "done": arrived | truncated,
                "terminated": arrived,
                "truncated": truncated,
            },
            batch_size=self.batch_size,
            device=self.device,
        )


class DetourDemonstrator:
    """A scripted sub-optimal PointNav policy: via a waypoint off the straight line, with noise.

    Stateless (it reads the phase from the observation): while the point is short of the waypoint
    along the goal direction it heads for the waypoint (by default at lateral offset 0.6 halfway to
    the goal, a path about 1.6 long instead of 0.9), then for the goal, at full speed plus Gaussian
    noise of std ``noise`` (clipped to the action bounds). It arrives in about 30 steps where the
    straight line takes about 18, so its rewards are about 0.7 where 0.82 is possible.
    """

    def __init__(self, waypoint_fraction: float = 0.5, lateral_offset: float = 0.6, noise: float = 0.3,
                 generator: torch.Generator | None = None):
        self.waypoint_fraction = waypoint_fraction
        self.lateral_offset = lateral_offset
        self.noise = noise
        self.generator = generator

    def __call__(self, tensordict: TensorDictBase) -> TensorDictBase:
        obs = tensordict.get("observation")
        goal = tensordict.get("goal")
        pos = obs[..., :2]
        u = goal / goal.norm(dim=-1, keepdim=True).clamp_min(1e-8)  # goal direction
        n = torch.stack([-u[..., 1], u[..., 0]], -1)  # its left normal
        waypoint = goal * self.waypoint_fraction + n * self.lateral_offset
        progress = (pos * u).sum(-1, keepdim=True)
        before = progress < (goal * u).sum(-1, keepdim=True) * self.waypoint_fraction - 0.05
        target = torch.where(before, waypoint, goal)
        direction = target - pos
        action = direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-8)
        if self.noise > 0:
            action = action + self.noise * torch.randn(action.shape, generator=self.generator, device=action.device)
        tensordict.set("action", action.clamp(-1.0, 1.0))
        return tensordict


@torch.no_grad()
def random_success_rate(num_episodes: int = 10000, seed: int = 0, **env_kwargs) -> float:
    """Fraction of episodes in which uniform random actions reach the goal (a batched measurement)."""
    env = PointNavEnv(batch_size=(num_episodes,), seed=seed, **env_kwargs)
    gen = torch.Generator().manual_seed(seed + 1)
    td = env.reset()
    reached = torch.zeros(num_episodes, dtype=torch.bool)
    finished = torch.zeros(num_episodes, dtype=torch.bool)
    for _ in range(env.max_steps):
        td.set("action", torch.rand(num_episodes, 2, generator=gen) * 2 - 1)
        td = env.step(td)
        nxt = td.get("next")
        reached |= nxt.get("terminated").squeeze(-1) & ~finished
        finished |= nxt.get("done").squeeze(-1)
        td = nxt.exclude("reward", "done", "terminated", "truncated")
        if bool(finished.all()):
            break
    return float(reached.float().mean())
