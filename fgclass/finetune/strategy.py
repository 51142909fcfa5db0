"""Freeze/unfreeze schedules for the backbone, built on Lightning's ``BaseFinetuning``.

One callback covers every strategy in ``conf/finetune/``: ``head_only`` (frozen throughout),
``two_stage`` (head first, then everything) and ``gradual`` (stages unfrozen top-down on
schedule). ``full`` needs no callback.

Frozen means frozen: parameters get no gradient, and normalisation layers of frozen stages stay
in eval mode, so their running statistics do not drift (Lightning's ``freeze(train_bn=True)``
default would keep training them). With ``freeze_bn_stats`` they stay in eval mode after their
stage unfreezes too: the running statistics the head was fitted on are kept, while their scale and
shift train with the rest of the stage.

Under multi-process strategies (DDP), parameters must not change ``requires_grad`` after the
model is wrapped. There (``freeze_mode: auto`` or ``zero_lr``) frozen stages instead stay in the
optimizer with learning rate 0 until their phase starts; they still cost a backward pass.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import BaseFinetuning
from lightning.pytorch.strategies import ParallelStrategy
from torch.optim import Optimizer

from fgclass.errors import ConfigError
from fgclass.finetune.param_groups import add_group, set_group_lr, sync_schedulers
from fgclass.models.classifier import Classifier

log = logging.getLogger(__name__)
FREEZE_MODES = ("auto", "requires_grad", "zero_lr")
# frozen BatchNorm layers are in eval mode on purpose; Lightning warns about any at fit start
warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode at the start of training")


@dataclass(frozen=True)
class Phase:
    """At the start of ``epoch``, unfreeze ``unfreeze`` stages with learning rate ``lr``.

    ``unfreeze`` is ``"all"``, a number of still-frozen stages counted from the top, or a list of
    stage names. ``head_lr``, if given, becomes the head's learning rate from then on. Both are base
    rates: they train at x the Classifier's ``lr_scale``, as its optimizer's rate does (the rates
    follow the global batch, :mod:`fgclass.models.lr_scaling`).
    """

    epoch: int
    lr: float
    unfreeze: str | int | Sequence[str] = "all"
    head_lr: float | None = None


def frozen_throughout(callback: Mapping[str, Any] | None) -> bool:
    """Whether a ``finetune.callback`` config keeps the whole backbone frozen for the whole run
    (``head_only``: frozen at the start and no phase that unfreezes it)."""
    return bool(callback and callback.get("freeze_backbone", True) and not callback.get("phases"))


class Finetuning(BaseFinetuning):
    """Start with the backbone frozen (``freeze_backbone``) and apply ``phases`` on schedule;
    ``freeze_bn_stats`` keeps every BatchNorm layer on its running statistics throughout."""

    def __init__(
        self,
        freeze_backbone: bool = True,
        phases: Sequence[Mapping[str, Any] | Phase] = (),
        freeze_mode: str = "auto",
        freeze_bn_stats: bool = False,
    ) -> None:
        super().__init__()
        if freeze_mode not in FREEZE_MODES:
            raise ConfigError(f"finetune.freeze_mode='{freeze_mode}': use one of {FREEZE_MODES}.")
        self.freeze_backbone = freeze_backbone
        self.phases = sorted(
            (p if isinstance(p, Phase) else Phase(**p) for p in phases), key=lambda p: p.epoch
        )
        self.freeze_mode = freeze_mode
        self.zero_lr = freeze_mode == "zero_lr"
        self.freeze_bn_stats = freeze_bn_stats
        self._applied: list[int] = []
        self._frozen: set[str] = set()
        self._restored_frozen: set[str] | None = None

    # --- checkpoint state ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["applied_phases"] = list(self._applied)
        state["frozen_stages"] = sorted(self._frozen)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._applied = list(state_dict.get("applied_phases", []))
        self._restored_frozen = set(state_dict.get("frozen_stages", []))

    # --- hooks -------------------------------------------------------------------------------
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.freeze_mode == "auto":
            self.zero_lr = isinstance(trainer.strategy, ParallelStrategy)
        super().setup(trainer, pl_module, stage)

    def freeze_before_training(self, pl_module: L.LightningModule) -> None:
        if not isinstance(pl_module, Classifier):
            raise TypeError("Finetuning works with fgclass.models.Classifier modules.")
        for phase in self.phases:
            self._resolve(phase.unfreeze, pl_module, set(pl_module.stages))
        self._set_frozen(pl_module, set(pl_module.stages) if self.freeze_backbone else set())

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_fit_start(trainer, pl_module)  # on resume: restores the added param groups
        if self._restored_frozen is not None:
            self._set_frozen(pl_module, self._restored_frozen)
            self._restored_frozen = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # scheduler states restored from a checkpoint are sized for the groups at saving time; and a
        # scheduler that cannot follow the coming phases is refused now, not epochs into the run
        if self.phases:
            for optimizer in trainer.optimizers:
                sync_schedulers(trainer, optimizer)

    def finetune_function(self, pl_module: L.LightningModule, epoch: int, optimizer: Optimizer) -> None:
        trainer = pl_module.trainer
        scale = pl_module.lr_scale
        for index, phase in enumerate(self.phases):
            if index in self._applied or phase.epoch > epoch:
                continue
            stages = self._resolve(phase.unfreeze, pl_module, pl_module.frozen_stages)
            self._set_frozen(pl_module, pl_module.frozen_stages - set(stages))
            params = pl_module.stage_parameters()
            lr = phase.lr * scale
            for stage in stages:
                if self.zero_lr:
                    set_group_lr(trainer, optimizer, f"backbone.{stage}", lr)
                else:
                    add_group(trainer, optimizer, f"backbone.{stage}", params[stage], lr)
            if phase.head_lr is not None:
                set_group_lr(trainer, optimizer, "head", phase.head_lr * scale)
            self._applied.append(index)
            log.info("Epoch %d: unfroze %s at lr %g", epoch, ", ".join(stages) or "nothing", lr)

    # --- helpers -------------------------------------------------------------------------------
    def _set_frozen(self, pl_module: Classifier, frozen: set[str]) -> None:
        self._frozen = set(frozen)
        pl_module.frozen_stages = set(frozen)
        pl_module.keep_frozen_in_optimizer = self.zero_lr
        pl_module.frozen_bn_stats = self.freeze_bn_stats
        for stage, params in pl_module.stage_parameters().items():
            for param in params:
                param.requires_grad = self.zero_lr or stage not in frozen
        pl_module.train(pl_module.training)  # re-applies eval mode to frozen normalisation layers

    @staticmethod
    def _resolve(unfreeze: str | int | Sequence[str], pl_module: Classifier, frozen: set[str]) -> list[str]:
        order = [s for s in pl_module.stages if s in frozen]
        if unfreeze == "all":
            return order
        if isinstance(unfreeze, int):
            return order[len(order) - unfreeze :] if unfreeze > 0 else []
        unknown = [s for s in unfreeze if s not in pl_module.stages]
        if unknown:
            raise ConfigError(
                f"finetune phases name unknown stages {unknown}; the backbone's stages are "
                f"{list(pl_module.stages)} (or use 'all' or a number of stages from the top)."
            )
        return [s for s in order if s in unfreeze]
