"""Backbones by name, with their classifier removed: torchvision models from a registry, and any
timm model as ``timm/<name>``.

A backbone is the network, the number of features it outputs, the input normalisation its
weights expect, and its *stages*: the parameter groups that fine-tuning strategies freeze and
unfreeze, from input to output. torchvision stages are listed per family below; timm stages come
from the model's own ``group_matcher`` (the coarse groups timm uses for layer-wise lr decay).

``weights`` is ``None`` (random init), ``"DEFAULT"``, a torchvision weights name or timm pretrained
tag (see :mod:`fgclass.models.pretrained` for where they come from) or a path to a state-dict file.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

from fgclass.errors import CheckpointError, ConfigError
from fgclass.models.checkpoint import read_state_dict
from fgclass.models.pretrained import (
    PACKAGED,
    TIMM_PREFIX,
    ensure_timm,
    ensure_torchvision,
    is_path,
    packaged_state_dict,
    timm_model_name,
)

_LISTED = 10
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class Backbone:
    """A feature extractor: ``model(x)`` returns ``(N, num_features)``.

    ``stages`` maps a stage name to the parameter-name prefixes it owns, ordered input to output;
    ``mean``/``std`` are the input normalisation the weights were trained with; ``cam_layer`` names
    the module whose feature map Grad-CAM explains (the last convolutional stage; ``None`` where the
    backbone has no spatial feature map, e.g. a ViT).
    """

    model: nn.Module
    num_features: int
    stages: dict[str, list[str]]
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    cam_layer: str | None = None


@dataclass(frozen=True)
class _Entry:
    torchvision_name: str
    classifier: str  # attribute path of the layer replaced by Identity
    stages: Callable[[nn.Module], dict[str, list[str]]]
    cam_layer: str | None  # the module Grad-CAM explains


_REGISTRY: dict[str, _Entry] = {}


def register_backbone(
    name: str, torchvision_name: str, classifier: str, cam_layer: str | None = None
) -> Callable:
    """Decorator: register a function ``model -> stages`` under ``name``; ``cam_layer`` is the
    module Grad-CAM explains (the last convolutional stage)."""

    def wrap(stages: Callable[[nn.Module], dict[str, list[str]]]) -> Callable:
        _REGISTRY[name] = _Entry(torchvision_name, classifier, stages, cam_layer)
        return stages

    return wrap


def available_backbones() -> list[str]:
    """Registered torchvision backbone names (any timm model also works, as ``timm/<name>``)."""
    return sorted(_REGISTRY)


def _entry(name: str) -> _Entry:
    if name not in _REGISTRY:
        raise ConfigError(
            f"model.backbone='{name}' is unknown. Available: {', '.join(available_backbones())}, "
            f"or any timm model as {TIMM_PREFIX}<name> (e.g. {TIMM_PREFIX}efficientnet_lite0)."
        )
    return _REGISTRY[name]


def ensure_available(backbone: str, weights: str | None) -> None:
    """Make sure the pretrained weights ``backbone`` needs are on this machine (downloading them once
    where allowed); otherwise raise :class:`ConfigError` saying which file is missing and what to do."""
    if not weights or is_path(weights):
        return
    if backbone.startswith(TIMM_PREFIX):
        arch = backbone.removeprefix(TIMM_PREFIX)
        if weights == "DEFAULT" and arch in PACKAGED:
            PACKAGED[arch].file()
            return
        ensure_timm(backbone, timm_model_name(arch, weights))
    else:
        ensure_torchvision(backbone, _entry(backbone).torchvision_name, weights)


def _resnet_stages(model: nn.Module) -> dict[str, list[str]]:
    return {
        "stem": ["conv1.", "bn1."],
        **{f"layer{i}": [f"layer{i}."] for i in range(1, 5)},
    }


for _depth in (18, 34, 50, 101):
    register_backbone(f"resnet{_depth}", f"resnet{_depth}", "fc", "layer4")(_resnet_stages)


@register_backbone("efficientnet_b0", "efficientnet_b0", "classifier.1", "features.8")
def _efficientnet_stages(model: nn.Module) -> dict[str, list[str]]:
    blocks = len(model.features)
    return {
        "stem": ["features.0."],
        **{f"stage{i}": [f"features.{i}."] for i in range(1, blocks - 1)},
        "top": [f"features.{blocks - 1}."],
    }


@register_backbone("convnext_tiny", "convnext_tiny", "classifier.2", "features.7")
def _convnext_stages(model: nn.Module) -> dict[str, list[str]]:
    # features: stem, stage1, down, stage2, down, stage3, down, stage4; then the final LayerNorm
    return {
        "stem": ["features.0."],
        "stage1": ["features.1."],
        "stage2": ["features.2.", "features.3."],
        "stage3": ["features.4.", "features.5."],
        "stage4": ["features.6.", "features.7.", "classifier.0."],
    }


@register_backbone("vit_b_16", "vit_b_16", "heads")
def _vit_stages(model: nn.Module) -> dict[str, list[str]]:
    layers = len(model.encoder.layers)
    per_stage = layers // 4
    stages = {"stem": ["conv_proj.", "class_token", "encoder.pos_embedding"]}
    for s in range(4):
        blocks = range(s * per_stage, layers if s == 3 else (s + 1) * per_stage)
        stages[f"blocks{s + 1}"] = [f"encoder.layers.encoder_layer_{b}." for b in blocks]
    stages["blocks4"].append("encoder.ln.")
    return stages


def load_weights_file(model: nn.Module, path: str | Path, classifier: str) -> None:
    """Load a local state-dict file into ``model``; the classifier's weights are ignored.

    Raises :class:`CheckpointError` listing missing, unexpected and mis-shaped keys.
    """
    path = Path(path).expanduser()
    state = read_state_dict(path, "model.weights")
    own = {k: v for k, v in model.state_dict().items() if not k.startswith(f"{classifier}.")}
    state = {k: v for k, v in state.items() if not k.startswith(f"{classifier}.")}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(state))
        if state[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        parts = []
        for title, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("wrong shape", shapes),
        ):
            if keys:
                more = f" ... (+{len(keys) - _LISTED})" if len(keys) > _LISTED else ""
                parts.append(f"  {title} ({len(keys)}): {', '.join(keys[:_LISTED])}{more}")
        raise CheckpointError(
            f"model.weights: '{path}' does not fit this backbone:\n" + "\n".join(parts) + "\n"
            "Check model.backbone matches the architecture the file was saved from."
        )
    model.load_state_dict(state, strict=False)


def _timm_stages(model: nn.Module) -> dict[str, list[str]]:
    """Stages of a timm model from its coarse ``group_matcher``: each group's modules, named by their
    top-level parts (``conv_stem+bn1``, ``blocks.0``, ``layer1``). One stage where timm has no matcher."""
    from timm.models import group_parameters

    if not hasattr(model, "group_matcher"):
        return {"backbone": [""]}
    groups = group_parameters(model, model.group_matcher(coarse=True))
    stages: dict[str, list[str]] = {}
    for _, names in sorted(groups.items()):
        owners = list(dict.fromkeys(n.rpartition(".")[0] + "." if "." in n else n for n in names))
        stages["+".join(_stage_roots(owners))] = owners
    return stages


def _stage_roots(owners: list[str]) -> list[str]:
    """Readable names of a group of modules: top-level names, with the index of a numbered child
    where the whole group lies in one (``blocks.6``, ``conv_head``)."""
    by_top: dict[str, list[list[str]]] = {}
    for owner in owners:
        parts = owner.rstrip(".").split(".")
        by_top.setdefault(parts[0], []).append(parts)
    roots = []
    for top, paths in by_top.items():
        children = {p[1] for p in paths if len(p) > 1}
        only = children.pop() if len(children) == 1 and all(len(p) > 1 for p in paths) else None
        roots.append(f"{top}.{only}" if only and only.isdigit() else top)
    return roots


def _create_timm(name: str, weights: str | None, **kwargs: Any) -> Backbone:
    import timm
    from timm.data import resolve_model_data_config

    arch = name.removeprefix(TIMM_PREFIX)
    if not timm.is_model(arch):
        raise ConfigError(
            f"model.backbone='{name}': timm has no model '{arch}'. List names with "
            f"python -c \"import timm; print(timm.list_models('*{arch[:6]}*'))\"."
        )
    packaged = weights == "DEFAULT" and arch in PACKAGED
    from_hub = bool(weights) and not packaged and not is_path(weights)
    model_name = timm_model_name(arch, weights) if from_hub else arch
    model = timm.create_model(model_name, pretrained=from_hub, **kwargs)
    data_config = resolve_model_data_config(model)  # timm's own reading of the pretrained config
    mean, std = tuple(data_config["mean"]), tuple(data_config["std"])
    if packaged:
        model.load_state_dict(packaged_state_dict(arch, model.state_dict()))
        mean, std = PACKAGED[arch].mean, PACKAGED[arch].std
    elif weights and is_path(weights):
        load_weights_file(model, weights, model.pretrained_cfg.get("classifier") or "classifier")
    model.reset_classifier(0)
    num_features = getattr(model, "head_hidden_size", None) or model.num_features
    # timm's feature_info lists each feature map's module; the last one is what Grad-CAM explains
    cam_layer = model.feature_info[-1]["module"] if getattr(model, "feature_info", None) else None
    return Backbone(model, num_features, _timm_stages(model), mean, std, cam_layer)


def create_backbone(name: str, weights: str | None = None, **kwargs: Any) -> Backbone:
    """Build backbone ``name`` (registered, or ``timm/<model>``); ``kwargs`` go to the model builder."""
    ensure_available(name, weights)
    if name.startswith(TIMM_PREFIX):
        return _create_timm(name, weights, **kwargs)
    entry = _entry(name)
    file = weights if weights and is_path(weights) else None
    pretrained = None
    if weights and not file:
        pretrained = torchvision.models.get_model_weights(entry.torchvision_name)[weights]
    model = torchvision.models.get_model(entry.torchvision_name, weights=pretrained, **kwargs)
    if file:
        load_weights_file(model, file, entry.classifier)
    parent_name, _, attr = entry.classifier.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    old = getattr(parent, attr)
    num_features = next(m for m in old.modules() if isinstance(m, nn.Linear)).in_features
    setattr(parent, attr, nn.Identity())
    return Backbone(model, num_features, entry.stages(model), cam_layer=entry.cam_layer)


@functools.cache
def has_depthwise_convolutions(name: str) -> bool:
    """Whether backbone ``name`` has depthwise convolutions (EfficientNet, MobileNet, ConvNeXt...),
    read off the model built on the meta device (no weights, no memory). ``False`` for a name that
    cannot be built: building the model itself reports that."""
    try:
        with torch.device("meta"):
            model = create_backbone(name).model
    except Exception:  # a precision hint: building the model names the problem
        return False
    return any(
        isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels for m in model.modules()
    )
