"""fgclass's own Lightning callbacks."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, RichProgressBar
from torchvision.utils import make_grid

from fgclass.data.sampling import derived_seed
from fgclass.evaluation.tensorboard import tensorboard_logger

log = logging.getLogger(__name__)


class SampleGrid(Callback):
    """Log a grid of augmented training images to TensorBoard when training starts.

    Shows exactly what the model is fed (after augmentation), so a broken pipeline is seen at once.
    """

    def __init__(self, num_images: int = 32, seed: int = 0) -> None:
        self.num_images = num_images
        self.seed = seed

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        logger = tensorboard_logger(trainer)
        dataset = getattr(trainer.datamodule, "datasets", {}).get("train")
        if logger is None or dataset is None or len(dataset) == 0:
            return
        generator = torch.Generator().manual_seed(self.seed)
        picks = torch.randperm(len(dataset), generator=generator)[: self.num_images].tolist()
        images = [dataset[i][0] for i in picks]
        if images[0].ndim != 3:  # cached features, not images
            return
        grid = make_grid(torch.stack(images), nrow=8, padding=2)
        logger.experiment.add_image("train/augmented_samples", grid, global_step=0)


def progress_bar(**kwargs: Any) -> RichProgressBar:
    """Lightning's Rich progress bar on a terminal; disabled when output goes to a file or pipe
    (``nohup``, SLURM, CI), where :class:`EpochLog` prints one line per epoch instead."""
    bar = RichProgressBar(**kwargs)
    if not sys.stdout.isatty():
        bar.disable()
    return bar


class EpochLog(Callback):
    """One log line per epoch with every metric logged for it, its duration and the learning rates.

    Goes to the console and the run's ``train.log``, so a run piped to a file shows its progress.
    """

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()
        self._lrs = ""

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        # the rates the epoch trains at: read after every epoch-start hook (fine-tuning phases add
        # param groups there), before the epoch's end, when an epoch-interval scheduler has stepped
        if batch_idx == 0:
            self._lrs = ",".join(f"{g['lr']:.2g}" for opt in trainer.optimizers for g in opt.param_groups)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        values = "  ".join(
            f"{k}={float(v):.4g}"
            for k, v in sorted(trainer.callback_metrics.items())
            if not k.endswith(("_step", "_epoch")) and not k.startswith("lr-")
        )
        log.info(
            "Epoch %d/%d  %s  lr=%s  (%.0f s)",
            trainer.current_epoch + 1,
            trainer.max_epochs,
            values,
            self._lrs,
            time.perf_counter() - self._start,
        )


class EpochSeed(Callback):
    """Reseed torch, NumPy and Python's RNGs from ``(seed, epoch)`` at every training epoch's first
    batch: dropout and MixUp/CutMix then do not depend on what ran before, so a run resumed from an
    epoch's checkpoint continues exactly as the uninterrupted run (data order and augmentation:
    :mod:`fgclass.data.sampling`). At the batch, not the epoch start: a resumed run's loader draws
    from the global RNG at other moments."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if batch_idx == 0:
            L.seed_everything(derived_seed(self.seed, trainer.current_epoch), workers=True, verbose=False)
