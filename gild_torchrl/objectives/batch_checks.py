"""The objectives' input, checked once at the loss boundary before anything is computed or written.

A wrong demonstration or validation batch would otherwise fail deep inside torch (a matmul of
the wrong shape, a ``None`` where a tensor was expected) after the base loss has already
written into the input. Here each failure is one sentence naming the batch, the key, what was
found and what was expected. Demonstration and validation entries of another real dtype (the
paper's float64 ``[s | a]`` files, integer rows) are cast to the actor's dtype.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tensordict import TensorDictBase
from tensordict.utils import NestedKey


class BatchError(ValueError):
    """An input batch the objective cannot read; the message names the batch, the key and what was expected."""


class MissingBatchError(BatchError, KeyError):
    """A batch or key the objective reads is not in its input (a ``KeyError`` too)."""

    __str__ = BaseException.__str__  # the sentence, not KeyError's quoted repr


def _name(key: NestedKey) -> str:
    return repr(key) if isinstance(key, str) else repr(tuple(key))


def _names(keys) -> str:
    return "[" + ", ".join(_name(k) for k in keys) + "]"


def _found_keys(td: TensorDictBase) -> str:
    return _names(sorted(td.keys(include_nested=True, leaves_only=True), key=_name))


def check_replay(replay: TensorDictBase, keys: Sequence[NestedKey], dtype: torch.dtype) -> None:
    """The replay batch holds every key the base loss reads, and its float entries have the networks' dtype."""
    present = set(replay.keys(include_nested=True, leaves_only=True))
    for key in keys:
        if key not in present:
            raise MissingBatchError(
                f"replay batch: key {_name(key)} is missing; the base loss reads {_names(keys)}, "
                f"found {_found_keys(replay)}."
            )
        value = replay.get(key)
        if value.is_floating_point() and value.dtype != dtype:
            raise BatchError(
                f"replay batch: key {_name(key)} is {value.dtype}, expected {dtype} (the networks' dtype); "
                f"cast the batch or the loss (loss.to({dtype}))."
            )


def checked_side_batch(
    name: str,
    batch: object,
    keys: Sequence[NestedKey],
    reference: TensorDictBase,
    dtype: torch.dtype,
) -> TensorDictBase:
    """A demonstration or validation batch whose ``keys`` match the replay batch's widths, cast to ``dtype``.

    ``reference`` is the replay batch: each key must have its trailing width, and the keys
    must agree on their leading (row) dimensions. Returns the batch itself when nothing needs
    casting, else a shallow copy with the cast entries (the caller's TensorDict is left alone).
    """
    if not isinstance(batch, TensorDictBase):
        raise BatchError(f"{name} batch: expected a TensorDict, found a {type(batch).__name__}.")
    present = set(batch.keys(include_nested=True, leaves_only=True))
    rows = None
    cast = {}
    for key in keys:
        if key not in present:
            raise MissingBatchError(
                f"{name} batch: key {_name(key)} is missing; expected {_names(keys)} "
                f"(the base loss's keys), found {_found_keys(batch)}."
            )
        value = batch.get(key)
        if not isinstance(value, torch.Tensor) or value.dtype == torch.bool or value.is_complex():
            found = value.dtype if isinstance(value, torch.Tensor) else type(value).__name__
            raise BatchError(f"{name} batch: key {_name(key)} is {found}, expected real numbers.")
        width = reference.get(key).shape[-1] if key in reference.keys(include_nested=True) else None
        if value.ndim < 2:
            raise BatchError(
                f"{name} batch: key {_name(key)} has shape {tuple(value.shape)}, expected (rows, {width or 'width'})."
            )
        if width is not None and value.shape[-1] != width:
            raise BatchError(
                f"{name} batch: key {_name(key)} has width {value.shape[-1]}, expected {width} "
                f"(the replay batch's {_name(key)})."
            )
        if rows is None:
            rows = value.shape[:-1]
        elif value.shape[:-1] != rows:
            raise BatchError(
                f"{name} batch: key {_name(key)} has {tuple(value.shape[:-1])} rows, expected {tuple(rows)} "
                f"like {_name(keys[0])}."
            )
        if value.dtype != dtype:
            cast[key] = value.to(dtype)
    if not cast:
        return batch
    batch = batch.copy()
    for key, value in cast.items():
        batch.set(key, value)
    return batch
