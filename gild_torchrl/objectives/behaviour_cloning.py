"""Behaviour cloning on demonstration batches: the IL term of RL+IL and of GILD's pseudo-actor."""

from __future__ import annotations

import torch
from torch import distributions as D


def clamp_inside(action: torch.Tensor, low: torch.Tensor, high: torch.Tensor, margin: float) -> torch.Tensor:
    """Clamp ``action`` strictly inside ``[low, high]``: a Tanh policy gives the bounds zero density."""
    inset = margin * (high - low) / 2
    return torch.maximum(torch.minimum(action, high - inset), low + inset)


def behaviour_cloning_loss(
    policy_action: torch.Tensor,
    distribution: D.Distribution | None,
    demo_action: torch.Tensor,
    bounds: tuple[torch.Tensor, torch.Tensor] | None = None,
    margin: float = 1e-3,
) -> torch.Tensor:
    """L_IL: MSE(pi(s_d), a_d) for a deterministic actor, -log pi(a_d | s_d) for a stochastic one."""
    if distribution is None:
        return torch.nn.functional.mse_loss(policy_action, demo_action)
    if bounds is not None:
        demo_action = clamp_inside(demo_action, bounds[0], bounds[1], margin)
    return -distribution.log_prob(demo_action).mean()


def demonstration_metrics(
    policy_action: torch.Tensor,
    distribution: D.Distribution | None,
    demo_action: torch.Tensor,
    bc_loss: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Detached distance between the actor and the demonstrator on the demo batch.

    ``demo_action_mse`` uses the actor's deterministic action (the mode of a stochastic
    policy), so that it reads the same for DDPG, TD3 and SAC; for SAC, ``bc_loss`` is the
    negative log-likelihood of the demonstrated actions.
    """
    with torch.no_grad():
        action = policy_action if distribution is None else distribution.deterministic_sample
        return {
            "bc_loss": bc_loss.detach(),
            "demo_action_mse": torch.nn.functional.mse_loss(action, demo_action),
        }
