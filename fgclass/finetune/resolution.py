"""Progressive resizing: low-resolution training batches early, the full size at the end.

As in FFCV's ImageNet recipes, the training side grows linearly from ``start_size`` at the first
epoch to the data module's ``train_image_size`` at ``full_at_epoch``, in steps of ``step`` pixels,
and stays there; validation and test always run at ``data.image_size``. The loader still crops at
``train_image_size``; the :class:`~fgclass.models.Classifier` resizes each training batch to the
epoch's side (bilinear, antialiased), so the saving is in the forward and backward passes, which
dominate a step on a CPU.
"""

from __future__ import annotations

import logging

import lightning as L
from lightning.pytorch.callbacks import Callback

from fgclass.errors import ConfigError
from fgclass.models.classifier import Classifier

log = logging.getLogger(__name__)


class ProgressiveResizing(Callback):
    """Sets :attr:`Classifier.train_resolution` at the start of every training epoch.

    Args:
        start_size: training side at epoch 0.
        full_at_epoch: first epoch trained at the full ``train_image_size``.
        step: sizes are multiples of this (32: the backbones' total stride).
    """

    def __init__(self, start_size: int = 128, full_at_epoch: int = 5, step: int = 32) -> None:
        if start_size < step or step < 1 or full_at_epoch < 0:
            raise ConfigError(
                f"callbacks.progressive_resizing: start_size={start_size}, step={step}, "
                f"full_at_epoch={full_at_epoch}; use step >= 1, start_size >= step and full_at_epoch >= 0."
            )
        self.start_size = start_size
        self.full_at_epoch = full_at_epoch
        self.step = step

    def size(self, epoch: int, full: int) -> int:
        """The training side of ``epoch`` when the full side is ``full``."""
        if epoch >= self.full_at_epoch or self.start_size >= full:
            return full
        grown = self.start_size + (full - self.start_size) * epoch / self.full_at_epoch
        return min(full, int(grown) // self.step * self.step)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        full = getattr(trainer.datamodule, "train_image_size", None)
        if not isinstance(pl_module, Classifier) or full is None:
            return
        side = self.size(trainer.current_epoch, full)
        pl_module.train_resolution = side if side != full else None
        pl_module.log("train/resolution", float(side), on_step=False, on_epoch=True)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if isinstance(pl_module, Classifier):
            pl_module.train_resolution = None
