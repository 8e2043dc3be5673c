"""TRPO, on-policy: the control of LOGO (objective ``rl``) and LOGO itself (objective ``logo``), in a
run of its own (:mod:`gild_torchrl.training.on_policy`); its options are read there from ``trpo:``
and ``logo:``. No TorchRL loss, adapter or plain-tensor path: the off-policy objectives do not wrap it."""

from __future__ import annotations

from gild_torchrl.algorithms.base import Algorithm, register_algorithm

ALGORITHM = register_algorithm(Algorithm("trpo", None, stochastic_actor=True, kind="on_policy", objectives=("rl", "logo")))
