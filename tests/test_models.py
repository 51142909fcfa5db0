"""Backbone registry, local weights files, heads, losses and checkpoint loading outside Hydra."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchvision
from hydra.utils import instantiate

from fgclass.config import CONF_DIR, compose_config
from fgclass.errors import CheckpointError, ConfigError
from fgclass.models import Classifier, available_backbones, create_backbone
from fgclass.models.features import InferencePath, fast_inference
from fgclass.models.losses import FocalLoss

SMALL_VIT = {"image_size": 32}


@pytest.mark.parametrize("name", available_backbones())
def test_backbone_stages_partition_parameters(name: str) -> None:
    kwargs = SMALL_VIT if name.startswith("vit") else {}
    net = create_backbone(name, None, **kwargs)
    owners: dict[str, list[str]] = {}
    for param_name, _ in net.model.named_parameters():
        owners[param_name] = [
            stage for stage, prefixes in net.stages.items() if any(param_name.startswith(p) for p in prefixes)
        ]
    assert all(len(stages) == 1 for stages in owners.values()), {
        k: v for k, v in owners.items() if len(v) != 1
    }
    with torch.no_grad():
        features = net.model.eval()(torch.rand(2, 3, 32, 32))
    assert features.shape == (2, net.num_features)


def test_every_model_config_names_a_backbone_the_registry_builds() -> None:
    registered = set(available_backbones())
    for name in sorted(p.stem for p in (CONF_DIR / "model").glob("[!_]*.yaml")):
        model = compose_config("train", [f"model={name}"]).model
        assert model.backbone in registered or model.backbone.startswith("timm/"), (name, model.backbone)
        if model.backbone in registered and model.weights is not None:  # a name torchvision knows
            assert model.weights in torchvision.models.get_model_weights(model.backbone).__members__, name


def test_unknown_backbone_and_weights_names_are_clear() -> None:
    with pytest.raises(ConfigError, match=r"Available: .*resnet50"):
        create_backbone("resnet5O")
    with pytest.raises(ConfigError, match="IMAGENET1K_V2") as error:
        create_backbone("resnet50", "IMAGENET_V9")
    assert str(error.value).count("DEFAULT") == 1


def test_local_weights_file_round_trip(tmp_path: Path) -> None:
    reference = torchvision.models.resnet18(num_classes=1000).eval()
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    net = create_backbone("resnet18", str(path))
    reference.fc = torch.nn.Identity()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(net.model.eval()(x), reference(x))

    # a backbone-only state dict (no classifier keys), e.g. saved from fgclass, loads too
    torch.save(net.model.state_dict(), tmp_path / "backbone.pt")
    again = create_backbone("resnet18", str(tmp_path / "backbone.pt"))
    with torch.no_grad():
        assert torch.equal(again.model.eval()(x), reference(x))


def test_mismatched_weights_file_lists_keys(tmp_path: Path) -> None:
    path = tmp_path / "resnet50.pth"
    torch.save(torchvision.models.resnet50().state_dict(), path)
    with pytest.raises(CheckpointError) as error:
        create_backbone("resnet18", str(path))
    message = str(error.value)
    assert "does not fit" in message and "unexpected" in message and "wrong shape" in message
    assert "layer1.0.conv3.weight" in message  # a resnet50-only key, named


def test_unreadable_weights_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.pth"
    path.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match=r"model\.weights: .* cannot be read as a weights file: it is"):
        create_backbone("resnet18", str(path))
    with pytest.raises(CheckpointError, match="not found"):
        create_backbone("resnet18", str(tmp_path / "missing.pth"))


@pytest.mark.parametrize(("head", "shapes"), [("linear", [(512, 4)]), ("mlp", [(512, 512), (512, 4)])])
def test_head_configs_build_on_the_backbone_features(head: str, shapes: list, tmp_path: Path) -> None:
    cfg = compose_config("train", ["model=resnet18", "model.weights=null", f"model/head={head}"], tmp_path)
    model = instantiate(cfg.model, num_classes=4)
    linears = [m for m in model.head if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == shapes


def test_focal_loss_matches_definition() -> None:
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
    target = torch.tensor([0, 2])
    p = logits.softmax(1)[torch.arange(2), target]
    expected = (-((1 - p) ** 2) * p.log()).mean()
    assert torch.allclose(FocalLoss(gamma=2.0)(logits, target), expected)
    assert torch.allclose(FocalLoss(gamma=0.0)(logits, target), F.cross_entropy(logits, target))


def test_input_normalisation_accepts_uint8_and_unit_floats() -> None:
    model = Classifier(num_classes=3, backbone="resnet18", weights=None).eval()
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.allclose(model(images), model(images.float() / 255), atol=1e-5)
        features = model.features(images)
        assert torch.allclose(model(features), model(images), atol=1e-5)  # 2-D input = features


@pytest.mark.parametrize(
    ("old_loss", "expected"),
    [
        ({"name": "cross_entropy", "label_smoothing": 0.1, "gamma": 2.0}, torch.nn.CrossEntropyLoss),
        ({"name": "focal", "label_smoothing": 0.0, "gamma": 3.0}, FocalLoss),
    ],
)
def test_checkpoints_with_named_head_and_loss_still_load(
    old_loss: dict, expected: type, tmp_path: Path
) -> None:
    # the hyper-parameters of checkpoints written before head and loss became _target_ configs
    model = Classifier(3, ["a", "b", "c"], backbone="resnet18", weights=None)
    model.head = torch.nn.Sequential(  # the head the old {hidden_dim: 8} options built
        torch.nn.Linear(512, 8), torch.nn.ReLU(), torch.nn.Dropout(0.1), torch.nn.Linear(8, 3)
    )
    checkpoint = {
        "state_dict": model.state_dict(),
        "hyper_parameters": {**model.hparams, "head": {"hidden_dim": 8, "dropout": 0.1}, "loss": old_loss},
        "pytorch-lightning_version": "2.4.0",
    }
    torch.save(checkpoint, tmp_path / "old.ckpt")
    loaded = Classifier.load_from_checkpoint(tmp_path / "old.ckpt")  # plain Lightning loading
    assert isinstance(loaded.criterion, expected)
    assert loaded.criterion.label_smoothing == old_loss["label_smoothing"]
    if expected is FocalLoss:
        assert loaded.criterion.gamma == 3.0
    else:  # cross-entropy takes no gamma: the old config's is dropped
        assert not hasattr(loaded.criterion, "gamma")
    assert [m.out_features for m in loaded.head if isinstance(m, torch.nn.Linear)] == [8, 3]
    assert torch.equal(loaded.head[3].weight, model.head[3].weight)


class _Noisy(torch.nn.Module):
    """A network whose traced copy cannot repeat it: fresh noise on every call."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3)) + torch.rand(len(x), 3)


class _DictOutput(torch.nn.Module):
    """A network whose output is a dict, not one tensor."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"features": x.mean((2, 3))}


@torch.library.custom_op("fgclass_tests::doubled", mutates_args=())
def _doubled(x: torch.Tensor) -> torch.Tensor:
    """An op of this test's own: TorchScript records the call, but no ONNX exporter can translate it."""
    return x * 2


@_doubled.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


class _NotExportable(torch.nn.Module):
    """A network TorchScript traces but torch's ONNX exporter cannot convert: it calls :func:`_doubled`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _doubled(x.mean((2, 3)))


def test_the_torchscript_path_repeats_the_eager_backbone_or_is_not_taken() -> None:
    backbone = create_backbone("timm/test_resnet", None).model.eval()
    images = torch.rand(5, 3, 32, 32)
    with torch.inference_mode():
        eager = backbone(images)
        frozen = fast_inference(backbone, images[:3])  # traced on a batch of 3, then used on 5
        assert isinstance(frozen, InferencePath) and frozen.name == "TorchScript"
        torch.testing.assert_close(frozen(images), eager, rtol=1e-4, atol=1e-4)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert fast_inference(backbone, images) is backbone  # autocast: eager, as the Trainer asked
        assert fast_inference(backbone.train(), images) is backbone  # training mode: eager
        noisy = _Noisy().eval()
        assert fast_inference(noisy, images) is noisy  # the traced copy differs: eager
        dict_output = _DictOutput().eval()
        assert fast_inference(dict_output, images, onnx=True) is dict_output


def test_onnx_runtime_runs_the_backbone_where_it_repeats_it_else_the_next_path(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backbone = create_backbone("timm/test_resnet", None).model.eval()
    images = torch.rand(5, 3, 32, 32)
    with torch.inference_mode():
        eager = backbone(images)
        fast = fast_inference(backbone, images[:3], onnx=True)  # exported on a batch of 3, then run on 5
        assert isinstance(fast, InferencePath) and fast.name == "ONNX Runtime"
        torch.testing.assert_close(fast(images), eager, rtol=1e-4, atol=1e-4)
        noisy = _Noisy().eval()
        assert fast_inference(noisy, images, onnx=True) is noisy  # neither copy repeats it: eager
        with caplog.at_level(logging.INFO, logger="fgclass.models.features"):
            not_exportable = _NotExportable().eval()
            fallback = fast_inference(not_exportable, images, onnx=True)
        assert isinstance(fallback, InferencePath) and fallback.name == "TorchScript"
        torch.testing.assert_close(fallback(images), not_exportable(images), rtol=1e-4, atol=1e-4)
        assert "ONNX Runtime cannot run _NotExportable" in caplog.text
