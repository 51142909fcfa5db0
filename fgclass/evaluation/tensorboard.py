"""Reading the scalars a run logged, and writing figures, text and hparams to TensorBoard."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from matplotlib.figure import Figure
from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

# logged tag -> name in the history: epoch-level training values, per-epoch validation values
logging.getLogger("tensorboard").setLevel(logging.WARNING)  # its reader logs every file it opens
CURVE_TAGS = {
    "train/loss_epoch": "train/loss",
    "train/acc": "train/acc",
    "val/loss": "val/loss",
    "val/acc": "val/acc",
}


def read_scalars(event_dir: str | Path) -> dict[str, list[float]]:
    """Every scalar series logged under ``event_dir``, in step order, read with TensorBoard's reader."""
    accumulator = EventAccumulator(str(event_dir), size_guidance={SCALARS: 0})
    accumulator.Reload()
    return {tag: [e.value for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()[SCALARS]}


def read_history(event_dir: str | Path) -> dict[str, list[float]]:
    """Per-epoch train/val loss and accuracy, as logged."""
    scalars = read_scalars(event_dir)
    return {name: scalars[tag] for tag, name in CURVE_TAGS.items() if tag in scalars}


def tensorboard_logger(trainer: L.Trainer) -> TensorBoardLogger | None:
    """The trainer's TensorBoard logger, if it has one."""
    return next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)


def add_figure(trainer: L.Trainer, tag: str, figure: Figure) -> None:
    """Log ``figure`` as an image at the current global step (no-op without TensorBoard)."""
    logger = tensorboard_logger(trainer)
    if logger is not None:
        logger.experiment.add_figure(tag, figure, global_step=trainer.global_step, close=False)


def add_text(trainer: L.Trainer, tag: str, text: str) -> None:
    """Log Markdown ``text`` (no-op without TensorBoard)."""
    logger = tensorboard_logger(trainer)
    if logger is not None:
        logger.experiment.add_text(tag, text, global_step=trainer.global_step)


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists become strings (HParams takes scalars only)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif value is None or isinstance(value, (bool, int, float, str)):
            flat[name] = "None" if value is None else value
        else:
            flat[name] = str(value)
    return flat


def log_hparams(trainer: L.Trainer, params: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
    """Write hyper-parameters with final metrics, so runs line up in TensorBoard's HParams tab."""
    logger = tensorboard_logger(trainer)
    if logger is not None:
        logger.log_hyperparams(flatten(params), metrics=dict(metrics))
