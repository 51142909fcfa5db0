"""The levers of a fast recipe, each through a real composed run: progressive resizing trains
each epoch at its scheduled size, and the warm start fits the head on frozen features first."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback

from fgclass.errors import ConfigError
from fgclass.finetune.feature_cache import backbone_features
from fgclass.finetune.resolution import ProgressiveResizing
from fgclass.finetune.warm_start import WarmStartHead, fit_head

SMALL = [
    "data.image_size=64",
    "data.resize_size=72",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
]
LEVERS = ("progressive_resizing", "warm_start")  # the callbacks these tests are about


def fit(cfg, *extra: Callback) -> tuple:
    """Data module, model and trainer of ``cfg`` (the train command's objects, the model seeded)."""
    images = instantiate(cfg.data)
    images.setup("fit")
    torch.manual_seed(0)
    model = instantiate(cfg.model, num_classes=images.num_classes, class_names=images.class_names)
    callbacks = [instantiate(cfg.callbacks[name]) for name in LEVERS if cfg.callbacks[name]]
    callbacks += extra
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=False, enable_checkpointing=False)
    return images, model, trainer


class Snapshot(Callback):
    """The model's weights when training starts (after the callbacks before it)."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.state = {k: v.clone() for k, v in pl_module.state_dict().items()}


def test_each_epoch_trains_at_its_scheduled_size(train_config, fish_root: Path) -> None:
    cfg = train_config(
        f"data.root={fish_root}", *SMALL, "trainer.max_epochs=4", "callbacks/resolution=progressive"
    )
    cfg.callbacks.progressive_resizing.update(start_size=32, full_at_epoch=3, step=16)
    images, model, trainer = fit(cfg)
    seen: dict[int, set[int]] = {}
    model.backbone.register_forward_hook(
        lambda module, args, out: (
            seen.setdefault(trainer.current_epoch, set()).add(args[0].shape[-1]) if module.training else None
        )
    )
    trainer.fit(model, datamodule=images)

    # 32 -> 64 over 3 epochs in steps of 16: 32, 42 -> 32, 53 -> 48, then the full 64
    assert seen == {0: {32}, 1: {32}, 2: {48}, 3: {64}}
    assert model.train_resolution is None  # validation, test and predict see data.image_size


def test_the_schedule_and_its_bad_settings() -> None:
    schedule = ProgressiveResizing(start_size=128, full_at_epoch=4, step=32)
    assert [schedule.size(epoch, 224) for epoch in range(6)] == [128, 128, 160, 192, 224, 224]
    assert ProgressiveResizing(start_size=256).size(0, 224) == 224  # never above the full size
    with pytest.raises(ConfigError, match="start_size=8"):
        ProgressiveResizing(start_size=8, step=32)


def test_the_warm_start_fits_the_head_on_frozen_features(train_config, fish_root: Path) -> None:
    # fp32: the warm start computes features under the Trainer's precision (bf16 on an AMX CPU), and this
    # test recomputes them in fp32 to compare the fitted heads
    cfg = train_config(
        f"data.root={fish_root}",
        *SMALL,
        "trainer.max_epochs=1",
        "callbacks/warm_start=head",
        "trainer.precision=32-true",
    )
    cfg.callbacks.warm_start.epochs = 30
    snapshot = Snapshot()
    images, model, trainer = fit(cfg, snapshot)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    features, labels = backbone_features(model, images, "train")
    untrained = (model.head(features).argmax(1) == labels).float().mean().item()

    trainer.fit(model, datamodule=images)

    warm = snapshot.state
    assert all(torch.equal(before[k], warm[k]) for k in before if k.startswith("backbone."))
    assert not all(torch.equal(before[k], warm[k]) for k in before if k.startswith("head."))
    # the head the run starts from is the one fitted on the cached features, by the same recipe
    _, reference, _ = fit(cfg)
    fitted = fit_head(reference, features, labels, epochs=30, lr=1e-3, batch_size=16, seed=0)
    for name, value in reference.head.state_dict().items():
        torch.testing.assert_close(warm[f"head.{name}"], value)
    assert fitted > untrained


def test_a_resumed_run_does_not_warm_start_again() -> None:
    class Resumed:
        global_step = 12

    with pytest.raises(ConfigError, match="epochs=0"):
        WarmStartHead(epochs=0)
    WarmStartHead().on_train_start(Resumed(), object())  # returns before touching model or data


def test_top_stages_trains_the_top_and_leaves_the_earliest_frozen(train_config, fish_root: Path) -> None:
    cfg = train_config(f"data.root={fish_root}", *SMALL, "trainer.max_epochs=1", "finetune=top_stages")
    cfg.finetune.stages = 2
    images, model, trainer = fit(cfg)
    trainer.callbacks.append(instantiate(cfg.finetune.callback))
    stages = list(model.stages)
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    trainer.fit(model, datamodule=images)

    def changed(stage: str) -> bool:
        prefixes = model.stages[stage]
        names = [
            k
            for k in before
            if k.startswith(tuple(prefixes)) and "running" not in k and "num_batches" not in k
        ]
        return any(not torch.equal(before[k], model.backbone.state_dict()[k]) for k in names)

    assert len(stages) > 2
    assert [changed(s) for s in stages] == [False] * (len(stages) - 2) + [True, True]
    frozen = [
        p
        for s in stages[:-2]
        for n, p in model.backbone.named_parameters()
        if n.startswith(tuple(model.stages[s]))
    ]
    assert frozen and all(p.grad is None and not p.requires_grad for p in frozen)
