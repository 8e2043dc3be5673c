"""The meta network's optimiser, with the kind of weight decay as a setting.

The paper trains omega with Adam(lr=1e-4, weight_decay=1e-4): a *coupled* L2 term added to the
gradient before Adam's normalisation. Before the first reward the meta-gradient is noise of norm
1e-4 to 1e-8, so that term dominates and shrinks omega at about lr per step until the GILD output
is the constant ln 2 (spec, "What we measured"). ``decoupled`` (AdamW) decays the weights
outside the normalisation; ``none`` leaves them alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import torch

WEIGHT_DECAY_KINDS = ("coupled", "decoupled", "none")


def make_adam(params: Iterable[torch.Tensor], lr: float, weight_decay: float = 0.0, decoupled: bool = False) -> torch.optim.Optimizer:
    """Adam (or AdamW) with the fused implementation: one kernel for the whole group, the same update
    rule, about a third of the default loop's time on a CPU (``python -m benchmarks.update_step``)."""
    kind = torch.optim.AdamW if decoupled else torch.optim.Adam
    return kind(params, lr=lr, weight_decay=weight_decay, fused=True)


def make_meta_optimizer(
    params: Iterable[torch.Tensor],
    lr: float = 1e-4,
    weight_decay: float = 1e-4,
    decay: Literal["coupled", "decoupled", "none"] = "coupled",
) -> torch.optim.Optimizer:
    """Adam with coupled L2 (the paper), AdamW (decoupled), or Adam without weight decay."""
    if decay == "coupled":
        return make_adam(params, lr=lr, weight_decay=weight_decay)
    if decay == "decoupled":
        return make_adam(params, lr=lr, weight_decay=weight_decay, decoupled=True)
    if decay == "none":
        return make_adam(params, lr=lr)
    raise ValueError(f"decay={decay!r}; expected one of {WEIGHT_DECAY_KINDS}.")
