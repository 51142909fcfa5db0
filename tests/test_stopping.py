"""Runs end when nothing more can be learned (issue 36), on the butterfly study's composed experiment:
the plateau schedule lowers no rate below its floor; a run at that floor whose metric no longer
improves ends early and says why (so does early stopping on val loss, whose tiny improvements no
longer count); a run still improving, or with a fine-tuning phase still to come, runs on."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import lightning as L
import pytest
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig

from fgclass.callbacks import LrFloorStopping
from fgclass.errors import ConfigError
from fgclass.train import train

STUDY = [  # the butterfly study's schedule and stopping, one batch an epoch, no test phase
    "experiment=butterfly_head_only",
    "trainer.limit_train_batches=1",
    "test=false",
    "model.lr_base_scale=none",  # the rates as written (FAST's batch of 16 would scale them)
]
AT_FLOOR = "model.optimizer.lr=1e-9"  # below the plateau's 1e-6 floor from the first epoch on


class RisingScore(Callback):
    """Logs ``probe/score``, the epoch number: a metric that improves every epoch."""

    metric = "probe/score"

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.log(self.metric, float(trainer.current_epoch))


class ShrinkingLoss(Callback):
    """Logs ``probe/loss``, 1 - 1e-4 x epoch: a loss that improves by 1e-4 every epoch."""

    metric = "probe/loss"

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.log(self.metric, 1.0 - 1e-4 * trainer.current_epoch)


def probe(callback: type[RisingScore | ShrinkingLoss], monitor: str) -> list[str]:
    """Overrides that add ``callback`` to the run and point the setting ``monitor`` at the metric it logs."""
    key = callback.metric.replace("/", "_")
    return [f"+callbacks.{key}._target_={__name__}.{callback.__name__}", f"{monitor}={callback.metric}"]


def run(
    train_config: Callable[..., DictConfig], caplog: pytest.LogCaptureFixture, *overrides: str
) -> list[str]:
    """Train the composed config; fgclass.callbacks' log lines (one per epoch, then why it stopped)."""
    with caplog.at_level(logging.INFO, logger="fgclass.callbacks"):
        train(train_config(*overrides))
    return [r.getMessage() for r in caplog.records if r.name == "fgclass.callbacks"]


def epochs(lines: list[str]) -> int:
    return sum(line.startswith("Epoch ") for line in lines)


def test_a_run_whose_metric_stalls_at_the_lr_floor_ends_early_and_says_why(
    train_config: Callable[..., DictConfig], butterfly_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines = run(
        train_config, caplog, f"data.root={butterfly_root}", *STUDY, AT_FLOOR, "trainer.max_epochs=12"
    )
    # val accuracy cannot move at 1e-9: its first epoch sets the best, 3 more (the plateau's patience) end it
    assert epochs(lines) == 4
    assert lines[-1].startswith("Stopped after epoch 4 of 12: every learning rate is at the plateau")
    assert "min_lr 1e-06" in lines[-1] and "val/accuracy has not improved" in lines[-1]


def test_early_stopping_ignores_val_loss_improvements_below_min_delta(
    train_config: Callable[..., DictConfig], butterfly_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # the run: a loss still falling by 1e-4 an epoch kept early stopping from ever firing
    creeping = probe(ShrinkingLoss, "callbacks.early_stopping.monitor")
    overrides = [f"data.root={butterfly_root}", *STUDY, "trainer.max_epochs=12", *creeping]
    lines = run(train_config, caplog, *overrides, "callbacks.lr_floor_stopping=null")
    # the first epoch's loss stays the best by the experiment's min_delta; patience 7
    assert epochs(lines) == 8
    assert lines[-1].startswith("Stopped after epoch 8 of 12: Monitored metric probe/loss did not improve")


def test_the_plateau_never_takes_the_rate_below_its_floor(
    train_config: Callable[..., DictConfig], butterfly_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    never_better = [  # no epoch improves val accuracy by 10: x0.1 after every epoch but the first
        "model.schedulers.plateau.scheduler.patience=0",
        "+model.schedulers.plateau.scheduler.threshold=10",
        "+model.schedulers.plateau.scheduler.threshold_mode=abs",
        "model.schedulers.plateau.scheduler.min_lr=1e-5",
    ]
    overrides = [f"data.root={butterfly_root}", *STUDY, *never_better, "trainer.max_epochs=6"]
    lines = run(train_config, caplog, *overrides, "callbacks.lr_floor_stopping=null")
    rates = [float(line.split("lr=")[1].split()[0]) for line in lines if line.startswith("Epoch ")]
    assert rates == pytest.approx([1e-3, 1e-3, 1e-4, 1e-5, 1e-5, 1e-5])


def test_a_run_still_improving_at_the_floor_runs_on(
    train_config: Callable[..., DictConfig], butterfly_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    improving = probe(RisingScore, "model.schedulers.plateau.monitor")
    overrides = [f"data.root={butterfly_root}", *STUDY, AT_FLOOR, *improving, "trainer.max_epochs=6"]
    lines = run(train_config, caplog, *overrides)
    assert epochs(lines) == 6 and not any(line.startswith("Stopped") for line in lines)


def test_a_fine_tuning_phase_still_to_come_holds_the_stop_back(
    train_config: Callable[..., DictConfig], butterfly_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    two_stage = ["finetune=two_stage", "finetune.stage1_epochs=4", "finetune.lr_all=1e-9"]
    overrides = [f"data.root={butterfly_root}", *STUDY, AT_FLOOR, *two_stage, "trainer.max_epochs=12"]
    lines = run(train_config, caplog, *overrides)
    # stage 2 starts at epoch 5 (also at the floor): the count starts there, not at epoch 2
    assert epochs(lines) == 7
    assert lines[-1].startswith("Stopped after epoch 7 of 12: every learning rate is at the plateau")


def test_a_bad_patience_is_one_message() -> None:
    with pytest.raises(ConfigError, match=r"callbacks.lr_floor_stopping.patience=0: .* at least 1"):
        LrFloorStopping(patience=0)
