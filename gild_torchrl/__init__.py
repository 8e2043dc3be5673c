"""GILD for TorchRL: meta-learned imitation from sub-optimal demonstrations."""

__version__ = "0.1.0"
