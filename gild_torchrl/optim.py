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


def make_meta_optimizer(
    params: Iterable[torch.Tensor],
    lr: float = 1e-4,
    weight_decay: float = 1e-4,
    decay: Literal["coupled", "decoupled", "none"] = "coupled",
) -> torch.optim.Optimizer:
    """Adam with coupled L2 (the paper), AdamW (decoupled), or Adam without weight decay."""
    if decay == "coupled":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if decay == "decoupled":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if decay == "none":
        return torch.optim.Adam(params, lr=lr, weight_decay=0.0)
    raise ValueError(f"decay={decay!r}; expected one of {WEIGHT_DECAY_KINDS}.")
