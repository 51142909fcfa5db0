"""Feature extractors for the data layer's embedding judge (:mod:`fgclass.data.embeddings`), given
to it by the data config (``data.embedder``) rather than imported by it, and the TorchScript-frozen
inference path that the judge and the feature cache's backbone pass share."""

from __future__ import annotations

import copy
import functools
import warnings
from collections.abc import Callable

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
        self._forward: Callable[[torch.Tensor], torch.Tensor] | None = None  # built on the first call

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        model, mean, std = _network(self.name)
        x = normalize(images, mean, std)
        if self._forward is None:
            self._forward = frozen_if_exact(model, x)
        return self._forward(x)


def frozen_for_inference(model: nn.Module, example: torch.Tensor) -> torch.jit.ScriptModule:
    """``model`` (in eval mode) in NHWC, traced on ``example`` and frozen by TorchScript (BatchNorm
    folded into the convolutions): 1.7x the eager NCHW speed for the embedding judge's views on a
    2-core CPU, same features within 3e-7 (``benchmarks/bench_embeddings.py``). Tracing records one
    path through ``forward``: for backbones whose ``forward`` does not branch on the input, at
    ``example``'s image size (the judge's views all have one size)."""
    nhwc = copy.deepcopy(model).to(memory_format=torch.channels_last)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated; measured faster here
        return torch.jit.freeze(torch.jit.trace(nhwc, example))


def frozen_if_exact(model: nn.Module, example: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function computing ``model(x)``: :func:`frozen_for_inference` where it applies and repeats
    the eager ``model`` on ``example`` (within 1e-4), else ``model`` itself. It applies to fp32 inputs
    on the CPU outside autocast, with ``model`` in eval mode; a backbone that TorchScript cannot trace,
    or whose traced copy differs from it, keeps running eagerly."""
    fp32 = example.dtype == torch.float32 and all(p.dtype == torch.float32 for p in model.parameters())
    if example.device.type != "cpu" or not fp32 or torch.is_autocast_enabled("cpu") or model.training:
        return model
    nhwc = example.contiguous(memory_format=torch.channels_last)
    try:
        frozen = frozen_for_inference(model, nhwc)
    except RuntimeError:  # TorchScript cannot trace it (e.g. a dict output): eager is as right, slower
        return model
    if not torch.allclose(frozen(nhwc), model(example), rtol=1e-4, atol=1e-4):
        return model
    return lambda x: frozen(x.contiguous(memory_format=torch.channels_last))


def packaged_lite0_features() -> BackboneFeatures:
    """EfficientNet-Lite0 with the ImageNet weights packaged with fgclass: the embedding judge's
    extractor in ``conf/data/_common.yaml``."""
    return BackboneFeatures(PACKAGED_LITE0)
