"""Load a trained fgclass classifier from its checkpoint (which carries its weights, class names and
preprocessing), or explain why a file is not one."""

from __future__ import annotations

from pathlib import Path

from fgclass.errors import CheckpointError, ConfigError
from fgclass.models.checkpoint import read_torch_file
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
    checkpoint = read_torch_file(ckpt_path, key)
    hparams = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
    if not hparams or "class_names" not in hparams or "state_dict" not in checkpoint:
        raise CheckpointError(
            f"{key}: '{Path(ckpt_path).expanduser()}' is not an fgclass checkpoint (no Classifier "
            "hyper-parameters). Use a .ckpt from an fgclass run's checkpoints/ folder."
        )
    return Classifier.load_from_checkpoint(Path(ckpt_path).expanduser(), map_location="cpu").eval()


def input_size(
    model: Classifier, image_size: int | None = None, resize_size: int | None = None
) -> tuple[int, int]:
    """``(image_size, resize_size)`` of the eval preprocessing: given values, else the checkpoint's."""
    image_size = image_size or model.hparams.get("image_size")
    resize_size = resize_size or model.hparams.get("resize_size")
    if not image_size or not resize_size:
        raise ConfigError(
            "The checkpoint does not record its input size (it predates fgclass storing it): pass the "
            "run's data.image_size and data.resize_size as image_size=224 resize_size=256."
        )
    return int(image_size), int(resize_size)
