"""Fine-tuning recipe ingredients, each shown to change training as claimed: EMA weights are the ones
validated, checkpointed and tested; MixUp/CutMix targets are soft; layer-wise lr decay; flip TTA."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig, OmegaConf

from fgclass.data.dataset import ImageDataset
from fgclass.data.transforms import eval_transform
from fgclass.errors import ConfigError
from fgclass.models import Classifier
from fgclass.models.mixing import BatchMixing
from fgclass.train import train


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory: pytest.TempPathFactory, fish_root: Path) -> Path:
    """A short run with EMA weights (fast decay, so they differ visibly), MixUp/CutMix and flip TTA."""
    from fgclass.config import compose_config

    from .conftest import FAST

    tmp = tmp_path_factory.mktemp("ema")
    cfg = compose_config(
        "train",
        [
            *FAST,
            f"data.root={fish_root}",
            "trainer.max_epochs=2",
            "callbacks/ema=ema",
            "callbacks.ema.decay=0.5",
            "model/mixing=mixup_cutmix",
            "eval.tta=true",
            "eval.noise_sigmas=[]",
            "trainer.precision=32-true",  # its probabilities are recomputed in fp32 and compared to 1e-5
            # uncalibrated probabilities in predictions.csv: a temperature fitted to this near-chance model
            # can flatten them all to 1/9 (134 on an AVX512 Xeon), and the EMA and raw weights then agree
            "calibration=none",
        ],
        tmp,
    )
    train(cfg)
    return tmp / "run"


def _test_images(run: Path) -> tuple[torch.Tensor, list[dict[str, str]]]:
    with (run / "predictions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    data = OmegaConf.load(run / "run_config.yaml").data
    dataset = ImageDataset(
        Path(data.root) / "Fish_Dataset", [r["path"] for r in rows], [0] * len(rows), eval_transform(32, 36)
    )
    return torch.stack([dataset[i][0] for i in range(len(dataset))]), rows


def test_ema_weights_are_checkpointed_and_tested(ema_run: Path) -> None:
    best = next((ema_run / "checkpoints").glob("epoch*.ckpt"))
    checkpoint = torch.load(best, map_location="cpu", weights_only=True)
    raw = checkpoint["current_model_state"]  # the optimiser's weights, kept for resuming
    averaged = checkpoint["state_dict"]
    differing = [k for k in raw if raw[k].is_floating_point() and not torch.equal(raw[k], averaged[k])]
    assert len(differing) > 50
    images, rows = _test_images(ema_run)
    model = Classifier.load_from_checkpoint(best, map_location="cpu").eval()
    with torch.no_grad():
        ema_probs = model.predict_logits(images).softmax(1).max(1).values
        model.load_state_dict(raw)
        raw_probs = model.predict_logits(images).softmax(1).max(1).values
    reported = torch.tensor([float(r["top1_prob"]) for r in rows])
    assert torch.allclose(ema_probs, reported, atol=1e-5)  # the test scored the EMA weights
    assert not torch.allclose(raw_probs, reported, atol=1e-3)


def test_tta_accuracy_is_reported_beside_the_plain_one(ema_run: Path) -> None:
    metrics = json.loads((ema_run / "metrics.json").read_text())
    images, rows = _test_images(ema_run)
    model = Classifier.load_from_checkpoint(
        next((ema_run / "checkpoints").glob("epoch*.ckpt")), map_location="cpu"
    )
    model.eval().tta = True
    names = model.class_names
    with torch.no_grad():
        predicted = model.predict_logits(images).argmax(1).tolist()
    accuracy = sum(names[p] == r["true_label"] for p, r in zip(predicted, rows)) / len(rows)
    assert metrics["accuracy_tta"] == pytest.approx(accuracy, abs=1e-6)
    assert "accuracy" in metrics and "f1_macro_tta" in metrics


def test_mixed_batches_have_soft_targets_and_convex_images() -> None:
    torch.manual_seed(0)
    images = torch.randint(0, 256, (8, 3, 16, 16), dtype=torch.uint8)
    targets = torch.arange(8) % 4
    for mixup_alpha, cutmix_alpha in ((0.4, 0.0), (0.0, 1.0)):
        mixed, soft = BatchMixing(4, mixup_alpha=mixup_alpha, cutmix_alpha=cutmix_alpha)(images, targets)
        assert soft.shape == (8, 4) and torch.allclose(soft.sum(1), torch.ones(8))
        assert (soft.max(1).values < 1).all()  # every target mixes two images' labels
        x = images.float() / 255
        low = torch.minimum(x, x.roll(1, 0))
        high = torch.maximum(x, x.roll(1, 0))
        assert ((mixed >= low - 1e-6) & (mixed <= high + 1e-6)).all()  # between the two sources
    with pytest.raises(ConfigError, match="set at least one alpha > 0"):
        BatchMixing(4, mixup_alpha=0, cutmix_alpha=0)


def test_mixing_needs_a_loss_that_takes_soft_targets() -> None:
    focal = {"_target_": "fgclass.models.losses.FocalLoss"}
    with pytest.raises(ConfigError, match=r"needs model/loss=cross_entropy"):
        Classifier(3, backbone="resnet18", loss=focal, mixing={"mixup_alpha": 0.2})


def test_layer_wise_lr_decay_scales_each_stage_from_the_top(train_config: Callable[..., DictConfig]) -> None:
    model = Classifier(
        3, backbone="resnet18", optimizer={"_target_": "torch.optim.AdamW", "lr": 1e-3}, lr_layer_decay=0.5
    )
    optimizer = model.configure_optimizers()[0][0]
    lrs = {g["name"]: g["lr"] for g in optimizer.param_groups}
    assert lrs == pytest.approx(
        {
            "head": 1e-3,
            "backbone.layer4": 5e-4,
            "backbone.layer3": 2.5e-4,
            "backbone.layer2": 1.25e-4,
            "backbone.layer1": 6.25e-5,
            "backbone.stem": 3.125e-5,
        }
    )
    assert [g["name"] for g in optimizer.param_groups][1] == "backbone.stem"  # same group order as without
    cfg = train_config("model.lr_layer_decay=0.7")
    assert cfg.model.lr_layer_decay == 0.7
    with pytest.raises(ConfigError, match=r"lr_layer_decay=1.5"):
        Classifier(3, backbone="resnet18", lr_layer_decay=1.5)


@pytest.mark.parametrize("step", ["0_study", "6_strong_augment"])
def test_recipe_steps_train(step: str, train_config: Callable[..., DictConfig], butterfly_root: Path) -> None:
    # the first step (two stages) and the last (every ingredient at once) run end to end
    cfg = train_config(
        f"recipe={step}",
        f"data.root={butterfly_root}",
        "data.train_image_size=24",
        "trainer.fast_dev_run=true",
    )
    assert "train/loss" in train(cfg)


def test_recipe_steps_build_on_each_other(train_config: Callable[..., DictConfig]) -> None:
    steps = sorted(p.stem for p in (Path(__file__).parents[1] / "conf" / "recipe").glob("*.yaml"))
    configs = [OmegaConf.to_container(train_config(f"recipe={s}"), resolve=False) for s in steps]
    every = configs[steps.index("6_strong_augment")]  # the chain of ingredients ends here
    assert every["model"]["mixing"] and every["callbacks"]["ema"] and every["model"]["lr_layer_decay"] < 1
    assert every["model"]["loss"]["label_smoothing"] == 0.1 and every["model"]["optimizer"][
        "_target_"
    ].endswith("AdamW")
    # steps 7-9 branch from step 2; the last is the headline experiment (its defaults name it)
    best = train_config("experiment=butterfly_best")
    assert best.name == "butterfly_best" and best.finetune.callback is None  # every layer trains
    assert best.model.loss.label_smoothing == 0.1 and best.trainer.max_epochs == 15
    assert best.data.train_image_size == 224  # (the fixture shrinks the eval size for speed)
    assert not best.callbacks.ema and not best.model.mixing  # not from steps 3-6
    augment = best.data.augment.transforms
    assert "albumentations.SomeOf" in [t._target_ for t in augment]  # augment=randaugment
    assert configs[0]["finetune"]["callback"]["phases"][0]["unfreeze"] == "all"  # the study: two stages
    assert len({json.dumps(c, sort_keys=True, default=str) for c in configs}) == len(
        steps
    )  # each adds something


def test_the_recipes_eval_framing_follows_the_image_size(tmp_path: Path) -> None:
    from fgclass.config import compose_config

    def framing(*overrides: str) -> tuple[int, int]:
        data = compose_config("train", list(overrides), tmp_path).data
        return data.image_size, data.resize_size

    assert framing("recipe=0_study") == (192, 219)  # the study's 160 px crops, tested at 192 of 219
    assert framing("experiment=butterfly_best") == (269, 307)
    assert framing("experiment=butterfly_fast") == (192, 219)
    # a smaller test size keeps the centre crop's share (crop_pct), not a 307 px resize
    assert framing("experiment=butterfly_best", "data.image_size=192") == (192, 219)
    assert framing("experiment=butterfly_best", "data.crop_pct=1.0") == (269, 269)
