"""What a training run may ask of an objective, declared in one place.

The run (:mod:`gild_torchrl.training`: the loop, the builders, the update and the loggers) talks
to an objective through these hooks alone, never by its class or by probing its attributes, so a
line of the run names what it needs and a new objective sees what it may provide. Every hook has a
default that does nothing; :class:`~gild_torchrl.objectives.BaseLossWrapper` derives the batches and
the schedule's diagnostics from its own declarations (``uses_demonstrations``, ``uses_validation``,
the warm start), and the meta-learning objectives add their optimiser, their start at the first
reward and their per-update diagnostics. ``tests/test_registries.py``'s toy objective uses every hook.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from tensordict import TensorDictBase


@dataclass(frozen=True)
class NextBatches:
    """The batches the next update reads besides the replay batch."""

    #: A demonstration batch (``demos.batch_size`` pairs).
    demo: bool = False
    #: Validation states for a meta-objective (``loss.validation_batch`` says which).
    validation: bool = False

    @property
    def any(self) -> bool:
        return self.demo or self.validation


class ObjectiveHooks:
    """The run's side of an objective: which batches, what before training, what at the first reward,
    which extra optimisers, which diagnostics and when. Override what applies; the defaults do nothing."""

    def batches_for_next_update(self) -> NextBatches:
        """Which batches the next update reads: the run samples only those (sampling costs time)."""
        return NextBatches()

    def prepare(self, demonstrations: Any) -> None:
        """Run once before the first update, with the run's demonstrations (None if the objective reads
        none); GILD's fit to behaviour cloning (``loss.gild_init=bc``)."""

    def diagnostics_at_start(self) -> Mapping[str, float]:
        """What :meth:`prepare` measured, logged once at step 0 under ``gild/<name>``."""
        return {}

    def on_first_reward(self) -> None:
        """Called once a rewarded transition is stored (and again at each launch of a resumed run that
        has one): ``meta_start=first_reward`` waits for it."""

    def extra_parameter_groups(self) -> dict[str, list[torch.nn.Parameter]]:
        """``{group name: parameters}`` the objective trains beyond the base algorithm's groups; each gets
        the meta network's optimiser (``optim.meta_lr``, ``optim.meta_weight_decay``). The names key
        the optimisers' states in checkpoints."""
        return {}

    @property
    def diagnostics_per_update(self) -> bool:
        """True: the diagnostics are logged at the updates :meth:`update_diagnostics_due` picks, each at its
        own frame; False: the latest of a collection batch's updates, once per batch."""
        return False

    def update_diagnostics_due(self, out: TensorDictBase) -> bool:
        """With :attr:`diagnostics_per_update`: whether the update that returned ``out`` logs its diagnostics now."""
        return False

    def schedule_diagnostics(self) -> Mapping[str, float]:
        """Where the objective's schedule stands, logged once per batch under ``gild/<name>``."""
        return {}

    def trained_actor(self, out: TensorDictBase) -> bool:
        """Whether the update that returned ``out`` trained the actor (its target networks then follow)."""
        return "loss_actor" in out.keys()
