"""fgclass's own Lightning callbacks."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, RichProgressBar
from torch.optim.lr_scheduler import ReduceLROnPlateau
from torchvision.utils import make_grid

from fgclass.data.sampling import derived_seed
from fgclass.errors import ConfigError
from fgclass.evaluation.tensorboard import tensorboard_logger
from fgclass.finetune import Finetuning

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

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # why a run ended before max_epochs: Lightning's EarlyStopping and LrFloorStopping keep it here
        if not trainer.is_global_zero:
            return
        for callback in trainer.callbacks:
            reason = getattr(callback, "stopping_reason_message", None)
            if reason:
                log.info(
                    "Stopped after epoch %d of %d: %s", trainer.current_epoch, trainer.max_epochs, reason
                )


class LrFloorStopping(Callback):
    """Stop a run once its plateau schedule has nothing left to give.

    ``ReduceLROnPlateau`` lowers no rate below its ``min_lr``. Once every param group trains at or
    below that floor and the scheduler's monitored metric has not improved on its best by more than
    ``min_delta`` for ``patience`` epochs there, the run stops and says why. ``patience=None`` takes
    the scheduler's patience (at least 1). Does nothing without a plateau scheduler with a floor
    above 0, and while a fine-tuning phase is still to come (it brings new rates).
    """

    def __init__(self, patience: int | None = None, min_delta: float = 0.0) -> None:
        if patience is not None and (not isinstance(patience, int) or patience < 1):
            raise ConfigError(
                f"callbacks.lr_floor_stopping.patience={patience!r}: it is a number of epochs, at least 1 "
                "(null: the plateau scheduler's own patience)."
            )
        self.patience = patience
        self.min_delta = min_delta
        self.best: float | None = None  # the monitored metric's best, over every epoch
        self.wait = 0  # epochs at the floor since it last improved
        self.stopping_reason_message: str | None = None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.fast_dev_run:
            return
        config = next(
            (c for c in trainer.lr_scheduler_configs if isinstance(c.scheduler, ReduceLROnPlateau)), None
        )
        if (
            config is None
            or config.monitor not in trainer.callback_metrics
            or not any(config.scheduler.min_lrs)
        ):
            return
        plateau, floors = config.scheduler, config.scheduler.min_lrs
        current = float(trainer.callback_metrics[config.monitor])
        sign = 1.0 if plateau.mode == "max" else -1.0
        improved = self.best is None or sign * (current - self.best) > self.min_delta
        if improved:
            self.best = current
        # the rates this epoch trained at (the schedulers step after validation); 1e-6 relative
        # tolerance: StepLR's 1e-3 x 0.1 x 0.1 x 0.1 is 1.0000000000000002e-06
        at_floor = all(g["lr"] <= f * (1 + 1e-6) for g, f in zip(plateau.optimizer.param_groups, floors))
        pending = any(
            p.epoch > trainer.current_epoch
            for c in trainer.callbacks
            if isinstance(c, Finetuning)
            for p in c.phases
        )
        self.wait = self.wait + 1 if at_floor and not pending and not improved else 0
        patience = self.patience or max(plateau.patience, 1)
        if trainer.strategy.reduce_boolean_decision(self.wait >= patience, all=False):
            trainer.should_stop = True
            self.stopping_reason_message = (
                f"every learning rate is at the plateau scheduler's floor (min_lr {max(floors):g}) and "
                f"{config.monitor} has not improved on {self.best:.4g} in the {self.wait} epochs there "
                f"(patience {patience})."
            )

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "wait": self.wait}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best, self.wait = state_dict["best"], state_dict["wait"]


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
