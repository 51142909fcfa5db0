"""Feature extractors for the data layer's embedding judge (:mod:`fgclass.data.embeddings`), given
to it by the data config (``data.embedder``) rather than imported by it."""

from __future__ import annotations

import functools

import torch
from torch import nn

from fgclass.models.backbones import create_backbone
from fgclass.models.classifier import normalize

PACKAGED_LITE0 = "timm/efficientnet_lite0"  # ImageNet weights that install with fgclass: no download


@functools.cache
def _network(backbone: str) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """``backbone`` with its default weights in eval mode and its mean/std: built once per process."""
    net = create_backbone(backbone, "DEFAULT")
    mean = torch.tensor(net.mean).view(1, 3, 1, 1)
    std = torch.tensor(net.std).view(1, 3, 1, 1)
    return net.model.eval(), mean, std


class BackboneFeatures:
    """Pooled features of ``backbone`` with its default weights, on ``uint8`` images ``(N, 3, H, W)``
    scaled to [0, 1] and normalised with the backbone's mean/std. The network is built on the first
    call (once per process), so a data module whose embeddings are cached never builds it; ``name``
    (the backbone) keys that cache."""

    def __init__(self, backbone: str) -> None:
        self.name = backbone

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        model, mean, std = _network(self.name)
        return model(normalize(images, mean, std))


def packaged_lite0_features() -> BackboneFeatures:
    """EfficientNet-Lite0 with the ImageNet weights packaged with fgclass: the embedding judge's
    extractor in ``conf/data/_common.yaml``."""
    return BackboneFeatures(PACKAGED_LITE0)
