"""Demonstration storage: loading, validating, sampling and saving sub-optimal demonstrations."""

from gild_torchrl.data.demonstrations import (
    BUNDLED_DIR,
    DemonstrationError,
    Demonstrations,
    MissingDemonstrationError,
    bundled,
)

__all__ = ["BUNDLED_DIR", "DemonstrationError", "Demonstrations", "MissingDemonstrationError", "bundled"]
