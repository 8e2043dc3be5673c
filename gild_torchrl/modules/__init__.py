"""Networks for GILD and its baselines, built from TorchRL parts."""

from gild_torchrl.modules.learned_loss import GILDNetwork, LearnedLossNetwork, MetaCriticNetwork
from gild_torchrl.modules.models import (
    make_action_spec,
    make_deterministic_actor,
    make_qvalue,
    make_stochastic_actor,
)

__all__ = [
    "GILDNetwork",
    "LearnedLossNetwork",
    "MetaCriticNetwork",
    "make_action_spec",
    "make_deterministic_actor",
    "make_qvalue",
    "make_stochastic_actor",
]
