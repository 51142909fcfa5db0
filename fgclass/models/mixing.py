"""MixUp (Zhang et al. 2018) and CutMix (Yun et al. 2019) on training batches, from torchvision's
``transforms.v2``: each batch is mixed with a shuffled copy of itself, the targets become soft
class probabilities, which ``nn.CrossEntropyLoss`` takes as they are."""

from __future__ import annotations

import torch
from torchvision.transforms import v2

from fgclass.errors import ConfigError


class BatchMixing:
    """With probability ``prob``, MixUp (``mixup_alpha``) or CutMix (``cutmix_alpha``), chosen at random
    per batch; an alpha of 0 leaves that method out. Images in; float images in [0, 1] and soft
    targets out."""

    def __init__(
        self, num_classes: int, mixup_alpha: float = 0.2, cutmix_alpha: float = 1.0, prob: float = 1.0
    ) -> None:
        methods = []
        if mixup_alpha > 0:
            methods.append(v2.MixUp(alpha=mixup_alpha, num_classes=num_classes))
        if cutmix_alpha > 0:
            methods.append(v2.CutMix(alpha=cutmix_alpha, num_classes=num_classes))
        if not methods or not 0 < prob <= 1:
            raise ConfigError(
                f"model.mixing: mixup_alpha={mixup_alpha}, cutmix_alpha={cutmix_alpha}, prob={prob}: "
                "set at least one alpha > 0 and 0 < prob <= 1 (or model/mixing=none)."
            )
        self.mix = v2.RandomApply([v2.RandomChoice(methods)], p=prob)
        self.num_classes = num_classes

    def __call__(self, images: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = images.float() / 255 if images.dtype == torch.uint8 else images
        mixed, soft = self.mix(x, targets)
        if soft.ndim == 1:  # RandomApply skipped the batch: one-hot, so every batch has one target type
            soft = torch.nn.functional.one_hot(soft, self.num_classes).to(mixed.dtype)
        return mixed, soft
