"""Sparse-reward tasks: the paper's MuJoCo tasks (registered Gymnasium ids) and PointNav.

Importing this package registers ``SparseHopper-v5``, ``SparseWalker2d-v5``,
``SparseHalfCheetah-v5`` and ``SparseAnt-v5`` with Gymnasium (and does nothing else). The task
table (``SPARSE_IDS``, ``SPARSE_THRESHOLDS``, ``POINTNAV_NAMES``, ``base_task_id``,
``sparse_threshold``) is :mod:`gild_torchrl.tasks`, re-exported here. Demonstrations, PointNav's
included, are built by the data package; this package does not import it.
"""

from gild_torchrl.envs.sparse import SparseRewardWrapper, register_sparse_envs
from gild_torchrl.tasks import POINTNAV_NAMES, SPARSE_IDS, SPARSE_THRESHOLDS, base_task_id, sparse_threshold

register_sparse_envs()

from gild_torchrl.envs.factory import INFO_KEYS, make_env  # noqa: E402
from gild_torchrl.envs.pointnav import (  # noqa: E402
    DetourDemonstrator,
    PointNavEnv,
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
    "random_success_rate",
]
