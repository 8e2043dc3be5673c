"""LOGO (Rengarajan et al., ICLR 2022): TRPO on the task reward, then a guidance step towards the
demonstrations inside a trust region that shrinks over training.

Each iteration, on one batch of the current policy's transitions:

1. **Policy improvement**: a TRPO step on the (sparse) task reward's GAE advantage, within
   ``KL(pi_k || pi) <= max_kl``; skipped for a batch without a single rewarded transition, whose
   advantage is only the value network's noise (normalised, it would drive a full-size step in a
   random direction every iteration).
2. **Policy guidance** (objective ``logo``): the discriminator is trained to tell demonstrated
   pairs from the batch's, and a second TRPO step, from the improved policy, follows the GAE
   advantage of the guidance reward ``-log(1 - D(s, a))`` within ``KL(pi_improved || pi) <= delta_k``,
   ``delta_k = guidance_kl * guidance_decay ** k``: the guidance fades, so the policy can go beyond
   the demonstrator.
3. Both value networks (task and guidance reward) regress their GAE targets.

The objective ``rl`` skips step 2: TRPO alone, LOGO's control.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from tensordict import TensorDict, TensorDictBase
from torch import nn
from torchrl.data import Bounded
from torchrl.modules import MLP, ValueOperator
from torchrl.objectives.value import GAE

from gild_torchrl.modules.behaviour_policy import gaussian_kl
from gild_torchrl.modules.models import make_stochastic_actor
from gild_torchrl.objectives.behaviour_cloning import clamp_inside
from gild_torchrl.objectives.discriminator import Discriminator
from gild_torchrl.objectives.trpo import TRPOStep, trpo_step

#: Sampled actions are moved this fraction of the half-range inside the bounds before their
#: log-probability is taken (a float32 tanh can round to the bound, where the density is zero).
ACTION_MARGIN = 1e-5


def guidance_radius(guidance_kl: float, guidance_decay: float, iteration: int) -> float:
    """``delta_k``: the guidance step's KL bound at iteration ``k``."""
    return float(guidance_kl) * float(guidance_decay) ** int(iteration)


class LOGO(nn.Module):
    """The policy, the two value networks and the discriminator, and one iteration over a batch."""

    def __init__(
        self,
        observation_dim: int,
        action_spec: Bounded,
        num_cells: Sequence[int] = (64, 64),
        *,
        guided: bool = True,
        gamma: float = 0.99,
        lmbda: float = 0.95,
        max_kl: float = 0.01,
        guidance_kl: float = 0.02,
        guidance_decay: float = 0.95,
        cg_iterations: int = 10,
        damping: float = 0.1,
        value_epochs: int = 5,
        value_batch_size: int = 256,
        discriminator_steps: int = 5,
        discriminator_batch_size: int = 512,
        discriminator_cells: Sequence[int] = (64, 64),
    ) -> None:
        super().__init__()
        self.policy = make_stochastic_actor(observation_dim, action_spec, num_cells)
        self.value = ValueOperator(MLP(observation_dim, 1, num_cells=list(num_cells), activation_class=nn.Tanh),
                                   in_keys=["observation"])
        self.guidance_value = ValueOperator(MLP(observation_dim, 1, num_cells=list(num_cells), activation_class=nn.Tanh),
                                            in_keys=["observation"])
        self.discriminator = Discriminator(observation_dim, action_spec.shape[-1], discriminator_cells)
        self.guided = guided
        self.gamma, self.lmbda = gamma, lmbda
        self.max_kl, self.guidance_kl, self.guidance_decay = max_kl, guidance_kl, guidance_decay
        self.cg_iterations, self.damping = cg_iterations, damping
        self.value_epochs, self.value_batch_size = value_epochs, value_batch_size
        self.discriminator_steps, self.discriminator_batch_size = discriminator_steps, discriminator_batch_size
        self.low = action_spec.space.low.to(torch.float32)
        self.high = action_spec.space.high.to(torch.float32)

    def optimizers(self, value_lr: float, discriminator_lr: float) -> dict[str, torch.optim.Optimizer]:
        """Adam for each value network and the discriminator (the policy moves by TRPO steps)."""
        optimizers = {"value": torch.optim.Adam(self.value.parameters(), lr=value_lr),
                      "guidance_value": torch.optim.Adam(self.guidance_value.parameters(), lr=value_lr)}
        if self.guided:
            optimizers["discriminator"] = torch.optim.Adam(self.discriminator.parameters(), lr=discriminator_lr)
        return optimizers

    def _advantage(self, batch: TensorDictBase, value: ValueOperator, reward: torch.Tensor | None = None) -> TensorDictBase:
        """GAE of the batch (its task reward, or ``reward``) under ``value``; ``advantage`` and ``value_target``."""
        batch = batch.select("observation", ("next", "observation"), ("next", "reward"), ("next", "done"),
                             ("next", "terminated")).clone(False)
        if reward is not None:
            batch.set(("next", "reward"), reward.reshape(batch.get(("next", "reward")).shape))
        with torch.no_grad():
            GAE(gamma=self.gamma, lmbda=self.lmbda, value_network=value)(batch)
        return batch

    def _policy_step(self, observation: TensorDictBase, action: torch.Tensor, old_log_prob: torch.Tensor,
                     advantage: torch.Tensor, reference: tuple[torch.Tensor, torch.Tensor], max_kl: float):
        """A TRPO step on ``mean(ratio * advantage)`` (ratio to the policy that collected the batch)
        within ``KL(reference || pi) <= max_kl``."""
        advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)

        def surrogate():
            dist = self.policy.get_dist(observation)
            return (torch.exp(dist.log_prob(action) - old_log_prob) * advantage).mean()

        def kl():
            dist = self.policy.get_dist(observation)
            return gaussian_kl(reference[0], reference[1], dist.loc, dist.scale).mean()

        return trpo_step(list(self.policy.parameters()), surrogate, kl, max_kl,
                         cg_iterations=self.cg_iterations, damping=self.damping)

    def _fit_value(self, value: ValueOperator, optimizer: torch.optim.Optimizer, batch: TensorDictBase) -> float:
        observation, target = batch.get("observation"), batch.get("value_target")
        n, losses = len(observation), []
        for _ in range(self.value_epochs):
            for rows in torch.randperm(n).split(self.value_batch_size):
                loss = (value.module(observation[rows]) - target[rows]).pow(2).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.detach())
        return float(torch.stack(losses).mean())

    def iteration(self, batch: TensorDictBase, demos: TensorDictBase | None, optimizers: dict[str, torch.optim.Optimizer],
                  iteration: int) -> dict[str, Any]:
        """One LOGO (or TRPO) iteration on a flat batch of transitions; returns its diagnostics."""
        observation = batch.select("observation")
        action = clamp_inside(batch.get("action"), self.low, self.high, ACTION_MARGIN)
        with torch.no_grad():
            old = self.policy.get_dist(observation)
            old_log_prob, old_params = old.log_prob(action), (old.loc.clone(), old.scale.clone())
        task = self._advantage(batch, self.value)
        rewarded = bool((batch.get(("next", "reward")) != 0).any())
        if rewarded:
            improvement = self._policy_step(observation, action, old_log_prob, task.get("advantage").squeeze(-1),
                                            old_params, self.max_kl)
        else:  # no reward in the batch: the advantage is the value network's noise, which normalising would amplify
            improvement = TRPOStep(False, 0.0, 0.0, 0.0, 0.0)
        out = {"loss_value": self._fit_value(self.value, optimizers["value"], task),
               "improvement_accepted": float(improvement.accepted), "improvement_kl": improvement.kl,
               "improvement_step_fraction": improvement.step_fraction, "rewarded_batch": float(rewarded)}
        if not self.guided or demos is None:
            return out
        out["loss_discriminator"] = self._fit_discriminator(batch, demos, optimizers["discriminator"])
        reward = self.discriminator.guidance_reward(observation.get("observation"), action)
        guidance = self._advantage(batch, self.guidance_value, reward)
        with torch.no_grad():
            improved = self.policy.get_dist(observation)
            improved_params = (improved.loc.clone(), improved.scale.clone())
        radius = guidance_radius(self.guidance_kl, self.guidance_decay, iteration)
        step = self._policy_step(observation, action, old_log_prob, guidance.get("advantage").squeeze(-1),
                                 improved_params, radius)
        out.update({"loss_guidance_value": self._fit_value(self.guidance_value, optimizers["guidance_value"], guidance),
                    "guidance_radius": radius, "guidance_accepted": float(step.accepted), "guidance_kl": step.kl,
                    "guidance_reward": float(reward.mean())})
        return out

    def _fit_discriminator(self, batch: TensorDictBase, demos: TensorDictBase, optimizer: torch.optim.Optimizer) -> float:
        losses = []
        for _ in range(self.discriminator_steps):
            rows = torch.randint(len(batch), (min(self.discriminator_batch_size, len(batch)),))
            demo_rows = torch.randint(len(demos), (len(rows),))
            loss = self.discriminator.loss(demos.get("observation")[demo_rows], demos.get("action")[demo_rows],
                                           batch.get("observation")[rows], batch.get("action")[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
        return float(torch.stack(losses).mean())


def demonstration_pairs(demos) -> TensorDict:
    """The demonstrations' ``observation`` and ``action`` as float32 (the discriminator's positives)."""
    return demos.data.select("observation", "action").apply(lambda x: x.to(torch.float32))
