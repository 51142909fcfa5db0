"""Load an fgclass checkpoint anywhere: it carries its weights, class names and preprocessing."""

from __future__ import annotations

from pathlib import Path

import torch

from fgclass.errors import CheckpointError
from fgclass.models.classifier import Classifier


def load_classifier(ckpt_path: str | Path | None, key: str = "ckpt_path") -> Classifier:
    """Load an fgclass checkpoint on the CPU, in eval mode, or explain why the file is not one.

    ``key`` names the setting the path came from, for the error message.
    """
    if not ckpt_path:
        raise CheckpointError(
            f"{key} is not set: pass {key}=outputs/runs/<run>/checkpoints/<file>.ckpt "
            "(a checkpoint written by python -m fgclass.train)."
        )
    path = Path(ckpt_path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"{key}: '{path}' not found.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{key}: '{path}' is not a readable PyTorch checkpoint ({exc}).") from exc
    hparams = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
    if not hparams or "class_names" not in hparams or "state_dict" not in checkpoint:
        raise CheckpointError(
            f"{key}: '{path}' is not an fgclass checkpoint (no Classifier hyper-parameters). "
            "Use a .ckpt from an fgclass run's checkpoints/ folder."
        )
    return Classifier.load_from_checkpoint(path, map_location="cpu").eval()
