"""Training losses torch does not have (``conf/model/loss/``; cross-entropy is torch's own)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


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
