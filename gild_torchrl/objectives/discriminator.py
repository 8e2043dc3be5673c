"""A discriminator between demonstrated and policy state-action pairs (as in GAIL), and the
guidance reward LOGO derives from it.

``D(s, a)`` is the probability that a pair comes from the demonstrations. Trained by logistic
regression (demonstrations labelled 1, the policy's own pairs 0), its logit estimates
``log d_demo(s, a) - log d_policy(s, a)``; the guidance reward ``-log(1 - D(s, a))`` is large where the
policy acts like the demonstrator, so a policy step on it moves the policy's state-action
distribution towards the demonstrations', LOGO's practical stand-in for the KL to the behaviour policy.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F
from torchrl.modules import MLP


class Discriminator(nn.Module):
    """``logit D(s, a)`` from an MLP on the concatenated state and action."""

    def __init__(self, observation_dim: int, action_dim: int, num_cells: Sequence[int] = (64, 64)) -> None:
        super().__init__()
        self.net = MLP(observation_dim + action_dim, 1, num_cells=list(num_cells), activation_class=nn.Tanh)

    def forward(self, observation: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([observation, action], -1)).squeeze(-1)

    def loss(self, demo_observation: torch.Tensor, demo_action: torch.Tensor, observation: torch.Tensor,
             action: torch.Tensor) -> torch.Tensor:
        """Binary cross-entropy: demonstrated pairs are 1, the policy's pairs 0."""
        demo, policy = self(demo_observation, demo_action), self(observation, action)
        return (F.binary_cross_entropy_with_logits(demo, torch.ones_like(demo))
                + F.binary_cross_entropy_with_logits(policy, torch.zeros_like(policy)))

    @torch.no_grad()
    def guidance_reward(self, observation: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """``-log(1 - D(s, a))`` = softplus(logit): large where the pair looks demonstrated."""
        return F.softplus(self(observation, action))
