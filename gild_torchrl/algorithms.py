"""The base algorithms, each declared once: its loss builder, how it explores, its policy delay,
its parameter groups and its config section.

The run, the config checks, the studies and the tests read this table; adding a base algorithm
is one :func:`register_algorithm` call (and its defaults in the recipes' YAML, see CONTRIBUTING.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torchrl.objectives import LossModule

from gild_torchrl.modules.models import make_ddpg_loss, make_sac_loss, make_td3_loss
from gild_torchrl.registry import Registry


def actor_and_critic_groups(base: LossModule) -> dict[str, list[torch.nn.Parameter]]:
    """The actor's trainable parameters, and every other parameter but SAC's temperature."""
    actor = [p for p in base.actor_network_params.values(True, True) if p.requires_grad]
    actor_ids = {id(p) for p in actor}
    critic = [p for name, p in base.named_parameters() if id(p) not in actor_ids and name != "log_alpha"]
    groups = {"actor": actor, "critic": critic}
    log_alpha = getattr(base, "log_alpha", None)
    if isinstance(log_alpha, torch.nn.Parameter):  # SAC with a tuned temperature
        groups["alpha"] = [log_alpha]
    return groups


@dataclass(frozen=True)
class Algorithm:
    """One base algorithm as the run sees it."""

    name: str
    #: ``(observation_dim, action_spec, **options) -> LossModule``: TorchRL's loss over the paper's networks.
    make_loss: Callable[..., LossModule] | None
    #: ``cfg -> options`` for ``make_loss`` from the algorithm's config section (``td3:``, ``sac:``).
    options: Callable[[Any], Mapping[str, Any]] = field(default=lambda cfg: {})
    #: ``cfg -> critic updates per actor update``.
    policy_delay: Callable[[Any], int] = field(default=lambda cfg: 1)
    #: True: the actor samples its own exploration (SAC); False: Gaussian noise is added to its action.
    stochastic_actor: bool = False
    #: ``base loss -> {group name: parameters}``: one optimiser each.
    parameter_groups: Callable[[LossModule], dict[str, list[torch.nn.Parameter]]] = actor_and_critic_groups
    #: ``"module:function"`` of a run of its own (an on-policy one); None: the off-policy loop of
    #: :mod:`gild_torchrl.training.loop` with a TorchRL loss from ``make_loss``.
    trainer: str | None = None
    #: The objectives it runs with; None: every registered (off-policy) objective.
    objectives: tuple[str, ...] | None = None

    @property
    def off_policy(self) -> bool:
        return self.trainer is None


ALGORITHMS: Registry[Algorithm] = Registry("algorithm")
#: Add (or replace) a base algorithm under ``algorithm.name``.
register_algorithm = ALGORITHMS.register
get_algorithm = ALGORITHMS.lookup


def make_base_loss(algorithm: str, observation_dim: int, action_spec, *, gamma: float = 0.99, **options: Any) -> LossModule:
    """TorchRL's own loss for ``algorithm`` (a name of :data:`ALGORITHMS`) over the paper's networks,
    with its value estimator set. ``options``: the builder's (``num_cells``, ``policy_noise``,
    ``noise_clip``, ``alpha_init``, ``fixed_alpha``, ``deactivate_vmap``)."""
    loss = get_algorithm(algorithm).make_loss(observation_dim, action_spec, **options)
    loss.make_value_estimator(gamma=gamma)
    return loss


#: SAC's temperature is fixed at 0.2 on Hopper and HalfCheetah, tuned on Walker2d and Ant (spec).
SAC_TUNED_ALPHA_TASKS = ("Walker2d-v5", "Ant-v5")


def _sac_options(cfg) -> dict[str, Any]:
    from gild_torchrl.envs.sparse import base_task_id

    fixed = cfg.sac.fixed_alpha
    if fixed is None:
        fixed = base_task_id(cfg.env.name) not in SAC_TUNED_ALPHA_TASKS
    return {"alpha_init": cfg.sac.alpha_init, "fixed_alpha": bool(fixed)}


register_algorithm(Algorithm("ddpg", make_ddpg_loss))
register_algorithm(Algorithm(
    "td3", make_td3_loss,
    options=lambda cfg: {"policy_noise": cfg.td3.policy_noise, "noise_clip": cfg.td3.noise_clip},
    policy_delay=lambda cfg: int(cfg.td3.policy_delay),
))
register_algorithm(Algorithm("sac", make_sac_loss, options=_sac_options, stochastic_actor=True))
# TRPO, on-policy: the control of LOGO (objective rl) and LOGO itself (objective logo), in a run of its own
register_algorithm(Algorithm("trpo", None, stochastic_actor=True, trainer="gild_torchrl.training.on_policy:train",
                             objectives=("rl", "logo")))
