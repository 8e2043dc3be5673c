"""Sparse-reward tasks: the paper's MuJoCo tasks (registered Gymnasium ids) and PointNav.

Importing this package registers ``SparseHopper-v5``, ``SparseWalker2d-v5``,
``SparseHalfCheetah-v5`` and ``SparseAnt-v5`` with Gymnasium (and does nothing else).
"""

from gild_torchrl.envs.sparse import (
    SPARSE_IDS,
    SPARSE_THRESHOLDS,
    SparseRewardWrapper,
    base_task_id,
    register_sparse_envs,
    sparse_threshold,
)

register_sparse_envs()

from gild_torchrl.envs.factory import INFO_KEYS, POINTNAV_NAMES, make_env  # noqa: E402
from gild_torchrl.envs.pointnav import (  # noqa: E402
    DetourDemonstrator,
    PointNavEnv,
    pointnav_demonstrations,
    random_success_rate,
)

__all__ = [
    "SPARSE_IDS",
    "SPARSE_THRESHOLDS",
    "SparseRewardWrapper",
    "base_task_id",
    "register_sparse_envs",
    "sparse_threshold",
    "make_env",
    "INFO_KEYS",
    "POINTNAV_NAMES",
    "PointNavEnv",
    "DetourDemonstrator",
    "pointnav_demonstrations",
    "random_success_rate",
]
