"""Freeze/unfreeze strategies under a real Trainer: what trains when, at which learning rate,
BatchNorm state of frozen parts, scheduler consistency, and resuming mid-run."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig
from torch.nn.modules.batchnorm import _BatchNorm

from fgclass.data import FishLayout
from fgclass.data import ImageClassificationDataModule as DataModule
from fgclass.errors import ConfigError
from fgclass.evaluation.tensorboard import read_scalars
from fgclass.finetune import Finetuning
from fgclass.models import Classifier
from fgclass.train import train

STAGES = ["conv1+bn1", "layer1.0", "layer2.0", "layer3.0", "layer4.0"]
PLATEAU_ALWAYS = {  # never sees an improvement of 10: reduces every epoch after the first
    "scheduler": {
        "_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau",
        "mode": "max",
        "factor": 0.5,
        "patience": 0,
        "threshold": 10.0,
        "threshold_mode": "abs",
        "min_lr": [0.0],  # the list form is what breaks when groups are added later
    },
    "monitor": "val/accuracy",
}


class BestAtStart(Callback):
    """The best validation accuracy a (resumed) fit starts from."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.value = float(pl_module.val_acc_best.max_value)


class Probe(Callback):
    """Records, at the first batch of every epoch, what trains and at which learning rate."""

    def __init__(self) -> None:
        self.epochs: dict[int, dict[str, Any]] = {}

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: Classifier, batch: Any, batch_idx: int
    ) -> None:
        if batch_idx:
            return
        params = pl_module.stage_parameters()
        bns = {
            stage: [
                m.training
                for n, m in pl_module.backbone.named_modules()
                if isinstance(m, _BatchNorm) and f"{n}.".startswith(tuple(pl_module.stages[stage]))
            ]
            for stage in STAGES
        }
        optimizer = trainer.optimizers[0]
        self.epochs[trainer.current_epoch] = {
            "grad": {s: all(p.requires_grad for p in params[s]) for s in STAGES},
            "bn_train": {s: all(flags) for s, flags in bns.items()},
            "bn_eval": {s: not any(flags) for s, flags in bns.items()},
            "lrs": {g["name"]: g["lr"] for g in optimizer.param_groups},
            "in_optimizer": {id(p) for g in optimizer.param_groups for p in g["params"]},
            "frozen": set(pl_module.frozen_stages),
        }


@pytest.fixture
def datamodule(fish_root: Path, tmp_path: Path) -> DataModule:
    dm = DataModule(
        fish_root,
        FishLayout,
        output_dir=tmp_path / "data",
        image_size=32,
        resize_size=36,
        batch_size=16,
        num_workers=0,
    )
    dm.setup()
    return dm


def make_model(dm: DataModule, **kwargs: Any) -> Classifier:
    L.seed_everything(0)
    return Classifier(
        dm.num_classes,
        dm.class_names,
        backbone="timm/test_resnet",
        weights=None,
        channels_last=False,
        **kwargs,
    )


def fit(
    model: Classifier,
    dm: DataModule,
    callbacks: list[Callback],
    max_epochs: int,
    tmp_path: Path,
    ckpt_path: str | None = None,
    strategy: str = "auto",
) -> L.Trainer:
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        strategy=strategy,
        max_epochs=max_epochs,
        limit_train_batches=2,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        callbacks=[*callbacks, LearningRateMonitor(logging_interval="epoch")],
        logger=TensorBoardLogger(tmp_path, name="tb", version=""),
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, datamodule=dm, ckpt_path=ckpt_path)
    return trainer


def lr_log(tmp_path: Path) -> dict[str, list[float]]:
    return {k: v for k, v in read_scalars(tmp_path / "tb").items() if k.startswith("lr")}


def test_head_only_freezes_backbone_weights_and_batchnorm_statistics(
    datamodule: DataModule, tmp_path: Path
) -> None:
    model = make_model(datamodule)
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    head_before = [p.clone() for p in model.head.parameters()]
    probe = Probe()
    fit(model, datamodule, [Finetuning(freeze_backbone=True), probe], 2, tmp_path)

    after = model.backbone.state_dict()
    changed = [k for k, v in before.items() if not torch.equal(v, after[k])]
    assert changed == []  # neither weights nor BN running_mean/var/num_batches_tracked moved
    assert any(not torch.equal(a, b) for a, b in zip(head_before, model.head.parameters()))
    for record in probe.epochs.values():
        assert not any(record["grad"].values())
        assert all(record["bn_eval"].values())
        assert record["lrs"] == {"head": pytest.approx(1e-3)}
    assert {id(p) for p in model.head.parameters()} == probe.epochs[1]["in_optimizer"]


def test_full_trains_everything_from_the_start(datamodule: DataModule, tmp_path: Path) -> None:
    model = make_model(datamodule)
    probe = Probe()
    fit(model, datamodule, [probe], 1, tmp_path)
    record = probe.epochs[0]
    assert all(record["grad"].values()) and all(record["bn_train"].values())
    assert set(record["lrs"]) == {"head", *(f"backbone.{s}" for s in STAGES)}


def test_two_stage_switches_phase_and_learning_rates(datamodule: DataModule, tmp_path: Path) -> None:
    model = make_model(datamodule)
    probe = Probe()
    phases = [{"epoch": 1, "unfreeze": "all", "lr": 1e-5, "head_lr": 1e-5}]
    fit(model, datamodule, [Finetuning(phases=phases), probe], 3, tmp_path)

    assert not any(probe.epochs[0]["grad"].values())
    assert probe.epochs[0]["lrs"] == {"head": pytest.approx(1e-3)}
    for epoch in (1, 2):
        assert all(probe.epochs[epoch]["grad"].values()) and all(probe.epochs[epoch]["bn_train"].values())
        assert list(probe.epochs[epoch]["lrs"].values()) == pytest.approx([1e-5] * (1 + len(STAGES)))
        assert len(probe.epochs[epoch]["lrs"]) == 1 + len(STAGES)
    # what was logged says the same, epoch by epoch
    logged = lr_log(tmp_path)
    assert logged["lr-Adam/head"] == pytest.approx([1e-3, 1e-5, 1e-5])
    assert logged["lr-Adam/backbone.layer1.0"] == pytest.approx([1e-5, 1e-5])


def test_freeze_bn_stats_keeps_running_statistics_after_unfreezing(
    datamodule: DataModule, tmp_path: Path
) -> None:
    model = make_model(datamodule)
    bns = {n: m for n, m in model.backbone.named_modules() if isinstance(m, _BatchNorm)}
    stats = {n: m.running_mean.clone() for n, m in bns.items()}
    scales = {n: m.weight.clone() for n, m in bns.items()}
    probe = Probe()
    phases = [{"epoch": 1, "unfreeze": "all", "lr": 1e-3}]
    fit(model, datamodule, [Finetuning(phases=phases, freeze_bn_stats=True), probe], 2, tmp_path)

    assert all(probe.epochs[1]["grad"].values()) and all(probe.epochs[1]["bn_eval"].values())
    assert all(torch.equal(m.running_mean, stats[n]) for n, m in bns.items())
    assert all(not torch.equal(m.weight, scales[n]) for n, m in bns.items())  # scale and shift train


def test_gradual_unfreezes_top_down_and_keeps_frozen_batchnorm_in_eval(
    datamodule: DataModule, tmp_path: Path
) -> None:
    model = make_model(datamodule)
    probe = Probe()
    phases = [{"epoch": 1, "unfreeze": 1, "lr": 1e-4}, {"epoch": 2, "unfreeze": ["layer3.0"], "lr": 5e-5}]
    fit(model, datamodule, [Finetuning(phases=phases), probe], 3, tmp_path)

    trainable = {e: [s for s, ok in r["grad"].items() if ok] for e, r in probe.epochs.items()}
    assert trainable == {0: [], 1: ["layer4.0"], 2: ["layer3.0", "layer4.0"]}
    assert probe.epochs[2]["bn_train"]["layer4.0"] and probe.epochs[2]["bn_train"]["layer3.0"]
    assert all(probe.epochs[2]["bn_eval"][s] for s in ("conv1+bn1", "layer1.0", "layer2.0"))
    assert probe.epochs[2]["lrs"] == pytest.approx(
        {"head": 1e-3, "backbone.layer4.0": 1e-4, "backbone.layer3.0": 5e-5}
    )


def test_plateau_scheduler_covers_groups_added_by_unfreezing(datamodule: DataModule, tmp_path: Path) -> None:
    model = make_model(datamodule, schedulers={"plateau": PLATEAU_ALWAYS})
    probe = Probe()
    trainer = fit(
        model, datamodule, [Finetuning(phases=[{"epoch": 1, "unfreeze": 1, "lr": 1e-4}]), probe], 3, tmp_path
    )
    plateau = trainer.lr_scheduler_configs[0].scheduler
    assert len(plateau.min_lrs) == len(trainer.optimizers[0].param_groups) == 2
    # halved after epochs 1 and 2 (epoch 0 sets the best): the group added at epoch 1 too
    final = {g["name"]: g["lr"] for g in trainer.optimizers[0].param_groups}
    assert final == pytest.approx({"head": 1e-3 / 4, "backbone.layer4.0": 1e-4 / 4})


def test_lambda_scheduler_applies_to_late_groups(datamodule: DataModule, tmp_path: Path) -> None:
    cosine = {
        "scheduler": {
            "_target_": "fgclass.models.schedulers.warmup_cosine",
            "warmup_epochs": 0,
            "max_epochs": 4,
        }
    }
    model = make_model(datamodule, schedulers={"cosine": cosine})
    fit(model, datamodule, [Finetuning(phases=[{"epoch": 1, "unfreeze": 1, "lr": 1e-3}])], 3, tmp_path)
    logged = lr_log(tmp_path)
    # the layer4 group starts at its base lr, then follows the same cosine factor as the head
    assert logged["lr-Adam/backbone.layer4.0"][0] == pytest.approx(1e-3)
    assert logged["lr-Adam/backbone.layer4.0"][1] == pytest.approx(logged["lr-Adam/head"][2])
    assert logged["lr-Adam/head"][2] < 1e-3


def warmup_then_cosine(optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.SequentialLR:
    """A scheduler that wraps others (its children are private to torch)."""
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.5, total_iters=1)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=3)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, cosine], milestones=[1])


def test_a_wrapping_scheduler_is_refused_before_the_first_epoch_when_groups_will_change(
    datamodule: DataModule, tmp_path: Path
) -> None:
    sequential = {"scheduler": {"_target_": f"{__name__}.warmup_then_cosine"}}
    model = make_model(datamodule, schedulers={"sequential": sequential})
    probe = Probe()
    with pytest.raises(ConfigError, match=r"SequentialLR wraps other schedulers.*warmup_cosine"):
        fit(
            model,
            datamodule,
            [Finetuning(phases=[{"epoch": 1, "unfreeze": 1, "lr": 1e-4}]), probe],
            2,
            tmp_path,
        )
    assert probe.epochs == {}
    # without phases the groups never change: the same scheduler trains
    model = make_model(datamodule, schedulers={"sequential": sequential})
    fit(model, datamodule, [Finetuning(phases=[])], 1, tmp_path / "frozen")


@pytest.mark.parametrize("resume_after", [1, 2])  # before and after the unfreezing epoch
def test_resume_continues_in_the_right_phase(
    datamodule: DataModule, tmp_path: Path, resume_after: int
) -> None:
    def strategy() -> Finetuning:
        return Finetuning(phases=[{"epoch": 1, "unfreeze": "all", "lr": 1e-5, "head_lr": 2e-5}])

    reference = Probe()
    fit(make_model(datamodule), datamodule, [strategy(), reference], 3, tmp_path / "straight")

    first = tmp_path / "first"
    fit(
        make_model(datamodule),
        datamodule,
        [strategy(), ModelCheckpoint(first, save_last=True)],
        resume_after,
        first,
    )
    resumed = Probe()
    best_at_start = BestAtStart()
    model = make_model(datamodule)
    fit(
        model,
        datamodule,
        [strategy(), resumed, best_at_start],
        3,
        tmp_path / "second",
        ckpt_path=str(first / "last.ckpt"),
    )

    for epoch in range(resume_after, 3):
        got, want = resumed.epochs[epoch], reference.epochs[epoch]
        assert got["grad"] == want["grad"] and got["bn_train"] == want["bn_train"]
        assert got["lrs"] == pytest.approx(want["lrs"])
        assert got["frozen"] == want["frozen"]
    # the best val accuracy before the interruption still counts (sweepers optimise it)
    saved = torch.load(first / "last.ckpt", weights_only=False)["state_dict"]["val_acc_best.max_value"]
    assert 0 < float(saved) == best_at_start.value


def test_zero_lr_mode_keeps_frozen_stages_in_the_optimizer(datamodule: DataModule, tmp_path: Path) -> None:
    model = make_model(datamodule)
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    probe = Probe()
    strategy = Finetuning(phases=[{"epoch": 2, "unfreeze": 1, "lr": 1e-3}], freeze_mode="zero_lr")
    fit(model, datamodule, [strategy, probe], 3, tmp_path)

    assert all(all(r["grad"].values()) for r in probe.epochs.values())  # requires_grad never changes
    assert probe.epochs[0]["lrs"] == pytest.approx({"head": 1e-3, **{f"backbone.{s}": 0.0 for s in STAGES}})
    assert probe.epochs[2]["lrs"]["backbone.layer4.0"] == pytest.approx(1e-3)
    assert all(probe.epochs[1]["bn_eval"].values())
    assert not probe.epochs[2]["bn_eval"]["layer4.0"]
    after = model.backbone.state_dict()
    untouched = [k for k in before if not k.startswith("layer4.")]
    assert all(torch.equal(before[k], after[k]) for k in untouched)
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("layer4."))


@pytest.fixture
def in_process_ddp() -> Iterator[None]:
    """Leave no trace of an in-process DDP run in this test worker: Lightning sets ``MASTER_PORT`` in
    ``os.environ`` and leaves a gloo group (and its store, listening on that port) alive, so a DDP
    subprocess started later from this worker would inherit the port of a store it cannot join."""
    environment = dict(os.environ)
    yield
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    os.environ.clear()
    os.environ.update(environment)


@pytest.mark.usefixtures("in_process_ddp")
def test_auto_mode_uses_zero_lr_under_ddp(datamodule: DataModule, tmp_path: Path) -> None:
    model = make_model(datamodule)
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    strategy = Finetuning(freeze_mode="auto")
    fit(model, datamodule, [strategy], 1, tmp_path, strategy="ddp")
    assert strategy.zero_lr
    after = model.backbone.state_dict()
    assert all(torch.equal(before[k], after[k].cpu()) for k in before)


def test_unknown_stage_names_are_reported(datamodule: DataModule, tmp_path: Path) -> None:
    from fgclass.errors import ConfigError

    with pytest.raises(ConfigError, match=r"layer5.*stages are"):
        fit(
            make_model(datamodule),
            datamodule,
            [Finetuning(phases=[{"epoch": 1, "unfreeze": ["layer5"], "lr": 1e-4}])],
            1,
            tmp_path,
        )


def test_epoch_log_shows_the_rates_each_epoch_trained_at(
    train_config: Callable[..., DictConfig], fish_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = train_config(
        f"data.root={fish_root}",
        "finetune=two_stage",
        "finetune.stage1_epochs=1",
        "finetune.lr_all=1e-5",
        "model/schedulers=cosine",
        "model.schedulers.cosine.scheduler.warmup_epochs=1",
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=2",
        "test=false",
    )
    with caplog.at_level(logging.INFO, logger="fgclass.callbacks"):
        train(cfg)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Epoch ")]
    assert lines[0].split("lr=")[1].startswith("0.0005 ")  # the head alone, half-way through warm-up
    assert len(lines[1].split("lr=")[1].split()[0].split(",")) == 6  # stage 2: head + 5 stages
