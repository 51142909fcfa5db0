"""Read PyTorch files safely (``weights_only=True``): checkpoints, and weight files as state dicts,
with a message naming the setting when a file is missing or unreadable."""

from __future__ import annotations

import io
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from fgclass.errors import CheckpointError
from fgclass.files import atomic_write


def unreadable(path: Path, exc: Exception) -> str:
    """Why loading ``path`` failed with ``exc``, in words: an empty file, a text file, not a file that
    ``torch.save`` writes, objects that a safe load refuses, a damaged file."""
    if path.stat().st_size == 0:
        return "it is empty (0 bytes)"
    head = path.read_bytes()[:512]
    try:
        if b"\0" not in head and head.decode("utf-8"):
            return "it is a text file"
    except UnicodeDecodeError:
        pass
    first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if path.suffix == ".safetensors":
        return f"it is damaged or not a safetensors file ({first_line})"
    if not zipfile.is_zipfile(path):
        return "torch.save did not write it (it is no zip archive)"
    if isinstance(exc, pickle.UnpicklingError):
        refused = re.search(r"GLOBAL (\S+)", str(exc))
        return (
            "it holds Python objects that a safe load refuses"
            + (f" ({refused.group(1)})" if refused else "")
            + ", as loading them could run code (fgclass loads with weights_only=True)"
        )
    return f"it is damaged or truncated ({first_line})"


def read_torch_file(path: str | Path, key: str, what: str = "PyTorch checkpoint", fix: str = "") -> Any:
    """``torch.load`` of ``path`` on the CPU with ``weights_only=True`` (no code runs from the file);
    a missing or unreadable file is a :class:`CheckpointError` naming the setting ``key``, saying why
    (:func:`unreadable`) and ``fix``."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"{key}: '{path}' not found. {fix}".rstrip())
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        message = f"{key}: '{path}' cannot be read as a {what}: {unreadable(path, exc)}. {fix}"
        raise CheckpointError(message.rstrip()) from exc


def read_state_dict(path: str | Path, key: str) -> dict[str, torch.Tensor]:
    """The state dict in a weights file (``.pth``/``.pt``/``.bin``/``.safetensors``, bare or under
    ``state_dict``/``model``, DDP and ``torch.compile`` prefixes removed), read by timm's loader."""
    from timm.models import load_state_dict

    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"{key}: '{path}' not found.")
    try:
        state = load_state_dict(str(path), use_ema=False, weights_only=True)
    except Exception as exc:
        reason = unreadable(path, exc)
        raise CheckpointError(f"{key}: '{path}' cannot be read as a weights file: {reason}.") from exc
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
