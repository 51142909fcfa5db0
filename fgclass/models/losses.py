"""Training losses torch does not have (``conf/model/loss/``; cross-entropy is torch's own): focal loss,
and cross-entropy re-weighted by class for long-tailed data."""

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


WEIGHTINGS = ("effective_number", "inverse", "inverse_sqrt")


def class_weights(counts: torch.Tensor, weighting: str, beta: float = 0.999) -> torch.Tensor:
    """A loss weight per class from its training image count ``n``, scaled to average 1 over the
    classes: ``effective_number`` ``(1 - beta) / (1 - beta ** n)`` (Cui et al. 2019, "Class-Balanced
    Loss Based on Effective Number of Samples"), ``inverse`` ``1 / n``, ``inverse_sqrt`` ``1 / sqrt(n)``.
    A class without training images counts as one image."""
    n = counts.double().clamp(min=1)
    if weighting == "effective_number":
        weights = (1 - beta) / (1 - beta**n)
    elif weighting == "inverse":
        weights = 1 / n
    elif weighting == "inverse_sqrt":
        weights = n**-0.5
    else:
        raise ConfigError(f"model.loss.weighting={weighting}: use one of {', '.join(WEIGHTINGS)}.")
    return (weights * len(weights) / weights.sum()).float()


class ReweightedCrossEntropy(nn.Module):
    """Cross-entropy for long-tailed data: each image's loss times its class's weight
    (:func:`class_weights` of the training split's class counts), averaged over the batch.

    The counts arrive through :meth:`set_class_counts`, which the Classifier calls when training
    starts; the weights are a buffer, so a checkpoint carries them to re-evaluation.
    """

    def __init__(
        self, weighting: str = "effective_number", beta: float = 0.999, label_smoothing: float = 0.0
    ) -> None:
        super().__init__()
        if not 0 <= beta < 1:
            raise ConfigError(f"model.loss.beta={beta}: use a value in [0, 1) (0.999: Cui et al.'s choice).")
        class_weights(torch.ones(1), weighting, beta)  # an unknown weighting fails here, not mid-training
        self.weighting, self.beta, self.label_smoothing = weighting, beta, label_smoothing
        self.register_buffer("class_weights", torch.ones(0))
        self.register_load_state_dict_pre_hook(self._take_size)

    def set_class_counts(self, counts: torch.Tensor) -> None:
        """Weights from the training images per class (index order)."""
        weights = class_weights(counts, self.weighting, self.beta)
        self.class_weights = weights.to(self.class_weights.device)

    def _take_size(self, module: nn.Module, state_dict: dict, prefix: str, *args: object) -> None:
        weights = state_dict.get(f"{prefix}class_weights")
        if weights is not None:  # a checkpoint's weights: the buffer takes their size
            self.class_weights = torch.empty_like(weights, device=self.class_weights.device)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.class_weights.numel() != logits.shape[1]:
            raise ConfigError(
                f"model.loss: {type(self).__name__} has weights for {self.class_weights.numel()} classes, "
                f"not {logits.shape[1]}: train with an fgclass data module, which gives it the class counts."
            )
        ce = F.cross_entropy(logits, target, reduction="none", label_smoothing=self.label_smoothing)
        return (self.class_weights[target] * ce).mean()
