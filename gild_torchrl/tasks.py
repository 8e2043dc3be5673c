"""The task table: which tasks the package knows by name, their sparse ids and gate thresholds.

It lives outside :mod:`gild_torchrl.envs` and :mod:`gild_torchrl.data` so that both can read it
without importing each other (data may import envs, envs never imports data). It imports nothing
beyond the standard library, so that reading it, and registering the Gymnasium ids built on it,
stays cheap.
"""

from __future__ import annotations

__all__ = ["SPARSE_THRESHOLDS", "SPARSE_IDS", "POINTNAV_NAMES", "base_task_id", "sparse_threshold"]

#: Gate thresholds of the paper's four tasks, keyed by the dense Gymnasium id.
SPARSE_THRESHOLDS: dict[str, float] = {
    "Hopper-v5": 1.0,
    "Walker2d-v5": 1.0,
    "HalfCheetah-v5": 2.0,
    "Ant-v5": 1.0,
}

#: Registered sparse id -> dense Gymnasium id.
SPARSE_IDS: dict[str, str] = {f"Sparse{base}": base for base in SPARSE_THRESHOLDS}

#: The names under which :func:`gild_torchrl.envs.make_env` builds PointNav.
POINTNAV_NAMES = ("PointNav", "PointNav-v0")


def base_task_id(name: str) -> str:
    """Return the dense Gymnasium id of ``name`` ("SparseHopper-v5" -> "Hopper-v5")."""
    return SPARSE_IDS.get(name, name)


def sparse_threshold(name: str) -> float:
    """Return the gate threshold of a task given by its dense or sparse id.

    Raises a ``KeyError`` naming the known tasks when ``name`` has no default threshold
    (pass an explicit threshold to :func:`~gild_torchrl.envs.make_env` for other tasks).
    """
    base = base_task_id(name)
    if base not in SPARSE_THRESHOLDS:
        raise KeyError(
            f"no default sparse threshold for task {name!r}; known tasks are "
            f"{sorted(SPARSE_THRESHOLDS)} (pass threshold=... explicitly for other tasks)"
        )
    return SPARSE_THRESHOLDS[base]
