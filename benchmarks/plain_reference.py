"""DDPG, TD3 and SAC updates written directly in PyTorch: the floor the project's updates are measured against.

No TensorDict, no TorchRL: ``nn.Sequential`` networks, Adam, ``torch._foreach_lerp_`` for the
target networks. Each update computes every loss from the parameters as they are at its start,
gives each network only its own loss's gradient and then steps every optimizer, as the project's
update does, so that the two can also be compared number for number (``tests/test_reference.py``):
from the same weights, batches and random draws they must end at the same parameters.

The random draws are made in the order TorchRL's losses make them: TD3 draws its target-smoothing
noise with ``randn_like(action)``; SAC samples the next action (critic target) before the
actor's action, each as ``Normal(loc, scale).rsample()``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
from torch import nn


def _adam(params, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, fused=True)  # the fastest Adam PyTorch has on a CPU


def mlp(in_features: int, out_features: int, hidden: Sequence[int]) -> nn.Sequential:
    layers, width = [], in_features
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


class PlainUpdate:
    """What the three algorithms share: Adam per network group, soft target updates, the update counter."""

    def __init__(self, gamma: float = 0.99, tau: float = 0.005, lr: float = 3e-4) -> None:
        self.gamma, self.tau, self.lr = gamma, tau, lr
        self.num_updates = 0

    def _finish(self, networks: Sequence[nn.Module], targets: Sequence[nn.Module]) -> None:
        sources = [p.detach() for net in networks for p in net.parameters()]
        torch._foreach_lerp_([p.detach() for net in targets for p in net.parameters()], sources, self.tau)

    @staticmethod
    def _backward(loss: torch.Tensor, params: list[torch.Tensor]) -> None:
        """Only ``params``' gradient (the actor's loss also runs through the critic, which it must not train)."""
        for p in params:
            p.grad = None
        grads = torch.autograd.grad(loss, params)
        for p, g in zip(params, grads):
            p.grad = g


class PlainDDPG(PlainUpdate):
    """Deterministic actor and one critic; the actor and both targets updated on every update."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (256, 256), **kwargs) -> None:
        super().__init__(**kwargs)
        self.actor, self.critic = mlp(obs_dim, act_dim, hidden), mlp(obs_dim + act_dim, 1, hidden)
        self.actor_target, self.critic_target = copy.deepcopy(self.actor), copy.deepcopy(self.critic)
        self.actor_optim = _adam(self.actor.parameters(), lr=self.lr)
        self.critic_optim = _adam(self.critic.parameters(), lr=self.lr)

    def update(self, obs, action, reward, next_obs, terminated) -> None:
        with torch.no_grad():
            next_action = torch.tanh(self.actor_target(next_obs))
            next_q = self.critic_target(torch.cat([next_obs, next_action], -1))
            target = reward + self.gamma * (~terminated) * next_q
        critic_loss = (self.critic(torch.cat([obs, action], -1)) - target).pow(2).mean()
        actor_loss = -self.critic(torch.cat([obs, torch.tanh(self.actor(obs))], -1)).mean()
        self._backward(critic_loss, list(self.critic.parameters()))
        self._backward(actor_loss, list(self.actor.parameters()))
        self.critic_optim.step()
        self.actor_optim.step()
        self._finish([self.actor, self.critic], [self.actor_target, self.critic_target])
        self.num_updates += 1


class PlainTD3(PlainUpdate):
    """Twin critics, target policy smoothing, the actor and the targets on every ``policy_delay``-th update."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (256, 256), policy_noise: float = 0.2,
                 noise_clip: float = 0.5, policy_delay: int = 2, **kwargs) -> None:
        super().__init__(**kwargs)
        self.policy_noise, self.noise_clip, self.policy_delay = policy_noise, noise_clip, policy_delay
        self.actor = mlp(obs_dim, act_dim, hidden)
        self.critics = nn.ModuleList([mlp(obs_dim + act_dim, 1, hidden) for _ in range(2)])
        self.actor_target, self.critics_target = copy.deepcopy(self.actor), copy.deepcopy(self.critics)
        self.actor_optim = _adam(self.actor.parameters(), lr=self.lr)
        self.critic_optim = _adam(self.critics.parameters(), lr=self.lr)

    def update(self, obs, action, reward, next_obs, terminated) -> None:
        trains_actor = self.num_updates % self.policy_delay == 0
        if trains_actor:  # -Q1(s, pi(s)) with the critic as it is before its own step
            actor_loss = -self.critics[0](torch.cat([obs, torch.tanh(self.actor(obs))], -1)).mean()
        noise = (torch.randn_like(action) * self.policy_noise).clamp(-self.noise_clip, self.noise_clip)
        with torch.no_grad():
            next_action = (torch.tanh(self.actor_target(next_obs)) + noise).clamp(-1.0, 1.0)
            next_input = torch.cat([next_obs, next_action], -1)
            next_q = torch.minimum(*(critic(next_input) for critic in self.critics_target))
            target = reward + self.gamma * (~terminated) * next_q
        sa = torch.cat([obs, action], -1)
        critic_loss = sum((critic(sa) - target).pow(2).mean() for critic in self.critics)
        self._backward(critic_loss, list(self.critics.parameters()))
        if trains_actor:
            self._backward(actor_loss, list(self.actor.parameters()))
            self.actor_optim.step()
        self.critic_optim.step()
        if trains_actor:
            self._finish([self.actor, self.critics], [self.actor_target, self.critics_target])
        self.num_updates += 1


class PlainSAC(PlainUpdate):
    """Tanh-Gaussian actor, twin critics, a fixed or tuned temperature (target entropy -act_dim)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (256, 256), alpha_init: float = 0.2,
                 tune_alpha: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.actor = mlp(obs_dim, 2 * act_dim, hidden)
        self.critics = nn.ModuleList([mlp(obs_dim + act_dim, 1, hidden) for _ in range(2)])
        self.critics_target = copy.deepcopy(self.critics)
        self.log_alpha = torch.tensor(math.log(alpha_init), requires_grad=tune_alpha)
        self.target_entropy = -float(act_dim)
        self.actor_optim = _adam(self.actor.parameters(), lr=self.lr)
        self.critic_optim = _adam(self.critics.parameters(), lr=self.lr)
        self.alpha_optim = _adam([self.log_alpha], lr=self.lr) if tune_alpha else None
        # softplus(0 + shift) + 0.01 = 1: TorchRL's NormalParamExtractor computes the shift in float32
        self.scale_shift = float(torch.tensor(1.0 - 0.01, dtype=torch.float32).expm1().log())

    def sample(self, obs) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised tanh-Gaussian action and its log-density."""
        loc, raw = self.actor(obs).chunk(2, -1)
        scale = (nn.functional.softplus(raw + self.scale_shift) + 0.01).clamp_min(1e-4)
        normal = torch.distributions.Normal(loc, scale)
        u = normal.rsample()
        log_det = 2 * (math.log(2.0) - u - nn.functional.softplus(-2 * u))  # log(1 - tanh(u)^2)
        return torch.tanh(u), normal.log_prob(u).sum(-1, keepdim=True) - log_det.sum(-1, keepdim=True)

    def update(self, obs, action, reward, next_obs, terminated) -> None:
        alpha = self.log_alpha.detach().exp()
        with torch.no_grad():
            next_action, next_log_prob = self.sample(next_obs)
            next_input = torch.cat([next_obs, next_action], -1)
            next_value = torch.minimum(*(critic(next_input) - alpha * next_log_prob for critic in self.critics_target))
            target = reward + self.gamma * (~terminated) * next_value
        sa = torch.cat([obs, action], -1)
        critic_loss = sum((critic(sa) - target).pow(2).mean() for critic in self.critics)
        new_action, log_prob = self.sample(obs)
        new_sa = torch.cat([obs, new_action], -1)
        min_q = torch.minimum(*(critic(new_sa) for critic in self.critics))
        actor_loss = (alpha * log_prob - min_q).mean()
        self._backward(critic_loss, list(self.critics.parameters()))
        self._backward(actor_loss, list(self.actor.parameters()))
        if self.alpha_optim is not None:
            alpha_loss = (-self.log_alpha * (log_prob.detach() + self.target_entropy)).mean()
            self._backward(alpha_loss, [self.log_alpha])
            self.alpha_optim.step()
        self.critic_optim.step()
        self.actor_optim.step()
        self._finish([self.critics], [self.critics_target])
        self.num_updates += 1


PLAIN = {"ddpg": PlainDDPG, "td3": PlainTD3, "sac": PlainSAC}
