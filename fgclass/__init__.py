"""fgclass: Lightning + Hydra experiments for fine-grained image classification."""

__version__ = "0.1.0"
