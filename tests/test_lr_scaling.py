"""Learning rates follow the global batch: the linear and sqrt rules, every fine-tuning phase rate
scaled alike, bad settings refused, every recipe unchanged on one device, and a real 2-process run."""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from fgclass.app import hparams_summary
from fgclass.config import CONF_DIR, compose_config
from fgclass.errors import ConfigError
from fgclass.evaluation.tensorboard import read_scalars
from fgclass.models import Classifier
from fgclass.models.lr_scaling import lr_factor, lr_rule
from fgclass.train import main as train_main
from fgclass.train import train

from .conftest import FAST
from .processes import run_process_group

TINY = "timm/test_resnet"


def trainer(**options: object) -> L.Trainer:
    """A real Trainer (no process starts before ``fit``)."""
    return L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, **options)


def test_linear_and_sqrt_rules() -> None:
    assert lr_factor(64, 32, "linear") == 2.0 and lr_factor(8, 32, "linear") == 0.25
    assert lr_factor(64, 32, "sqrt") == pytest.approx(math.sqrt(2)) and lr_factor(8, 32, "sqrt") == 0.5
    assert lr_factor(64, 32, "none") == 1.0 and lr_factor(64, None, "linear") == 1.0  # one process
    # timm's defaults: sqrt for the Adam family, linear for SGD and others; a stated rule wins
    for target in ("torch.optim.Adam", "torch.optim.AdamW", "torch.optim.NAdam", "torch.optim.Adagrad"):
        assert lr_rule(None, target) == "sqrt", target
    assert lr_rule(None, "torch.optim.SGD") == lr_rule(None, "torch.optim.RMSprop") == "linear"
    assert lr_rule("linear", "torch.optim.AdamW") == "linear"


def test_every_rate_follows_the_global_batch() -> None:
    sgd = {"_target_": "torch.optim.SGD", "lr": 0.1, "momentum": 0.9}
    model = Classifier(3, backbone=TINY, optimizer=sgd, lr_base_size=16, lr_layer_decay=0.5)
    # 8 per process x 1 process x 4 accumulated = 32: twice the tuned batch, SGD -> linear
    assert model.scale_lr(8, trainer(accumulate_grad_batches=4)) == 2.0
    assert model.hparams.global_batch == 32 and model.hparams.lr_scale == 2.0
    optimizer = model.configure_optimizers()[0][0]
    assert optimizer.defaults["lr"] == pytest.approx(0.2)  # what torch got; the config keeps the base
    lrs = {g["name"]: g["lr"] for g in optimizer.param_groups}
    assert lrs["head"] == pytest.approx(0.2) and lrs["backbone.layer4.0"] == pytest.approx(0.1)
    assert model.hparams.optimizer["lr"] == 0.1
    model.lr = 0.5  # what the learning-rate range test does: it found 0.5 at this global batch
    assert model.hparams.optimizer["lr"] == pytest.approx(0.25) and model.lr == pytest.approx(0.5)
    # the same model config at its own batch: factor 1; sqrt for Adam: x sqrt(2)
    adam = Classifier(3, backbone=TINY, lr_base_size=16)
    assert adam.scale_lr(16, trainer()) == 1.0
    assert adam.scale_lr(32, trainer()) == pytest.approx(math.sqrt(2))
    assert adam.configure_optimizers()[0][0].defaults["lr"] == pytest.approx(1e-3 * math.sqrt(2))


def test_fine_tuning_phase_rates_scale_with_the_optimizer(
    train_config: Callable[..., DictConfig], fish_root: Path, tmp_path: Path
) -> None:
    # FAST: batch 16; tuned at 4 with SGD -> x4 for the head's rate and for the phase's rates
    cfg = train_config(
        f"data.root={fish_root}",
        "model/optimizer=sgd",
        "model.optimizer.lr=0.01",
        "model.lr_base_size=4",
        "finetune=two_stage",
        "finetune.stage1_epochs=1",
        "finetune.lr_all=1e-4",
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=2",
        "test=false",
    )
    train(cfg)
    scalars = read_scalars(tmp_path / "run" / "tensorboard")
    assert scalars["lr-SGD/head"] == pytest.approx([0.04, 4e-4])
    backbone = [v for k, v in scalars.items() if k.startswith("lr-SGD/backbone.")]
    assert backbone and all(v == pytest.approx([4e-4]) for v in backbone)
    model = Classifier.load_from_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert (model.hparams.global_batch, model.hparams.lr_scale) == (16, 4.0)
    assert model.hparams.effective_lr == pytest.approx(0.04) and model.lr == pytest.approx(0.04)
    summary = hparams_summary(cfg, model.hparams)  # TensorBoard's HParams show them
    assert summary["global_batch"] == 16 and summary["effective_lr"] == pytest.approx(0.04)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.lr_base_scale=cubic", "model.lr_base_scale=cubic: use linear, sqrt or none"),
        ("model.lr_base_size=0", "model.lr_base_size=0: use an integer >= 1 (a global batch) or null"),
        ("model.lr_base_size=32.5", "model.lr_base_size=32.5: use an integer >= 1 (a global batch)"),
    ],
)
def test_bad_lr_settings_are_one_message(
    override: str, message: str, run_main: Callable[..., tuple[int, str]], fish_root: Path, tmp_path: Path
) -> None:
    code, output = run_main(
        train_main, f"paths.root_dir={tmp_path}", *FAST, f"data.root={fish_root}", override
    )
    assert code == 1 and message in output and "Traceback" not in output


def test_ddp_without_a_base_size_is_refused_before_training(
    train_config: Callable[..., DictConfig], fish_root: Path, tmp_path: Path
) -> None:
    cfg = train_config(
        f"data.root={fish_root}", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"
    )
    with pytest.raises(ConfigError, match=r"2 processes .* model.lr_base_size .* is not set.*=32"):
        train(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()  # refused before the fit
    # stating the base size, or opting out of scaling, is what the message says to do
    for setting in ({"lr_base_size": 16}, {"lr_base_scale": "none"}):
        model = Classifier(3, backbone=TINY, **setting)
        assert model.scale_lr(16, trainer(devices=2, strategy="ddp")) == pytest.approx(
            math.sqrt(2) if "lr_base_size" in setting else 1.0
        )


ROOTS = ("experiment", "recipe")


@pytest.mark.parametrize(
    "choice", [f"{g}={p.stem}" for g in ROOTS for p in sorted((CONF_DIR / g).glob("*.yaml"))]
)
def test_every_experiment_and_recipe_keeps_its_rates_on_one_device(choice: str, tmp_path: Path) -> None:
    cfg = compose_config("train", [choice], tmp_path)
    assert cfg.model.lr_base_size == cfg.data.batch_size == 32
    model = instantiate(cfg.model, num_classes=3, backbone=TINY, weights=None)
    assert model.scale_lr(cfg.data.batch_size, instantiate(cfg.trainer, logger=False)) == 1.0
    optimizer = model.configure_optimizers()[0][0]
    assert optimizer.defaults["lr"] == cfg.model.optimizer.lr


@pytest.mark.processes
def test_two_process_ddp_trains_at_the_scaled_rate_and_logs_it(tmp_path: Path) -> None:
    # trainer=ddp on 2 CPU processes (gloo), through the CLI: 8 per process = global batch 16, tuned
    # at 8 with SGD -> every rate x 2: the optimizer's 0.01 and the second stage's 1e-4
    returncode, output = run_process_group(
        [
            sys.executable,
            "-m",
            "fgclass.train",
            "experiment=demo",
            "model=tiny",
            f"paths.root_dir={tmp_path}",
            "data.photos_per_class=3",
            "data.image_size=32",
            "data.resize_size=36",
            "data.num_workers=0",
            "data.batch_size=8",
            "model/optimizer=sgd",
            "model.optimizer.lr=0.01",
            "model.lr_base_size=8",
            "finetune=two_stage",
            "finetune.stage1_epochs=1",
            "finetune.lr_all=1e-4",
            "trainer=ddp",
            "trainer.accelerator=cpu",
            "trainer.devices=2",
            "trainer.sync_batchnorm=false",
            "trainer.max_epochs=2",
            "test=false",
        ],
        cwd=CONF_DIR.parent,
        timeout=300,
    )
    assert returncode == 0, output[-4000:]
    (run,) = tmp_path.glob("outputs/runs/*/*")
    line = "Learning rate 0.02 at global batch 16: base rate x 2 (linear rule, tuned at model.lr_base_size=8)"
    assert len(re.findall(re.escape(line), (run / "train.log").read_text())) == 1  # rank 0 logs it
    scalars = read_scalars(run / "tensorboard")
    assert scalars["lr-SGD/head"] == pytest.approx([0.02, 2e-4])
    backbone = [v for k, v in scalars.items() if k.startswith("lr-SGD/backbone.")]
    assert backbone and all(v == pytest.approx([0.0, 2e-4]) for v in backbone)  # zero-lr freezing
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    hparams = checkpoint["hyper_parameters"]
    assert (hparams["global_batch"], hparams["lr_scale"], hparams["effective_lr"]) == (16, 2.0, 0.02)
    assert hparams["optimizer"]["lr"] == 0.01  # the base rate stays the recipe's
