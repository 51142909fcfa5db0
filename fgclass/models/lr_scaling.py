"""Learning rates that follow the global batch (timm's convention).

A recipe states base rates (``model.optimizer.lr`` and the fine-tuning phases' ``lr``/``head_lr``)
and the global batch it tuned them at (``model.lr_base_size``). A run whose global batch
(``data.batch_size`` x devices x nodes x ``trainer.accumulate_grad_batches``) differs trains at
every base rate x :func:`lr_factor`: the batch ratio (``linear``), its square root (``sqrt``) or 1
(``none``). So ``butterfly_best`` on 8 GPUs is the recipe it is on one device.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import lightning as L

from fgclass.errors import ConfigError

log = logging.getLogger(__name__)

LR_BASE_SCALES = ("linear", "sqrt", "none")
_SQRT_FAMILIES = ("ada", "lamb")  # Adam, AdamW, NAdam, RAdam, Adagrad, Lamb: sqrt, as in timm
LR_RECORD = ("global_batch", "lr_scale", "effective_lr")  # hyper-parameters a run records
DEFAULT_OPTIMIZER = {"_target_": "torch.optim.Adam", "lr": 1e-3}


def check_lr_settings(lr_base_size: int | None, lr_base_scale: str | None) -> None:
    """Refuse a base size that is not a positive whole number and an unknown scaling rule."""
    if lr_base_scale is not None and lr_base_scale not in LR_BASE_SCALES:
        raise ConfigError(
            f"model.lr_base_scale={lr_base_scale}: use linear, sqrt or none (or null: sqrt for "
            "Adam-family optimizers, linear for SGD and others)."
        )
    if lr_base_size is not None and (type(lr_base_size) is not int or lr_base_size < 1):
        raise ConfigError(
            f"model.lr_base_size={lr_base_size}: use the global batch the learning rates were tuned at, "
            "a whole number >= 1 (e.g. 32: data.batch_size=32 on one device), or null."
        )


def lr_rule(lr_base_scale: str | None, optimizer_target: str) -> str:
    """The scaling rule: ``lr_base_scale`` if set, else sqrt for Adam-family optimizers and linear
    for the others (``optimizer_target``: the optimizer's ``_target_``, e.g. ``torch.optim.AdamW``)."""
    if lr_base_scale is not None:
        return lr_base_scale
    name = optimizer_target.rsplit(".", 1)[-1].lower()
    return "sqrt" if any(family in name for family in _SQRT_FAMILIES) else "linear"


def lr_factor(global_batch: int, lr_base_size: int | None, rule: str, world_size: int = 1) -> float:
    """What every base learning rate is multiplied by at ``global_batch``.

    Without ``lr_base_size`` the rates are not scaled, which on more than one process
    (``world_size``) would silently train another recipe: a :class:`ConfigError` says what to set.
    """
    if rule == "none":
        return 1.0
    if lr_base_size is None:
        if world_size > 1:
            raise ConfigError(
                f"{world_size} processes train on a global batch of {global_batch}, but "
                "model.lr_base_size (the global batch the learning rates were tuned at) is not set, "
                f"so the rates would not follow the {world_size}x larger batch. Set it, e.g. "
                "model.lr_base_size=32 for rates tuned with data.batch_size=32 on one device, or "
                "model.lr_base_scale=none to keep the rates as they are."
            )
        return 1.0
    ratio = global_batch / lr_base_size
    return ratio if rule == "linear" else math.sqrt(ratio)


def describe(
    effective_lr: float, factor: float, rule: str, global_batch: int, lr_base_size: int | None
) -> str:
    """One log line: the rate a fit starts at, and where it comes from."""
    if lr_base_size is None or rule == "none":
        reason = "model.lr_base_scale=none" if rule == "none" else "model.lr_base_size is not set"
        return f"Learning rate {effective_lr:g} at global batch {global_batch}, not scaled ({reason})."
    return (
        f"Learning rate {effective_lr:g} at global batch {global_batch}: base rate x {factor:.4g} "
        f"({rule} rule, tuned at model.lr_base_size={lr_base_size}); fine-tuning phase rates x {factor:.4g} "
        "too."
    )


class ScaledLearningRate:
    """The Classifier's learning rates (a LightningModule mixin): ``lr``, the rate its optimizer is
    built with, is the base rate ``hparams.optimizer.lr`` x ``lr_scale``; :meth:`scale_lr` sets the
    factor (fine-tuning strategies multiply their phase rates by it too). A run records
    ``global_batch``, ``lr_scale`` and ``effective_lr`` in ``hparams`` and its checkpoints."""

    hparams: Any
    trainer: L.Trainer
    lr_scale = 1.0

    def optimizer_config(self) -> dict[str, Any]:
        """The optimizer's Hydra config (``_target_``, base ``lr``, ...)."""
        return dict(self.hparams.optimizer or DEFAULT_OPTIMIZER)

    @property
    def lr(self) -> float:
        """The rate the optimizer gets: the base rate x ``lr_scale``. The learning-rate range test sets
        it (found at this run's global batch); the base rate that gives it is stored."""
        return float(self.optimizer_config()["lr"]) * self.lr_scale

    @lr.setter
    def lr(self, value: float) -> None:
        self.hparams.optimizer = {**self.optimizer_config(), "lr": float(value) / self.lr_scale}

    def scale_lr(self, batch_size: int, trainer: L.Trainer) -> float:
        """Make every rate follow the global batch (``batch_size`` per process x processes x
        accumulated batches) by ``lr_base_size`` and ``lr_base_scale``; returns the factor."""
        global_batch = batch_size * trainer.world_size * trainer.accumulate_grad_batches
        rule = lr_rule(self.hparams.lr_base_scale, self.optimizer_config()["_target_"])
        self.lr_scale = lr_factor(global_batch, self.hparams.lr_base_size, rule, trainer.world_size)
        self.hparams.update(global_batch=global_batch, lr_scale=self.lr_scale)
        return self.lr_scale

    def on_fit_start(self) -> None:
        self.hparams.effective_lr = self.lr  # after any learning-rate range test
        if self.trainer.is_global_zero and "global_batch" in self.hparams:
            rule = lr_rule(self.hparams.lr_base_scale, self.optimizer_config()["_target_"])
            log.info(
                describe(self.lr, self.lr_scale, rule, self.hparams.global_batch, self.hparams.lr_base_size)
            )

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Lightning restores the __init__ arguments only; reports also read the run's batch and rate
        saved = checkpoint.get("hyper_parameters", {})
        for key in LR_RECORD:
            if key in saved and key not in self.hparams:  # (a resumed run has its own)
                self.hparams[key] = saved[key]
        self.lr_scale = self.hparams.get("lr_scale", self.lr_scale)
