"""The objectives by name, each declared once: its loss class, how the run builds it from the
``loss:`` config section and its default warm start. What the run asks of a built one (batches,
preparation, optimisers, diagnostics) is its loss class's side of :mod:`~gild_torchrl.objectives.interface`.

Whether an objective reads demonstrations or validation states, and whether it meta-learns, is
read from its loss class (``uses_demonstrations``, ``uses_validation``, a
:class:`~gild_torchrl.objectives.MetaLookaheadLoss`), so it is said in one place. The run, the
config checks, the studies and the tests read this table; adding an objective is one
:func:`register_objective` call (CONTRIBUTING.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torchrl.objectives import LossModule

from gild_torchrl.objectives.common import BaseLossWrapper
from gild_torchrl.objectives.gild import GILDLoss
from gild_torchrl.objectives.il import ILLoss
from gild_torchrl.objectives.lookahead import MetaLookaheadLoss
from gild_torchrl.objectives.meta_critic import MetaCriticLoss
from gild_torchrl.registry import Registry


@dataclass(frozen=True)
class ObjectiveInputs:
    """What an objective's builder gets: the base loss, the task's sizes, the schedule, its options."""

    base_loss: LossModule
    observation_dim: int
    action_dim: int
    #: ``warm_start`` (resolved: actor updates, a fraction or None), ``total_updates``, ``policy_delay``.
    schedule: Mapping[str, Any]
    #: The ``loss:`` config section (``bc_coeff``, ``lookahead_lr``, ``gild_init``, ...).
    options: Mapping[str, Any]


@dataclass(frozen=True)
class Objective:
    """One objective as the run sees it."""

    name: str
    loss_class: type[BaseLossWrapper]
    #: ``ObjectiveInputs -> loss module``.
    make: Callable[[ObjectiveInputs], BaseLossWrapper]
    #: ``loss.warm_start=auto``: actor updates (int), a fraction of the run (float) or None (the whole run).
    default_warm_start: int | float | None = None

    @property
    def uses_demonstrations(self) -> bool:
        return bool(self.loss_class.uses_demonstrations)

    @property
    def uses_validation(self) -> bool:
        return bool(self.loss_class.uses_validation)

    @property
    def meta_learned(self) -> bool:
        return issubclass(self.loss_class, MetaLookaheadLoss)


OBJECTIVES: Registry[Objective] = Registry("loss.objective")
#: Add (or replace) an objective under ``objective.name``.
register_objective = OBJECTIVES.register
get_objective = OBJECTIVES.lookup


def _meta_options(inputs: ObjectiveInputs) -> dict[str, Any]:
    o = inputs.options
    return {"observation_dim": inputs.observation_dim, "action_dim": inputs.action_dim,
            "lookahead_lr": o["lookahead_lr"], "meta_objective": o["meta_objective"], "meta_start": o["meta_start"],
            "diagnostics_interval": o["diagnostics_interval"], **inputs.schedule}


register_objective(Objective(
    "gild", GILDLoss,
    lambda i: GILDLoss(i.base_loss, init=i.options["gild_init"], bc_fit_steps=i.options["bc_fit_steps"],
                       **_meta_options(i)),
    default_warm_start=0.01,  # the paper: GILD for 1% of training, plain RL afterwards
))
register_objective(Objective(
    "il", ILLoss,
    lambda i: ILLoss(i.base_loss, bc_coeff=i.options["bc_coeff"], **i.schedule),
))
register_objective(Objective(
    "meta_critic", MetaCriticLoss,
    lambda i: MetaCriticLoss(i.base_loss, **_meta_options(i)),
))
register_objective(Objective(
    "rl", BaseLossWrapper,
    lambda i: BaseLossWrapper(i.base_loss, policy_delay=i.schedule["policy_delay"]),
))
