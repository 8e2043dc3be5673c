"""GILD and its baselines as TorchRL loss modules, mirroring ``torchrl.objectives``."""

from gild_torchrl.objectives.batch_checks import BatchError
from gild_torchrl.objectives.common import BaseLossWrapper, make_batch, resolve_warm_start
from gild_torchrl.objectives.gild import GILDLoss
from gild_torchrl.objectives.il import ILLoss
from gild_torchrl.objectives.interface import NextBatches, ObjectiveHooks
from gild_torchrl.objectives.lookahead import MetaLookaheadLoss
from gild_torchrl.objectives.meta_critic import MetaCriticLoss
from gild_torchrl.objectives.registry import OBJECTIVES, Objective, ObjectiveInputs, get_objective, register_objective
from gild_torchrl.objectives.target_updates import ForeachSoftUpdate

__all__ = [
    "BatchError",
    "BaseLossWrapper",
    "ForeachSoftUpdate",
    "GILDLoss",
    "ILLoss",
    "MetaCriticLoss",
    "MetaLookaheadLoss",
    "NextBatches",
    "OBJECTIVES",
    "Objective",
    "ObjectiveHooks",
    "ObjectiveInputs",
    "get_objective",
    "register_objective",
    "make_batch",
    "resolve_warm_start",
]
