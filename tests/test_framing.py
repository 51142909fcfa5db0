"""The eval framing follows the image size (``data.crop_pct``, a derived ``data.resize_size``), a run
says when it disagrees with the training view, and ``fgclass.eval`` can change it. Configs are
composed by Hydra as the commands compose them, without the FAST sizes of the other tests."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import albumentations as A
import pytest
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from timm.models import get_pretrained_cfg

from fgclass.config import CONF_DIR, compose_config
from fgclass.data.framing import warn_if_framing_differs
from fgclass.errors import ConfigError
from fgclass.eval import data_overrides, evaluate_checkpoint
from fgclass.eval import main as eval_main
from fgclass.inference.runs import run_datamodule
from fgclass.run_files import RUN_CONFIG_FILE, SPLITS_FILE
from fgclass.train import main as train_main

from .conftest import FAST

AUGMENTS = [path.stem for path in sorted((CONF_DIR / "augment").glob("*.yaml"))]
# resize_size of every experiment and recipe before crop_pct existed: derived or set, they keep it
FRAMING = {
    "experiment=butterfly_best": (269, 307),
    "experiment=butterfly_finetune": (224, 256),
    "experiment=butterfly_head_only": (224, 256),
    "experiment=demo": (64, 64),
    "experiment=fish_finetune": (224, 256),
    "experiment=fish_head_only": (224, 256),
    **{f"recipe={path.stem}": (192, 219) for path in sorted((CONF_DIR / "recipe").glob("[0-6]_*.yaml"))},
    **{f"recipe={path.stem}": (269, 307) for path in sorted((CONF_DIR / "recipe").glob("[7-9]_*.yaml"))},
}


def test_image_size_alone_derives_the_resize_size(tmp_path: Path) -> None:
    assert compose_config("train", [], tmp_path).data.resize_size == 256  # the classic 224 of 256
    cfg = compose_config("train", ["data.image_size=128"], tmp_path)
    assert (cfg.data.crop_pct, cfg.data.resize_size) == (0.875, 146)  # round(128 / 0.875)


def test_explicit_settings_win(tmp_path: Path) -> None:
    set_resize = compose_config("train", ["data.image_size=128", "data.resize_size=256"], tmp_path)
    assert set_resize.data.resize_size == 256
    set_share = compose_config("train", ["data.image_size=100", "data.crop_pct=0.5"], tmp_path)
    assert set_share.data.resize_size == 200


@pytest.mark.parametrize(
    ("overrides", "timm_name"),
    [
        (["model=timm"], "convnext_nano"),
        (["model=timm", "model.backbone=timm/resnet50"], "resnet50"),
        (["model=timm", "model.backbone=timm/resnet50", "model.weights=tv_in1k"], "resnet50.tv_in1k"),
        (["model=timm", "model.backbone=timm/resnet50", "model.weights=null"], "resnet50"),
        (["model=efficientnet_lite0"], "efficientnet_lite0"),
    ],
)
def test_crop_pct_is_the_timm_backbones_own(tmp_path: Path, overrides: list[str], timm_name: str) -> None:
    cfg = compose_config("train", overrides, tmp_path)
    crop_pct = get_pretrained_cfg(timm_name).crop_pct
    assert cfg.data.crop_pct == crop_pct
    assert cfg.data.resize_size == round(224 / crop_pct)


def test_torchvision_and_unknown_backbones_crop_as_before(tmp_path: Path) -> None:
    assert compose_config("train", ["model=vit_b_16"], tmp_path).data.crop_pct == 0.875
    unknown = compose_config("train", ["model=timm", "model.backbone=timm/no_such_net"], tmp_path)
    assert unknown.data.crop_pct == 0.875  # the weights check names the backbone before any work


@pytest.mark.parametrize("choice", FRAMING)
def test_experiments_and_recipes_keep_their_framing(tmp_path: Path, choice: str) -> None:
    data = compose_config("train", [choice], tmp_path).data
    assert (data.image_size, data.resize_size) == FRAMING[choice]


@pytest.mark.parametrize("crop_pct", ["0", "-0.5", "1.5"])
def test_a_crop_pct_outside_0_1_is_one_clear_message(tmp_path: Path, crop_pct: str) -> None:
    cfg = compose_config("train", [f"data.crop_pct={crop_pct}"], tmp_path)
    message = rf"data\.crop_pct={crop_pct}: .* must lie in \(0, 1\] .* set data\.resize_size"
    with pytest.raises(ConfigError, match=message):
        OmegaConf.to_yaml(cfg, resolve=True)  # as train saves run_config.yaml, its first step


def test_a_bad_crop_pct_ends_the_run_with_the_message_alone(
    run_main: Callable[..., tuple[int, str]], tmp_path: Path
) -> None:
    code, output = run_main(train_main, f"paths.root_dir={tmp_path}", "data.crop_pct=1.5")
    assert code == 1
    assert "data.crop_pct=1.5: the share of the resized image's shorter side" in output
    assert "Traceback" not in output  # a user error, not a bug


def framing_warnings(caplog: pytest.LogCaptureFixture, cfg: DictConfig) -> list[str]:
    """The framing warnings logged while the data module of ``cfg`` is built."""
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="fgclass.data.framing"):
        instantiate(cfg.data)
    return [r.getMessage() for r in caplog.records if r.name == "fgclass.data.framing"]


def test_a_run_framed_unlike_its_training_says_so(
    caplog: pytest.LogCaptureFixture, fish_root: Path, tmp_path: Path
) -> None:
    old = ["augment=butterfly_paper", f"data.root={fish_root}", "data.image_size=128"]
    (warning,) = framing_warnings(caplog, compose_config("train", [*old, "data.resize_size=256"], tmp_path))
    assert "keeps 50 % of the picture's shorter side (data.image_size=128 of data.resize_size=256)" in warning
    assert "the training pipeline (augment) 77-100 %" in warning
    fix = "leave data.resize_size unset (round(image_size / data.crop_pct) = 146) or set data.resize_size"
    assert warning.endswith(f": {fix} within 128-165.")
    assert framing_warnings(caplog, compose_config("train", old, tmp_path)) == []  # derived: 146


def test_the_fix_named_fits_the_training_view(caplog: pytest.LogCaptureFixture) -> None:
    zooms_in = A.Compose([A.Resize(64, 64), A.CenterCrop(32, 32)])  # half of the picture's side
    with caplog.at_level(logging.WARNING, logger="fgclass.data.framing"):
        warn_if_framing_differs(zooms_in, 32, 36, 0.875)
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "keeps 89 %" in warning and "(augment) 50-50 %" in warning
    assert warning.endswith(": set data.resize_size within 64-64.")  # not the derived 37


@pytest.mark.parametrize("augment", AUGMENTS)
@pytest.mark.parametrize("choice", ["data.image_size=224", "data.image_size=128", "experiment=demo"])
def test_the_default_framing_agrees_with_every_augment_option(
    caplog: pytest.LogCaptureFixture, fish_root: Path, tmp_path: Path, augment: str, choice: str
) -> None:
    cfg = compose_config("train", [choice, f"augment={augment}", f"data.root={fish_root}"], tmp_path)
    assert framing_warnings(caplog, cfg) == []


# --- fgclass.eval: the framing of the test, without a "+" -------------------------------------
def test_eval_data_overrides_rederive_the_resize_size() -> None:
    def overrides(**data: object) -> dict:
        return data_overrides(OmegaConf.create({"root": None, "image_size": None, **data}))

    assert overrides() == {}  # as in the run
    assert overrides(image_size=160) == {"image_size": 160, "resize_size": None}  # derived again
    assert overrides(crop_pct=0.9) == {"crop_pct": 0.9, "resize_size": None}
    assert overrides(image_size=160, resize_size=200) == {"image_size": 160, "resize_size": 200}


def copy_run_files(run: Path, folder: Path) -> Path:
    folder.mkdir()
    for name in (RUN_CONFIG_FILE, SPLITS_FILE):
        shutil.copy(run / name, folder / name)
    return folder


def test_a_new_image_size_derives_the_resize_from_the_runs_crop_pct(
    trained_run: Path, tmp_path: Path
) -> None:
    saved = OmegaConf.load(trained_run / RUN_CONFIG_FILE).data
    assert (saved.image_size, saved.resize_size) == (32, 36)  # FAST: resize_size set, not derived
    module = run_datamodule(trained_run, tmp_path / "a", image_size=28, resize_size=None)
    assert module.resize_size == round(28 / saved.crop_pct)
    # a run saved before crop_pct existed: timm's default 0.875
    old = copy_run_files(trained_run, tmp_path / "old")
    config = OmegaConf.load(old / RUN_CONFIG_FILE)
    del config.data.crop_pct
    OmegaConf.save(config, old / RUN_CONFIG_FILE)
    assert run_datamodule(old, tmp_path / "b", image_size=28, resize_size=None).resize_size == 32


def test_eval_takes_the_framing_without_a_plus(
    run_main: Callable[..., tuple[int, str]], trained_run: Path, tmp_path: Path
) -> None:
    ckpt = next((trained_run / "checkpoints").glob("epoch*.ckpt"))
    fast = ["trainer.accelerator=cpu", "data.num_workers=0", *(o for o in FAST if o.startswith("eval."))]
    code, output = run_main(
        eval_main, f"ckpt_path={ckpt}", f"paths.root_dir={tmp_path}", *fast, "data.image_size=28"
    )
    assert code == 0, output
    crop_pct = OmegaConf.load(trained_run / RUN_CONFIG_FILE).data.crop_pct
    assert f"centre crop 28 of the shorter side at {round(28 / crop_pct)})" in output
    # the run's own framing asked for by crop_pct alone (32 / 0.89 -> 36): the run's test numbers
    same = compose_config("eval", [*fast, f"ckpt_path={ckpt}", "data.crop_pct=0.89"], tmp_path / "same")
    evaluate_checkpoint(same)
    again, original = (
        json.loads((d / "metrics.json").read_text()) for d in (tmp_path / "same/run", trained_run)
    )
    assert again["accuracy"] == pytest.approx(original["accuracy"], abs=1e-6)
    assert again["noise_0.2/accuracy"] == pytest.approx(original["noise_0.2/accuracy"], abs=1e-6)
