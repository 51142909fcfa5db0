"""The learning-rate range test before training (``lr_find.enabled=true``), with Lightning's tuner."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
from lightning.pytorch.tuner import Tuner

from fgclass.evaluation import plots
from fgclass.models.classifier import Classifier
from fgclass.run_files import LR_FIND_PLOT

log = logging.getLogger(__name__)


def find_lr(
    trainer: L.Trainer,
    model: Classifier,
    datamodule: L.LightningDataModule,
    output_dir: str | Path,
    min_lr: float = 1e-6,
    max_lr: float = 1.0,
    num_training: int = 100,
    early_stop_threshold: float | None = 4.0,
) -> float | None:
    """Train ``num_training`` steps at exponentially rising rates (weights restored afterwards), set
    the steepest-descent suggestion as the model's learning rate and save the loss curve
    (``lr_find.png``) into ``output_dir``; ``None`` (rate unchanged) where no suggestion exists."""
    max_epochs = trainer.fit_loop.max_epochs
    trainer.fit_loop.max_epochs = -1  # num_training steps, however few batches an epoch has
    try:
        finder = Tuner(trainer).lr_find(
            model,
            datamodule=datamodule,
            min_lr=min_lr,
            max_lr=max_lr,
            num_training=num_training,
            early_stop_threshold=early_stop_threshold,
            attr_name="lr",
        )
    finally:
        trainer.fit_loop.max_epochs = max_epochs
    if finder is None:
        return None
    suggestion = finder.suggestion()
    plots.save(finder.plot(suggest=suggestion is not None), Path(output_dir) / LR_FIND_PLOT)
    if suggestion is None:
        log.warning("The learning-rate range test found no clear slope; keeping lr %g", model.lr)
    else:
        log.info("Learning-rate range test: lr %g (plot: %s)", suggestion, Path(output_dir) / LR_FIND_PLOT)
    return suggestion
