"""Training losses, chosen by name in ``model.loss.name``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fgclass.errors import ConfigError


class FocalLoss(nn.Module):
    """Multi-class focal loss (Lin et al. 2017): cross-entropy scaled by ``(1 - p_true) ** gamma``."""

    def __init__(self, gamma: float = 2.0, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.gamma = gamma
        self.label_smoothing = label_smoothing

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        ce = F.cross_entropy(logits, target, reduction="none", label_smoothing=self.label_smoothing)
        p_true = logits.softmax(dim=1).gather(1, target[:, None]).squeeze(1)
        return ((1 - p_true) ** self.gamma * ce).mean()


def build_loss(name: str = "cross_entropy", label_smoothing: float = 0.0, gamma: float = 2.0) -> nn.Module:
    """``cross_entropy`` (with optional label smoothing) or ``focal``."""
    if name == "cross_entropy":
        return nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    if name == "focal":
        return FocalLoss(gamma=gamma, label_smoothing=label_smoothing)
    raise ConfigError(f"model.loss.name='{name}' is unknown; use 'cross_entropy' or 'focal'.")
