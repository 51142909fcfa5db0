"""Fine-tuning strategies: which backbone stages train when, and at what learning rate."""

from fgclass.finetune.strategy import Finetuning, Phase, frozen_throughout

__all__ = ["Finetuning", "Phase", "frozen_throughout"]
