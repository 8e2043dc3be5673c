"""The objectives in TorchRL's trainers: the optimisation stepper and target updater they need
(:mod:`~gild_torchrl.trainers.hooks`) and their configs in TorchRL's configuration system
(:mod:`~gild_torchrl.trainers.configs`, which registers them when imported)."""

from gild_torchrl.trainers.hooks import ActorStepSoftUpdate, GILDOptimizationStepper

__all__ = ["ActorStepSoftUpdate", "GILDOptimizationStepper"]
