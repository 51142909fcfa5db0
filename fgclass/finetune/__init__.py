"""Fine-tuning strategies: which backbone stages train when, and at what learning rate."""

from fgclass.finetune.strategy import Finetuning, Phase

__all__ = ["Finetuning", "Phase"]
