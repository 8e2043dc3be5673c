"""A behaviour policy fitted to the demonstrations, and the KL divergence of a policy from it.

The paper measures how far SAC+GILD drifts from the demonstrator as a KL divergence to a behaviour
policy. Here the behaviour policy is a Gaussian policy of SAC's own architecture (a TanhNormal over
the action bounds, 256-256 ReLU), fitted once by maximum likelihood on the demonstrated
state-action pairs. Both policies squash a Gaussian with the same ``tanh`` map, and a KL divergence
is unchanged by an invertible map applied to both distributions, so
``KL(pi(.|s) || beta(.|s))`` is the closed-form KL of their pre-``tanh`` Gaussians.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Bounded
from torchrl.modules import ProbabilisticActor, TanhNormal

from gild_torchrl.modules.models import make_stochastic_actor

#: Demonstrated actions are moved this fraction of the half-range inside the bounds before their
#: likelihood is taken (a TanhNormal gives the bounds zero density), as in behaviour cloning.
ACTION_MARGIN = 1e-3


def gaussian_kl(loc_p: torch.Tensor, scale_p: torch.Tensor, loc_q: torch.Tensor, scale_q: torch.Tensor) -> torch.Tensor:
    """KL(N(loc_p, diag scale_p^2) || N(loc_q, diag scale_q^2)), summed over the last (action) dimension."""
    ratio = scale_p / scale_q
    return (torch.log(scale_q / scale_p) + (ratio.pow(2) + ((loc_p - loc_q) / scale_q).pow(2) - 1) / 2).sum(-1)


def tanh_normal_kl(p: TanhNormal, q: TanhNormal) -> torch.Tensor:
    """KL(p || q) per state for two TanhNormals over the same bounds: that of their Gaussians."""
    return gaussian_kl(p.loc, p.scale, q.loc, q.scale)


def fit_behaviour_policy(
    demonstrations: TensorDictBase,
    action_spec: Bounded,
    num_cells: Sequence[int] = (256, 256),
    *,
    steps: int = 2000,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
) -> tuple[ProbabilisticActor, dict[str, float]]:
    """A TanhNormal policy fitted by maximum likelihood to ``demonstrations`` (``observation``, ``action``).

    Its own generator and a forked RNG: fitting leaves the run's random streams where they were.
    Returns the policy (frozen) and the mean negative log-likelihood of every demonstrated action.
    """
    observation = demonstrations.get("observation").to(torch.float32)
    low, high = action_spec.space.low.to(torch.float32), action_spec.space.high.to(torch.float32)
    inset = ACTION_MARGIN * (high - low) / 2
    action = torch.maximum(torch.minimum(demonstrations.get("action").to(torch.float32), high - inset), low + inset)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        policy = make_stochastic_actor(observation.shape[-1], action_spec, num_cells)
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
        for _ in range(int(steps)):
            rows = torch.randint(len(observation), (batch_size,), generator=generator)
            dist = policy.get_dist(TensorDict({"observation": observation[rows]}, [batch_size]))
            loss = -dist.log_prob(action[rows]).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    policy.requires_grad_(False)
    clipped = TensorDict({"observation": observation, "action": action}, [len(observation)])
    return policy, {"behaviour_nll": behaviour_nll(policy, clipped)}


@torch.no_grad()
def behaviour_nll(policy: ProbabilisticActor, demonstrations: TensorDictBase) -> float:
    """Mean negative log-likelihood of the demonstrated actions under ``policy``."""
    return float(-policy.get_dist(demonstrations.select("observation")).log_prob(demonstrations.get("action")).mean())
