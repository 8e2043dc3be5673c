"""Learned, non-negative loss networks: the GILD network and Meta-Critic's auxiliary network."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchrl.modules import MLP


class LearnedLossNetwork(nn.Module):
    """``softplus(MLP(cat(inputs)))``: one non-negative loss value per row.

    The softplus keeps the learned term a loss (>= 0) whatever omega becomes; its
    value at a zero pre-activation is ``ln 2``, the constant the paper's optimiser
    decays the network to on a sparse task before the first reward (see the spec).
    """

    def __init__(self, in_features: int, num_cells: Sequence[int] = (256, 256)) -> None:
        super().__init__()
        self.in_features = int(in_features)
        self.mlp = MLP(
            in_features=self.in_features,
            out_features=1,
            num_cells=list(num_cells),
            activation_class=nn.ReLU,
        )

    #: What the inputs are, in call order (``"observation"`` or ``"action"``), in a subclass built from the task's sizes.
    layout: tuple[str, ...] = ()

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        x = torch.cat(inputs, dim=-1)
        if x.shape[-1] != self.in_features and self.layout:
            expected = [getattr(self, f"{kind}_dim") for kind in self.layout]
            raise ValueError(
                f"{type(self).__name__} was built for observation_dim={self.observation_dim} and "
                f"action_dim={self.action_dim} (inputs {', '.join(self.layout)} of widths {expected}), but the batch's "
                f"are {[t.shape[-1] for t in inputs]} wide; give the loss the task's observation_dim and action_dim."
            )
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"{type(self).__name__} expects {self.in_features} input features in all, "
                f"got {x.shape[-1]} (inputs of widths {[t.shape[-1] for t in inputs]})."
            )
        return nn.functional.softplus(self.mlp(x)).squeeze(-1)


class GILDNetwork(LearnedLossNetwork):
    """GILD's f_omega, called as ``f(policy_action, demo_observation, demo_action)``.

    Input ``[pi(s_d), s_d, a_d]``: the actor's action on a demonstration state, then
    the demonstrated pair; three layers (two hidden layers of 256 by default).
    """

    def __init__(self, observation_dim: int, action_dim: int, num_cells: Sequence[int] = (256, 256)) -> None:
        super().__init__(2 * action_dim + observation_dim, num_cells)
        self.observation_dim = observation_dim
        self.action_dim = action_dim
        self.layout = ("action", "observation", "action")


class MetaCriticNetwork(LearnedLossNetwork):
    """Meta-Critic's auxiliary loss h_omega, called as ``h(policy_action, observation)`` on replay states."""

    def __init__(self, observation_dim: int, action_dim: int, num_cells: Sequence[int] = (256, 256)) -> None:
        super().__init__(action_dim + observation_dim, num_cells)
        self.observation_dim = observation_dim
        self.action_dim = action_dim
        self.layout = ("action", "observation")
