"""Reading the scalars a run logged, and writing figures, text and hparams to TensorBoard."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

from fgclass.metrics import ACCURACY, LOSS

logging.getLogger("tensorboard").setLevel(logging.WARNING)  # its reader logs every file it opens
# logged tag -> name in the history: epoch-level training values, per-epoch validation values
CURVE_TAGS = {
    f"train/{LOSS}_epoch": f"train/{LOSS}",
    f"train/{ACCURACY}": f"train/{ACCURACY}",
    f"val/{LOSS}": f"val/{LOSS}",
    f"val/{ACCURACY}": f"val/{ACCURACY}",
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


def add_image(trainer: L.Trainer, tag: str, pixels: np.ndarray) -> None:
    """Log RGB ``pixels`` (height, width, 3) as an image at the current global step (no-op without
    TensorBoard)."""
    logger = tensorboard_logger(trainer)
    if logger is not None:
        logger.experiment.add_image(tag, pixels, global_step=trainer.global_step, dataformats="HWC")


def add_scalars(trainer: L.Trainer, values: Mapping[str, float]) -> None:
    """Log final values (e.g. noise accuracies) at the current global step (no-op without TensorBoard)."""
    logger = tensorboard_logger(trainer)
    if logger is not None:
        logger.log_metrics(dict(values), trainer.global_step)


def add_text(trainer: L.Trainer, tag: str, text: str) -> None:
    """Log Markdown ``text`` (no-op without TensorBoard)."""
    logger = tensorboard_logger(trainer)
    if logger is not None:
        logger.experiment.add_text(tag, text, global_step=trainer.global_step)


def log_hparams(trainer: L.Trainer, params: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
    """Write the run's settings with its final metrics, so runs line up in TensorBoard's HParams tab.

    ``params`` are flat (``fgclass.app.hparams_summary``); ``metrics`` name scalars already logged
    (the module's ``test/*``, the noise accuracies), which the tab shows beside the settings.
    """
    from torch.utils.tensorboard.summary import hparams

    logger = tensorboard_logger(trainer)
    if logger is None or not trainer.is_global_zero:
        return
    values = {k: "None" if v is None else v for k, v in params.items()}
    for summary in hparams(values, dict(metrics)):
        logger.experiment.file_writer.add_summary(summary, trainer.global_step)
