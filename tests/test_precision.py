"""The trainer's default precision: the fast one where the hardware has it, fp32 otherwise, and
training in bf16 + channels_last learns as well as fp32."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from hydra.utils import instantiate

from fgclass.config import best_precision

SPLIT = ["data.split.val=0.25", "data.split.test=0.25"]


@pytest.mark.parametrize("accelerator", ["tpu", "mps", "hpu", "something-new"])
def test_accelerators_without_a_known_fast_path_fall_back_to_fp32(accelerator):
    assert best_precision(accelerator) == "32-true"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_without_cuda_auto_is_the_cpu_choice_and_gpu_falls_back():
    assert best_precision("auto") == best_precision("cpu")
    assert best_precision("gpu") == best_precision("cuda") == "32-true"


@pytest.mark.parametrize("trainer", ["default", "cpu"])
def test_composed_trainer_uses_the_best_precision_and_channels_last(train_config, trainer):
    cfg = train_config(f"trainer={trainer}")
    assert cfg.trainer.precision == best_precision(cfg.trainer.accelerator)
    assert cfg.model.channels_last is True
    built = instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
    assert built.precision == cfg.trainer.precision  # Lightning accepts it on this machine


def fit_and_validate(train_config, root, precision: str, channels_last: bool) -> dict[str, float]:
    cfg = train_config(
        "data=butterfly",
        f"data.root={root}",
        *SPLIT,
        "model=resnet18",
        f"trainer.precision={precision}",
        f"model.channels_last={channels_last}",
        "trainer.max_epochs=6",
    )
    L.seed_everything(0)
    data = instantiate(cfg.data)
    data.setup("fit")
    model = instantiate(cfg.model, num_classes=data.num_classes)
    trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
    trainer.fit(model, datamodule=data)
    assert next(model.backbone.parameters()).is_contiguous(
        memory_format=torch.channels_last if channels_last else torch.contiguous_format
    )
    (metrics,) = trainer.validate(model, datamodule=data, verbose=False)
    return metrics


@pytest.mark.slow  # 20 s on a CPU without native bf16, where bf16 is emulated
def test_bf16_channels_last_learns_as_well_as_fp32(train_config, butterfly_root):
    fast = fit_and_validate(train_config, butterfly_root, "bf16-mixed", True)
    exact = fit_and_validate(train_config, butterfly_root, "32-true", False)
    chance = 1 / 6
    assert fast["val/acc"] > 3 * chance and exact["val/acc"] > 3 * chance
    assert abs(fast["val/acc"] - exact["val/acc"]) <= 0.25
