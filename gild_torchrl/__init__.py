"""GILD for TorchRL: meta-learned imitation from sub-optimal demonstrations."""

__version__ = "0.1.0"

# Registers the sparse Gymnasium ids (SparseHopper-v5, ...) at import, also in the workers
# that torchrl starts with "spawn".
from gild_torchrl import envs as envs  # noqa: E402,F401
