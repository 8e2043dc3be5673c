"""Demonstration storage: opening, loading, validating, sampling, transforming and saving sub-optimal demonstrations.

This package may import :mod:`gild_torchrl.envs` (the PointNav demonstrator, ``make_env``);
:mod:`gild_torchrl.envs` never imports it. Both read the task table in :mod:`gild_torchrl.tasks`.
"""

from gild_torchrl.data.demonstrations import (
    BUNDLED_DIR,
    DemonstrationError,
    Demonstrations,
    MissingDemonstrationError,
    bundled,
)
from gild_torchrl.data.sources import DEMO_FORMATS, guess_format, open_demonstrations, pointnav_demonstrations
from gild_torchrl.data.transforms import mix, negate_actions, subsample_episodes, with_action_noise

__all__ = [
    "BUNDLED_DIR",
    "DEMO_FORMATS",
    "DemonstrationError",
    "Demonstrations",
    "MissingDemonstrationError",
    "bundled",
    "guess_format",
    "open_demonstrations",
    "pointnav_demonstrations",
    "mix",
    "negate_actions",
    "subsample_episodes",
    "with_action_noise",
]
