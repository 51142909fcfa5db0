"""Backbones by name: a registry of torchvision models with their classifier removed.

Each entry builds the network, says how many features it outputs and lists its *stages*, the
parameter groups that fine-tuning strategies freeze and unfreeze, from input to output.

``weights`` is ``None`` (random init), a torchvision weights name (``"IMAGENET1K_V2"``,
``"DEFAULT"``; torchvision downloads them on first use) or a path to a local state-dict file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

from fgclass.errors import CheckpointError, ConfigError

_LISTED = 10


@dataclass
class Backbone:
    """A feature extractor: ``model(x)`` returns ``(N, num_features)``.

    ``stages`` maps a stage name to the parameter-name prefixes it owns, ordered input to output.
    """

    model: nn.Module
    num_features: int
    stages: dict[str, list[str]]


@dataclass(frozen=True)
class _Entry:
    torchvision_name: str
    classifier: str  # attribute path of the layer replaced by Identity
    stages: Callable[[nn.Module], dict[str, list[str]]]


_REGISTRY: dict[str, _Entry] = {}


def register_backbone(name: str, torchvision_name: str, classifier: str) -> Callable:
    """Decorator: register a function ``model -> stages`` under ``name``."""

    def wrap(stages: Callable[[nn.Module], dict[str, list[str]]]) -> Callable:
        _REGISTRY[name] = _Entry(torchvision_name, classifier, stages)
        return stages

    return wrap


def available_backbones() -> list[str]:
    """Registered backbone names."""
    return sorted(_REGISTRY)


def _resnet_stages(model: nn.Module) -> dict[str, list[str]]:
    return {
        "stem": ["conv1.", "bn1."],
        **{f"layer{i}": [f"layer{i}."] for i in range(1, 5)},
    }


for _depth in (18, 34, 50, 101):
    register_backbone(f"resnet{_depth}", f"resnet{_depth}", "fc")(_resnet_stages)


@register_backbone("efficientnet_b0", "efficientnet_b0", "classifier.1")
def _efficientnet_stages(model: nn.Module) -> dict[str, list[str]]:
    blocks = len(model.features)
    return {
        "stem": ["features.0."],
        **{f"stage{i}": [f"features.{i}."] for i in range(1, blocks - 1)},
        "top": [f"features.{blocks - 1}."],
    }


@register_backbone("convnext_tiny", "convnext_tiny", "classifier.2")
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


def _is_path(weights: str) -> bool:
    path = Path(weights).expanduser()
    return "/" in weights or path.suffix in {".pth", ".pt", ".bin", ".ckpt"} or path.exists()


def _extract_state_dict(loaded: Any, path: Path) -> dict[str, torch.Tensor]:
    for key in ("state_dict", "model"):
        if isinstance(loaded, dict) and isinstance(loaded.get(key), dict):
            loaded = loaded[key]
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise CheckpointError(f"{path} does not contain a state dict (a mapping of names to tensors).")
    return {k.removeprefix("module."): v for k, v in loaded.items()}


def load_weights_file(model: nn.Module, path: str | Path, classifier: str) -> None:
    """Load a local state-dict file into ``model``; the classifier's weights are ignored.

    Raises :class:`CheckpointError` listing missing, unexpected and mis-shaped keys.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"model.weights: file '{path}' not found.")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"model.weights: cannot load '{path}' as a weights file: {exc}") from exc
    state = _extract_state_dict(loaded, path)
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


def _pretrained(torchvision_name: str, weights: str) -> Any:
    available = torchvision.models.get_model_weights(torchvision_name)
    try:
        return available[weights]
    except KeyError:
        options = ", ".join(available.__members__)  # DEFAULT is among them, an alias of the best
        raise ConfigError(
            f"model.weights='{weights}' is neither a file path nor a torchvision weights name for "
            f"{torchvision_name}. Known names: {options}."
        ) from None


def create_backbone(name: str, weights: str | None = None, **kwargs: Any) -> Backbone:
    """Build the registered backbone ``name``; extra ``kwargs`` go to the torchvision builder."""
    if name not in _REGISTRY:
        raise ConfigError(
            f"model.backbone='{name}' is unknown. Available: {', '.join(available_backbones())}."
        )
    entry = _REGISTRY[name]
    pretrained = _pretrained(entry.torchvision_name, weights) if weights and not _is_path(weights) else None
    model = torchvision.models.get_model(entry.torchvision_name, weights=pretrained, **kwargs)
    if weights and _is_path(weights):
        load_weights_file(model, weights, entry.classifier)
    parent_name, _, attr = entry.classifier.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    old = getattr(parent, attr)
    num_features = next(m for m in old.modules() if isinstance(m, nn.Linear)).in_features
    setattr(parent, attr, nn.Identity())
    return Backbone(model, num_features, entry.stages(model))
