"""Frozen-feature caching: same logits as the full forward pass, a real fit on cached features,
and clear errors where caching would change what the model learns."""

from __future__ import annotations

import math

import pytest
import torch
from hydra.utils import instantiate

from fgclass.errors import ConfigError
from fgclass.finetune.feature_cache import FeatureDataModule
from fgclass.train import train

SPLIT = ["data.split.val=0.25", "data.split.test=0.25"]  # 4 photos per class: 2 train, 1 val, 1 test
HEAD_ONLY = [*SPLIT, "model=resnet18", "finetune=head_only", "finetune.cache_features=true", "logger=csv"]


def build(cfg):
    """Data module, model, callbacks and trainer as ``fgclass.train`` builds them (no checkpoints)."""
    images = instantiate(cfg.data)
    images.setup("fit")
    model = instantiate(cfg.model, num_classes=images.num_classes, class_names=images.class_names)
    callbacks = [instantiate(cfg.finetune.callback)]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=False, enable_checkpointing=False)
    return images, model, callbacks, trainer


def test_outputs(model) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return tuple(torch.cat(parts) for parts in zip(*model.test_outputs))


test_outputs.__test__ = False  # a helper, not a test


@pytest.mark.parametrize(("precision", "tolerance"), [("32-true", 1e-5), ("bf16-mixed", 1e-2)])
def test_cached_features_give_the_logits_of_the_full_forward(train_config, fish_root, precision, tolerance):
    cfg = train_config(f"data.root={fish_root}", *HEAD_ONLY, f"trainer.precision={precision}")
    images, model, callbacks, trainer = build(cfg)
    cached = FeatureDataModule(images, model, callbacks)

    trainer.test(model, datamodule=images, verbose=False)
    full_logits, full_labels, full_index = test_outputs(model)
    trainer.test(model, datamodule=cached, verbose=False)
    logits, labels, index = test_outputs(model)

    assert len(full_labels) == len(images.datasets["test"]) > 0
    assert torch.equal(labels, full_labels) and torch.equal(index, full_index)
    torch.testing.assert_close(logits, full_logits, rtol=tolerance, atol=tolerance)
    features, _ = cached.features["test"]
    assert features.shape == (len(full_labels), model.head[-1].in_features)


def test_fit_on_cached_features_runs_the_backbone_once_per_split(train_config, fish_root):
    cfg = train_config(f"data.root={fish_root}", *HEAD_ONLY, "trainer.max_epochs=3")
    images, model, callbacks, trainer = build(cfg)
    cached = FeatureDataModule(images, model, callbacks)
    backbone_calls = []
    model.backbone.register_forward_hook(lambda module, args, out: backbone_calls.append(len(out)))
    backbone_before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    head_before = [p.detach().clone() for p in model.head.parameters()]

    trainer.fit(model, datamodule=cached)

    sizes = {split: len(images.datasets[split]) for split in ("train", "val")}
    batches = sum(math.ceil(n / images.eval_batch_size) for n in sizes.values())
    assert len(backbone_calls) == batches and sum(backbone_calls) == sum(sizes.values())
    assert set(cached.features) == {"train", "val"}
    assert trainer.current_epoch == 3 and "val/acc" in trainer.callback_metrics
    assert all(torch.equal(v, backbone_before[k]) for k, v in model.backbone.state_dict().items())
    assert not any(torch.equal(p, q) for p, q in zip(model.head.parameters(), head_before))
    assert cached.class_names == images.class_names  # everything else is the image module's


def test_train_with_cache_features_tests_the_best_checkpoint(train_config, fish_root):
    cfg = train_config(f"data.root={fish_root}", *HEAD_ONLY, "trainer.max_epochs=2")
    metrics = train(cfg)
    assert 0 <= metrics["test/acc"] <= 1 and "val/loss" in metrics


@pytest.mark.parametrize(
    ("overrides", "fix"),
    [
        (["finetune=full"], "finetune=head_only"),
        (["finetune=two_stage"], "finetune=head_only"),
        (["finetune=gradual"], "finetune=head_only"),
        (["finetune=head_only", "augment=basic"], "augment=none"),
    ],
)
def test_cache_features_refuses_runs_it_would_change(train_config, fish_root, overrides, fix):
    cfg = train_config(f"data.root={fish_root}", *SPLIT, "model=resnet18", *overrides)
    cfg.finetune.cache_features = True
    with pytest.raises(ConfigError, match=fix):
        train(cfg)
