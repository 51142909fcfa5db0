"""Frozen-feature caching: same logits as the full forward pass, a real fit on cached features,
and clear errors where caching would change what the model learns."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from fgclass.errors import ConfigError
from fgclass.finetune import feature_cache
from fgclass.finetune.feature_cache import FeatureDataModule, backbone_features
from fgclass.train import train

SPLIT = ["data.split.val=0.25", "data.split.test=0.25"]  # 4 photos per class: 2 train, 1 val, 1 test
HEAD_ONLY = [*SPLIT, "finetune=head_only", "cache_features=true", "logger=csv"]


def build(cfg):
    """Data module, model, callbacks and trainer as ``fgclass.train`` builds them (no checkpoints)."""
    images = instantiate(cfg.data)
    images.setup("fit")
    model = instantiate(cfg.model, num_classes=images.num_classes, class_names=images.class_names)
    callbacks = [instantiate(cfg.finetune.callback)]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=False, enable_checkpointing=False)
    return images, model, callbacks, trainer


def outputs_of_test(model) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits, labels and indices of the last ``trainer.test``."""
    outputs = model.test_results.outputs  # every logit kept (few classes), sorted: back in class order
    logits = torch.empty_like(outputs.logits).scatter_(1, outputs.classes.long(), outputs.logits)
    return logits, outputs.targets, outputs.index


@pytest.mark.parametrize(("precision", "tolerance"), [("32-true", 1e-5), ("bf16-mixed", 1e-2)])
def test_cached_features_give_the_logits_of_the_full_forward(train_config, fish_root, precision, tolerance):
    cfg = train_config(f"data.root={fish_root}", *HEAD_ONLY, f"trainer.precision={precision}")
    images, model, callbacks, trainer = build(cfg)
    cached = FeatureDataModule(images, model, callbacks)

    trainer.test(model, datamodule=images, verbose=False)
    full_logits, full_labels, full_index = outputs_of_test(model)
    trainer.test(model, datamodule=cached, verbose=False)
    logits, labels, index = outputs_of_test(model)

    assert len(full_labels) == len(images.datasets["test"]) > 0
    assert torch.equal(labels, full_labels) and torch.equal(index, full_index)
    torch.testing.assert_close(logits, full_logits, rtol=tolerance, atol=tolerance)
    features, _ = cached.features["test"]
    assert features.shape == (len(full_labels), model.head[-1].in_features)


def count_feature_passes(monkeypatch) -> list[tuple[str, int]]:
    """Split and image count of every backbone pass that computes features from now on (the pass runs
    a TorchScript-frozen copy of the backbone on the CPU, which no forward hook sees)."""
    passes = []

    def counted(model, images, split, *args):
        features, labels = backbone_features(model, images, split, *args)
        passes.append((split, len(features)))
        return features, labels

    monkeypatch.setattr(feature_cache, "backbone_features", counted)
    return passes


def count_training_batches(model) -> list[int]:
    """Batch sizes of every eager backbone forward in training mode from now on."""
    calls = []
    model.backbone.register_forward_hook(
        lambda module, args, out: calls.append(len(out)) if module.training else None
    )
    return calls


def test_head_only_fit_runs_the_backbone_once_per_split(train_config, fish_root, monkeypatch):
    cfg = train_config(f"data.root={fish_root}", *HEAD_ONLY, "trainer.max_epochs=3")
    images, model, callbacks, trainer = build(cfg)
    cached = FeatureDataModule(images, model, callbacks)
    passes = count_feature_passes(monkeypatch)
    backbone_before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    head_before = [p.detach().clone() for p in model.head.parameters()]

    trainer.fit(model, datamodule=cached)

    # 3 epochs, one pass per split (validation's first: the sanity check)
    assert sorted(passes) == [(split, len(images.datasets[split])) for split in ("train", "val")]
    assert set(cached.features) == {"train", "val"}
    assert trainer.current_epoch == 3 and "val/accuracy" in trainer.callback_metrics
    assert all(torch.equal(v, backbone_before[k]) for k, v in model.backbone.state_dict().items())
    assert not any(torch.equal(p, q) for p, q in zip(model.head.parameters(), head_before))
    assert cached.class_names == images.class_names  # everything else is the image module's


def test_two_stage_trains_on_features_until_the_backbone_unfreezes(train_config, fish_root, monkeypatch):
    two_stage = [o.replace("finetune=head_only", "finetune=two_stage") for o in HEAD_ONLY]
    two_stage += ["finetune.stage1_epochs=2", "trainer.max_epochs=3"]
    cfg = train_config(f"data.root={fish_root}", *two_stage)
    images, model, callbacks, trainer = build(cfg)
    cached = FeatureDataModule(images, model, callbacks)
    passes = count_feature_passes(monkeypatch)
    calls = count_training_batches(model)
    backbone_before = [p.detach().clone() for p in model.backbone.parameters()]

    trainer.fit(model, datamodule=cached)

    assert sorted(split for split, _ in passes) == ["train", "val"]  # epochs 0-1: features, computed once
    assert len(calls) == len(trainer.train_dataloader)  # epoch 2: the backbone trains on images
    assert not any(torch.equal(p, q) for p, q in zip(model.backbone.parameters(), backbone_before))
    # after fine-tuning, testing runs on images: the logits of the trained backbone
    trainer.test(model, datamodule=cached, verbose=False)
    assert "test" not in cached.features


def test_train_with_cache_features_tests_the_best_checkpoint(train_config, fish_root):
    cfg = train_config(f"data.root={fish_root}", *HEAD_ONLY, "trainer.max_epochs=2")
    metrics = train(cfg)
    run = Path(cfg.paths.output_dir)
    with (run / "splits.csv").open() as handle:
        test_images = sum(row["split"] == "test" for row in csv.DictReader(handle))
    written = json.loads((run / "metrics.json").read_text())
    assert metrics["test/num_samples"] == written["num_samples"] == test_images  # every test image
    assert written["accuracy"] == pytest.approx(metrics["test/accuracy"], abs=1e-6)


@pytest.mark.parametrize(
    ("overrides", "fix"),
    [
        (["finetune=full"], "finetune=head_only"),
        (["finetune=two_stage", "finetune.stage1_epochs=0"], "finetune=head_only"),
        (["finetune=head_only", "augment=basic"], "augment=none"),
    ],
)
def test_cache_features_refuses_runs_it_would_change(train_config, fish_root, overrides, fix):
    cfg = train_config(f"data.root={fish_root}", *SPLIT, *overrides)
    cfg.cache_features = True
    with pytest.raises(ConfigError, match=fix):
        train(cfg)


def test_a_long_pass_runs_the_backbone_by_onnx_runtime_with_the_same_features(
    train_config, fish_root, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = train_config(f"data.root={fish_root}", *HEAD_ONLY)
    images, model, _, _ = build(cfg)
    count = len(images.datasets["train"])
    with caplog.at_level(logging.INFO, logger="fgclass.finetune.feature_cache"):
        short, labels = backbone_features(model, images, "train")  # below ONNX_FROM_IMAGES
        long, long_labels = backbone_features(model, images, "train", onnx_from=count)  # as if long enough
    assert f"Features of the {count} train images by TorchScript" in caplog.text
    assert f"Features of the {count} train images by ONNX Runtime" in caplog.text
    assert torch.equal(labels, long_labels)
    torch.testing.assert_close(long, short, rtol=1e-4, atol=1e-4)
