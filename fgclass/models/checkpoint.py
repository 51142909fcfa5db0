"""Read PyTorch files safely (``weights_only=True``): checkpoints, and weight files as state dicts,
with a message naming the setting when a file is missing or unreadable."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from fgclass.errors import CheckpointError
from fgclass.files import atomic_write


def read_torch_file(path: str | Path, key: str, what: str = "PyTorch checkpoint") -> Any:
    """``torch.load`` of ``path`` on the CPU with ``weights_only=True`` (no code runs from the file);
    a missing or unreadable file is a :class:`CheckpointError` naming the setting ``key``."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"{key}: '{path}' not found.")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{key}: '{path}' is not a readable {what} ({exc}).") from exc


def read_state_dict(path: str | Path, key: str) -> dict[str, torch.Tensor]:
    """The state dict in a weights file (``.pth``/``.pt``/``.bin``/``.safetensors``, bare or under
    ``state_dict``/``model``, DDP and ``torch.compile`` prefixes removed), read by timm's loader."""
    from timm.models import load_state_dict

    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"{key}: '{path}' not found.")
    try:
        state = load_state_dict(str(path), use_ema=False)
    except Exception as exc:
        raise CheckpointError(f"{key}: '{path}' is not a readable weights file ({exc}).") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} does not contain a state dict (a mapping of names to tensors).")
    return state


def update_hyperparameters(path: str | Path, **values: Any) -> None:
    """Set ``values`` among a Lightning checkpoint's hyper-parameters (e.g. the calibration
    temperature fitted after it was saved), rewriting the file atomically."""
    checkpoint = read_torch_file(path, "checkpoint")
    checkpoint.setdefault("hyper_parameters", {}).update(values)
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    atomic_write(path, buffer.getvalue())
