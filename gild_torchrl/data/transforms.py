"""Demonstration sets made from other sets: fewer episodes, noisy or negated actions, two sets mixed.

The paper leaves open how GILD copes with demonstrations that are far from optimal, noisy or
adversarial; these transforms make such sets from a good one, reproducibly (seeded), and record
what was done in the result's ``meta["transforms"]`` so that a study's demonstrations say what
they are. Each returns a new :class:`~gild_torchrl.data.Demonstrations`; the input is unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from gild_torchrl.data.demonstrations import Demonstrations, DemonstrationError


def _derived(demos: Demonstrations, data, step: dict[str, Any], **meta: Any) -> Demonstrations:
    kept = {k: v for k, v in demos.meta.items() if k not in ("num_transitions", "num_episodes", "obs_dim", "act_dim")}
    kept.update(meta)
    kept["transforms"] = [*demos.meta.get("transforms", []), step]
    return Demonstrations(data, meta=kept, source=demos.source)


def subsample_episodes(demos: Demonstrations, episodes: int, seed: int = 0) -> Demonstrations:
    """``episodes`` of the set's episodes, drawn without replacement (seeded), renumbered 0..K-1 in their order."""
    ids = torch.unique(demos.data.get("episode"))
    if not 1 <= episodes <= len(ids):
        raise DemonstrationError(f"{demos.source or '<demonstrations>'}: episodes={episodes}; expected 1 to {len(ids)} (the set's episodes).")
    chosen = ids[torch.randperm(len(ids), generator=torch.Generator().manual_seed(seed))[:episodes]].sort().values
    rows = torch.isin(demos.data.get("episode"), chosen)
    data = demos.data[rows].clone()
    data.set("episode", torch.searchsorted(chosen, data.get("episode")))
    meta = {}
    for key in ("returns", "dense_returns", "sparse_returns", "episode_lengths", "final_x_positions"):
        values = demos.meta.get(key)
        if isinstance(values, list) and len(values) == len(ids):
            meta[key] = [values[int(i)] for i in torch.searchsorted(ids, chosen)]
    return _derived(demos, data, {"subsample_episodes": episodes, "seed": seed, "episodes": chosen.tolist()}, **meta)


def with_action_noise(demos: Demonstrations, std: float, low: float | Sequence[float] = -1.0,
                      high: float | Sequence[float] = 1.0, seed: int = 0) -> Demonstrations:
    """Actions plus Gaussian noise of standard deviation ``std``, clipped to ``[low, high]`` (seeded)."""
    if not std >= 0:
        raise DemonstrationError(f"action noise std={std!r}; expected a non-negative number.")
    action = demos.data.get("action")
    noise = torch.randn(action.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(action.dtype)
    low_t = torch.as_tensor(low, dtype=action.dtype)
    high_t = torch.as_tensor(high, dtype=action.dtype)
    data = demos.data.clone()
    data.set("action", torch.maximum(torch.minimum(action + std * noise, high_t), low_t))
    return _derived(demos, data, {"action_noise": std, "seed": seed, "low": low, "high": high},
                    returns=None, dense_returns=None, sparse_returns=None)


def negate_actions(demos: Demonstrations) -> Demonstrations:
    """The demonstrated states with every action negated: an adversarial demonstrator (bounds symmetric about 0)."""
    data = demos.data.clone()
    data.set("action", -data.get("action"))
    return _derived(demos, data, {"negate_actions": True}, returns=None, dense_returns=None, sparse_returns=None)


def mix(first: Demonstrations, second: Demonstrations) -> Demonstrations:
    """Both sets' rows, the second's episodes numbered after the first's; the fields both have are kept."""
    if (first.obs_dim, first.act_dim) != (second.obs_dim, second.act_dim):
        raise DemonstrationError(
            f"cannot mix demonstrations of observation/action dimensions {first.obs_dim}/{first.act_dim} and "
            f"{second.obs_dim}/{second.act_dim} ({second.source}).")
    keys = set(first.data.keys(True, True)) & set(second.data.keys(True, True))
    a, b = first.data.select(*keys), second.data.select(*keys).clone()
    dtype = torch.promote_types(a.get("action").dtype, b.get("action").dtype)
    b.set("episode", b.get("episode") + int(a.get("episode").max()) + 1)
    data = torch.cat([a.apply(lambda x: x.to(dtype) if x.is_floating_point() else x),
                      b.apply(lambda x: x.to(dtype) if x.is_floating_point() else x)], 0)
    meta = {}
    for key in ("returns", "dense_returns", "sparse_returns"):
        if isinstance(first.meta.get(key), list) and isinstance(second.meta.get(key), list):
            meta[key] = first.meta[key] + second.meta[key]
        else:
            meta[key] = None
    return _derived(first, data, {"mix_with": second.source, "second_transforms": second.meta.get("transforms", [])}, **meta)
