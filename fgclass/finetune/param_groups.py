"""Keep an optimizer's param groups and its LR schedulers consistent while groups change.

Torch schedulers size their per-group state (``base_lrs``, ``lr_lambdas``, ``min_lrs``) when
built. A group added later is then silently left out of the schedule (``zip`` truncates) or makes
``ReduceLROnPlateau`` fail. These helpers extend that state, public attributes only, whenever a
group is added or re-set. Schedulers that wrap others (``SequentialLR``, ``ChainedScheduler``) keep
their children private, so they are refused with a clear message instead.
"""

from __future__ import annotations

import lightning as L
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import ChainedScheduler, ReduceLROnPlateau, SequentialLR

from fgclass.errors import ConfigError


def sync_schedulers(trainer: L.Trainer, optimizer: Optimizer) -> None:
    """Extend every scheduler of ``optimizer`` to cover all of its current param groups."""
    groups = optimizer.param_groups
    for group in groups:
        group.setdefault("initial_lr", group["lr"])
    for config in trainer.lr_scheduler_configs:
        scheduler = config.scheduler
        if isinstance(scheduler, (SequentialLR, ChainedScheduler)):
            raise ConfigError(
                f"the learning-rate scheduler {type(scheduler).__name__} wraps other schedulers, "
                "which cannot follow the param groups that unfreezing adds. Use one scheduler "
                "(warm-up + cosine is fgclass.models.schedulers.warmup_cosine), or finetune=full."
            )
        if getattr(scheduler, "optimizer", None) is not optimizer:
            continue
        if isinstance(scheduler, ReduceLROnPlateau):
            missing = len(groups) - len(scheduler.min_lrs)
            scheduler.min_lrs = list(scheduler.min_lrs) + [scheduler.min_lrs[-1]] * missing
        else:
            scheduler.base_lrs = [group["initial_lr"] for group in groups]
            lambdas = getattr(scheduler, "lr_lambdas", None)
            if lambdas is not None and len(lambdas) < len(groups):
                lambdas.extend([lambdas[-1]] * (len(groups) - len(lambdas)))


def find_group(optimizer: Optimizer, name: str) -> dict | None:
    """The param group called ``name``, if any."""
    return next((g for g in optimizer.param_groups if g.get("name") == name), None)


def set_group_lr(trainer: L.Trainer, optimizer: Optimizer, name: str, lr: float) -> None:
    """Set a group's learning rate, also as the base rate its schedulers work from."""
    group = find_group(optimizer, name)
    if group is None:
        raise KeyError(f"optimizer has no param group '{name}'")
    group["lr"] = group["initial_lr"] = float(lr)
    sync_schedulers(trainer, optimizer)


def add_group(
    trainer: L.Trainer, optimizer: Optimizer, name: str, params: list[nn.Parameter], lr: float
) -> None:
    """Add a param group (parameters not yet in the optimizer, compared by identity)."""
    present = {id(p) for g in optimizer.param_groups for p in g["params"]}
    new = [p for p in params if id(p) not in present]
    if new:
        optimizer.add_param_group({"name": name, "params": new, "lr": float(lr), "initial_lr": float(lr)})
        sync_schedulers(trainer, optimizer)
