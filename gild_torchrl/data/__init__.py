"""Demonstration storage: loading, validating, sampling, transforming and saving sub-optimal demonstrations."""

from gild_torchrl.data.demonstrations import (
    BUNDLED_DIR,
    DemonstrationError,
    Demonstrations,
    MissingDemonstrationError,
    bundled,
)
from gild_torchrl.data.transforms import mix, negate_actions, subsample_episodes, with_action_noise

__all__ = [
    "BUNDLED_DIR",
    "DemonstrationError",
    "Demonstrations",
    "MissingDemonstrationError",
    "bundled",
    "mix",
    "negate_actions",
    "subsample_episodes",
    "with_action_noise",
]
