"""What TorchRL's trainers need to run the objectives as the recipes do: an optimisation stepper and a target updater.

TorchRL's ``TD3Trainer`` steps the actor through its own ``TD3OptimizationStepper``, which calls
the loss's ``value_loss`` and ``actor_loss`` (the base loss's, so a wrapper's extra term would be
skipped) and updates the critic before the actor loss is computed; ``SACTrainer`` steps one
optimiser over every parameter, the GILD network's included. :class:`GILDOptimizationStepper`
replaces both with the recipe's update (:func:`gild_torchrl.training.update.update`): ``loss(td)``,
the summed ``loss_*`` entries, one backward, one Adam per parameter group and the meta
network's own Adam. The trainers also move the target networks after every update;
:class:`ActorStepSoftUpdate` moves them only after an update that trained the actor (TD3's
delayed targets, as the recipes do).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.trainers.trainers import OptimizationStepper

from gild_torchrl.algorithms import actor_and_critic_groups
from gild_torchrl.objectives import BaseLossWrapper, ForeachSoftUpdate
from gild_torchrl.optim import make_adam, make_meta_optimizer
from gild_torchrl.training.update import update


class _NoTargetUpdate:
    """The trainer's own hook moves the targets after the step (see :class:`ActorStepSoftUpdate`)."""

    def step(self) -> None:
        pass


class GILDOptimizationStepper(OptimizationStepper):
    """One update of a :class:`~gild_torchrl.objectives.BaseLossWrapper` inside a TorchRL trainer, as the recipes run it.

    Pass it as ``optimization_stepper`` (``TD3Trainer``, ``DDPGTrainer``-like configs that have
    the field) or list it in the trainer's ``hooks`` (``SACTrainer``, which has no such field:
    registering installs it as the trainer's stepper). On registration it builds Adam(``lr``)
    for each of the base loss's parameter groups (actor, critic, SAC's tuned temperature) and
    Adam(``meta_lr``) with ``meta_weight_decay`` for the GILD or Meta-Critic network, so the
    trainer's own ``optimizer`` is not used. It also gives a loss with
    ``validation_source="replay_buffer"`` the trainer's replay buffer, starts meta-learning at the
    first rewarded transition for ``meta_start="first_reward"``, and logs the objective's
    diagnostics under ``gild/`` after each guided update (a ``post_optim_log`` hook).

    A group whose gradient is not finite is not stepped that update (the recipe's guard); the
    counts are in :attr:`skipped` and in the stepper's ``state_dict``. The policy delay is the
    loss's own (``policy_delay`` of the loss config), not the trainer's ``policy_update_delay``.
    """

    updates_replay_priority = True

    def __init__(
        self,
        lr: float = 3e-4,
        meta_lr: float = 1e-4,
        meta_weight_decay: float = 1e-4,
        meta_weight_decay_kind: Literal["coupled", "decoupled", "none"] = "coupled",
        log_diagnostics: bool = True,
    ) -> None:
        self.lr = float(lr)
        self.meta_lr = float(meta_lr)
        self.meta_weight_decay = float(meta_weight_decay)
        self.meta_weight_decay_kind = meta_weight_decay_kind
        self.log_diagnostics = bool(log_diagnostics)
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.skipped: Counter = Counter()
        self._diagnostics: dict[str, float] | None = None
        self._registered_to = None
        self._rewarded = False  # the loss was told of the first reward

    def register(self, trainer, name: str = "optimization_stepper") -> None:
        if self._registered_to is trainer:
            return
        loss = trainer.loss_module
        if not isinstance(loss, BaseLossWrapper):
            raise TypeError(f"GILDOptimizationStepper steps a gild_torchrl loss (loss=gild, il or meta_critic); "
                            f"the trainer's loss_module is a {type(loss).__name__}.")
        self.optimizers = self.make_optimizers(loss)
        super().register(trainer, name)
        self._registered_to = trainer
        if trainer.optimization_stepper is None:  # listed in SACTrainer's hooks: the loop calls the stepper
            trainer.optimization_stepper = self
        trainer.register_op("pre_epoch", self._first_reward)
        if self.log_diagnostics and loss.has_guide:
            trainer.register_op("post_optim_log", self._latest_diagnostics)

    def make_optimizers(self, loss: BaseLossWrapper) -> dict[str, torch.optim.Optimizer]:
        """The recipe's optimisers (:func:`gild_torchrl.training.build.make_optimizers`) from this stepper's options."""
        optimizers = {name: make_adam(params, lr=self.lr) for name, params in actor_and_critic_groups(loss.base_loss).items()}
        for name, params in loss.extra_parameter_groups().items():
            optimizers[name] = make_meta_optimizer(params, lr=self.meta_lr, weight_decay=self.meta_weight_decay,
                                                   decay=self.meta_weight_decay_kind)
        return optimizers

    def step(self, trainer, sub_batch: TensorDictBase) -> TensorDictBase:
        loss = trainer.loss_module
        replay_buffer = getattr(trainer, "replay_buffer", None)
        if loss.validation_source == "replay_buffer" and loss._validation_buffer is None and replay_buffer is not None:
            loss.draw_validation_from(replay_buffer)
        out = update(loss, self.optimizers, _NoTargetUpdate(), sub_batch, self.skipped)
        if replay_buffer is not None and hasattr(replay_buffer, "update_tensordict_priority"):
            replay_buffer.update_tensordict_priority(sub_batch)
        meta_key = getattr(loss, "meta_loss_key", None)
        losses = {key: value.detach() for key, value in out.items() if key.startswith("loss_") and key != meta_key}
        losses.setdefault("loss_actor", torch.zeros(()))  # a critic-only update: the same keys every step
        self._diagnostics = {f"gild/{key}": float(value.detach()) for key, value in out.items()
                             if key not in losses and value.numel() == 1} or None
        return TensorDict(losses, batch_size=[])

    def _latest_diagnostics(self, batch: TensorDictBase) -> dict[str, float] | None:
        diagnostics, self._diagnostics = self._diagnostics, None
        return diagnostics

    def _first_reward(self, batch: TensorDictBase | None) -> TensorDictBase | None:
        """The loss's ``on_first_reward`` hook, once, at the first batch that holds a reward."""
        if batch is not None and not self._rewarded and bool((batch.get(("next", "reward")) != 0).any()):
            self._rewarded = True
            self._registered_to.loss_module.on_first_reward()
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {"optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
                "skipped": dict(self.skipped)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for name, state in state_dict["optimizers"].items():
            self.optimizers[name].load_state_dict(state)
        self.skipped = Counter(state_dict.get("skipped", {}))


class ActorStepSoftUpdate(ForeachSoftUpdate):
    """A soft target update that moves only after an update that trained the actor.

    TorchRL's trainers call ``step()`` after every update; the recipes (and TD3's paper) move
    the targets with the actor, every ``policy_delay``-th update. It reads the loss's own
    schedule, so it needs a :class:`~gild_torchrl.objectives.BaseLossWrapper` that runs its policy
    delay (``loss(td)`` without ``update_actor``); with a delay of 1 it is the plain soft update.
    """

    def step(self) -> None:
        loss = self.loss_module
        if loss.num_updates and (loss.num_updates - 1) % loss.policy_delay == 0:
            super().step()
