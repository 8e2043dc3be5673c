"""The base algorithms, one module each (``ddpg``, ``td3``, ``sac``, ``trpo``), registered on import
in :data:`ALGORITHMS`; :mod:`~gild_torchrl.algorithms.base` says what an algorithm declares.

The run, the config checks, the studies and the tests read this table; adding a base algorithm is
one module that calls :func:`register_algorithm` (and its config section, see CONTRIBUTING.md).
"""

from gild_torchrl.algorithms.base import (
    ALGORITHMS,
    Algorithm,
    BaseLossAdapter,
    actor_and_critic_groups,
    get_algorithm,
    make_adapter,
    make_base_loss,
    register_algorithm,
)
# each registers itself, in this order (the order of the choices users are shown)
from gild_torchrl.algorithms import ddpg, td3, sac, trpo  # noqa: F401,I001

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "BaseLossAdapter",
    "actor_and_critic_groups",
    "get_algorithm",
    "make_adapter",
    "make_base_loss",
    "register_algorithm",
]
