"""The trainer's default precision: the fast one where the hardware has it, fp32 otherwise, and
training in bf16 + channels_last learns as well as fp32."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from hydra.utils import instantiate

from fgclass.models.backbones import has_depthwise_convolutions
from fgclass.precision import best_precision

SPLIT = ["data.split.val=0.25", "data.split.test=0.25"]


@pytest.mark.parametrize("accelerator", ["tpu", "mps", "hpu", "something-new"])
def test_accelerators_without_a_known_fast_path_fall_back_to_fp32(accelerator):
    assert best_precision(accelerator) == "32-true"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_without_cuda_auto_is_the_cpu_choice_and_gpu_falls_back():
    assert best_precision("auto") == best_precision("cpu")
    assert best_precision("gpu") == best_precision("cuda") == "32-true"


def _native_bf16_cpu() -> bool:
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
@pytest.mark.parametrize("trainer", ["default", "cpu"])
def test_composed_trainer_uses_the_best_precision_and_channels_last(train_config, trainer):
    cfg = train_config(f"trainer={trainer}")  # ResNet-50: no depthwise convolutions
    assert cfg.trainer.precision == ("bf16-mixed" if _native_bf16_cpu() else "32-true")
    assert cfg.model.channels_last is True
    built = instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
    assert built.precision == cfg.trainer.precision  # Lightning accepts it on this machine


def test_depthwise_convolutions_are_read_off_the_model() -> None:
    assert has_depthwise_convolutions("timm/efficientnet_lite0") and has_depthwise_convolutions(
        "convnext_tiny"
    )
    assert not has_depthwise_convolutions("resnet50") and not has_depthwise_convolutions("vit_b_16")
    assert not has_depthwise_convolutions("timm/no_such_model")  # left to the model's own build to report


def test_a_training_depthwise_backbone_gets_fp32_on_a_bf16_cpu(train_config, monkeypatch) -> None:
    # this machine taken for one with AMX: the hardware query is what a test cannot change
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert best_precision("cpu") == best_precision("cpu", lambda: False) == "bf16-mixed"
    assert best_precision("cpu", lambda: True) == "32-true"  # a depthwise step: 1.05-1.3x faster
    composed = {
        (model, finetune): train_config(
            "trainer=cpu", f"model={model}", f"finetune={finetune}"
        ).trainer.precision
        for model in ("efficientnet_lite0", "resnet18")
        for finetune in ("full", "two_stage", "head_only")
    }
    assert composed == {
        ("efficientnet_lite0", "full"): "32-true",
        ("efficientnet_lite0", "two_stage"): "32-true",  # the backbone trains in its second stage
        ("efficientnet_lite0", "head_only"): "bf16-mixed",  # frozen: its forward is 1.7x faster in bf16
        ("resnet18", "full"): "bf16-mixed",
        ("resnet18", "two_stage"): "bf16-mixed",
        ("resnet18", "head_only"): "bf16-mixed",
    }
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    assert best_precision("cpu", lambda: False) == best_precision("cpu", lambda: True) == "32-true"


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
    assert fast["val/accuracy"] > 3 * chance and exact["val/accuracy"] > 3 * chance
    assert abs(fast["val/accuracy"] - exact["val/accuracy"]) <= 2 / 18 + 1e-6  # 2 of the 18 val images
    assert fast["val/loss"] == pytest.approx(exact["val/loss"], rel=0.15)
