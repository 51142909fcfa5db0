"""Load a trained fgclass classifier from its checkpoint (which carries its weights, class names and
preprocessing), or explain why a file is not one: the one reader of checkpoints for ``train`` (to
resume), ``eval``, ``predict`` and ``export``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fgclass.errors import CheckpointError, ConfigError
from fgclass.models.checkpoint import read_torch_file
from fgclass.models.classifier import Classifier
from fgclass.run_files import CHECKPOINT_DIR, LAST_CHECKPOINT

_FIX = "Use a .ckpt from an fgclass run's checkpoints/ folder (python -m fgclass.train writes them)."


def read_checkpoint(ckpt_path: str | Path | None, key: str = "ckpt_path") -> dict[str, Any]:
    """The fgclass checkpoint at ``ckpt_path``, read safely (``weights_only=True``), or a
    :class:`CheckpointError` naming ``key`` (the setting the path came from) and saying why it is not
    one: not set, not found, empty, a text file, objects a safe load refuses, no Classifier in it."""
    if not ckpt_path:
        raise CheckpointError(
            f"{key} is not set: pass {key}=outputs/runs/<run>/checkpoints/<file>.ckpt "
            "(a checkpoint written by python -m fgclass.train)."
        )
    checkpoint = read_torch_file(ckpt_path, key, "PyTorch checkpoint", _FIX)
    hparams = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
    if not hparams or "class_names" not in hparams or "state_dict" not in checkpoint:
        raise CheckpointError(
            f"{key}: '{Path(ckpt_path).expanduser()}' is not an fgclass checkpoint (no Classifier "
            f"hyper-parameters). {_FIX}"
        )
    return checkpoint


def load_classifier(ckpt_path: str | Path | None, key: str = "ckpt_path") -> Classifier:
    """Load an fgclass checkpoint on the CPU, in eval mode, or explain why the file is not one
    (:func:`read_checkpoint`; also weights that do not fit the model its hyper-parameters describe)."""
    read_checkpoint(ckpt_path, key)
    path = Path(str(ckpt_path)).expanduser()
    try:
        model = Classifier.load_from_checkpoint(path, map_location="cpu", weights_only=True)
    except RuntimeError as exc:  # load_state_dict: missing, unexpected or mis-shaped weights
        if "state_dict" not in str(exc):
            raise
        raise CheckpointError(
            f"{key}: the weights in '{path}' do not fit the model its hyper-parameters describe "
            f"({str(exc).splitlines()[0]}); the file was changed after training. {_FIX}"
        ) from exc
    return model.eval()


def resume_hyperparameters(ckpt_path: str | Path, key: str = "ckpt_path") -> dict[str, Any]:
    """The hyper-parameters of the checkpoint a training run resumes from, after checking that it can
    resume one: a full fgclass checkpoint (weights, optimizer and loop states, as in ``last.ckpt``)."""
    path = Path(ckpt_path).expanduser()
    if not path.is_file():
        raise CheckpointError(
            f"{key}: '{ckpt_path}' not found; resume from a file in a run's {CHECKPOINT_DIR}/ folder "
            f"(e.g. {key}=outputs/runs/<run>/{CHECKPOINT_DIR}/{LAST_CHECKPOINT})."
        )
    checkpoint = read_checkpoint(path, key)
    if "optimizer_states" not in checkpoint:
        raise CheckpointError(
            f"{key}: '{path}' holds the model's weights only (the best-epoch checkpoints are saved so), "
            f"not the optimizer and epoch that training resumes: resume from {LAST_CHECKPOINT} in the "
            "same folder."
        )
    return dict(checkpoint["hyper_parameters"])


def check_same_classes(
    checkpoint_classes: Sequence[str], data_classes: Sequence[str], fix: str, key: str = "ckpt_path"
) -> None:
    """Fail unless the checkpoint's classes are the data's, in the same order (a class index means the
    same class in both); the message counts both, names the differences and says ``fix``."""
    if list(checkpoint_classes) == list(data_classes):
        return
    only_model = sorted(set(checkpoint_classes) - set(data_classes))
    only_data = sorted(set(data_classes) - set(checkpoint_classes))
    difference = (
        f"only in the checkpoint: {only_model}, only in the data: {only_data}"
        if only_model or only_data
        else "the same classes in another order"
    )
    raise CheckpointError(
        f"{key}: the checkpoint knows {len(checkpoint_classes)} classes, the data has {len(data_classes)} "
        f"({difference}). {fix}"
    )


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
