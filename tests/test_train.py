"""The training entry point: every experiment composes and runs; a real run leaves its files and
TensorBoard logs; its checkpoint loads in plain Python."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torchvision
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from tensorboard.backend.event_processing.event_accumulator import IMAGES, EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from fgclass.app import run_task
from fgclass.config import CONF_DIR, compose_config
from fgclass.data.dataset import ImageDataset
from fgclass.data.transforms import eval_transform
from fgclass.errors import CheckpointError, ConfigError
from fgclass.evaluation.tensorboard import read_scalars
from fgclass.models import Classifier
from fgclass.models.backbones import available_backbones
from fgclass.train import check_run_settings, optimized_value, train
from fgclass.train import main as train_main

REPO = CONF_DIR.parent
EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))


def test_the_studies_experiments_exist() -> None:
    assert {"demo", "fish_head_only", "fish_finetune", "butterfly_head_only", "butterfly_finetune"} <= set(
        EXPERIMENTS
    )


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_runs_fast_dev_run(
    experiment: str,
    train_config: Callable[..., DictConfig],
    fish_root: Path,
    butterfly_root: Path,
    benchmark_roots: dict[str, Path],
    tmp_path: Path,
) -> None:
    own = compose_config("train", [f"experiment={experiment}"], tmp_path, keep_hydra=True).hydra
    own = own.runtime.choices  # the experiment's own data and model configs
    roots = {"fish": fish_root, "butterfly": butterfly_root, **benchmark_roots}
    root = roots.get(own.data, tmp_path / "synthetic")
    overrides = [f"experiment={experiment}", f"model={own.model}"]  # its own model, not FAST's tiny
    overrides += [f"data.root={root}", "debug=fast_dev_run"]
    drawn = own.data not in benchmark_roots  # <benchmark>_best is butterfly_best's recipe: drawn there
    if drawn:
        overrides += ["eval.gradcam.enabled=true", "eval.figures=true"]
    if experiment == "demo":
        overrides.append("data.photos_per_class=3")
    cfg = train_config(*overrides)
    assert cfg.name == experiment
    metrics = train(cfg)
    assert "train/loss" in metrics
    assert (tmp_path / "run" / "splits.csv").is_file()
    # test and evaluation run too, on one batch
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert written["num_samples"] == metrics["test/num_samples"] <= 16
    if drawn:
        assert (tmp_path / "run" / "confusion_matrix.png").is_file()
        assert (tmp_path / "run" / "gradcam" / "gradcam.png").is_file()  # the backbone's Grad-CAM layer works


def test_debug_limit_is_a_miniature_run_with_every_output(
    train_config: Callable[..., DictConfig], fish_root: Path, tmp_path: Path
) -> None:
    cfg = train_config(f"data.root={fish_root}", "debug=limit", "data.batch_size=4", "eval.figures=true")
    metrics = train(cfg)
    run = tmp_path / "run"
    assert metrics["test/num_samples"] == 8  # 2 test batches of 4
    with (run / "noise_robustness.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == len(cfg.eval.noise_sigmas)  # every report
    assert len(read_scalars(run / "tensorboard")["val/accuracy"]) == 2  # 2 epochs
    assert (run / "checkpoints" / "last.ckpt").is_file() and (run / "confusion_matrix.png").is_file()


def test_debug_overfit_drives_the_training_loss_down(
    train_config: Callable[..., DictConfig], fish_root: Path, tmp_path: Path
) -> None:
    cfg = train_config(
        f"data.root={fish_root}",
        "debug=overfit",
        "logger=csv",
        "trainer.max_epochs=10",
        "model.optimizer.lr=3e-3",  # model=tiny memorises two batches in 10 epochs at this rate
    )
    assert cfg.trainer.overfit_batches == 2 and not cfg.test and cfg.data.augment is None
    train(cfg)
    with next((tmp_path / "run").rglob("metrics.csv")).open() as handle:
        losses = [float(r["train/loss_epoch"]) for r in csv.DictReader(handle) if r.get("train/loss_epoch")]
    assert len(losses) == 10 and losses[-1] < 0.3 * losses[0]
    assert not (tmp_path / "run" / "metrics.json").exists()  # no test phase


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiments_take_every_registered_backbone(experiment: str, tmp_path: Path) -> None:
    # `experiment=X model=Y` must not ask backbone Y for pretrained weights it does not have. What
    # an experiment sets overrides every model's own weights (checked in test_models), and model=tiny
    # has none: one composition shows what the experiment hands to any model=Y.
    weights = compose_config("train", [f"experiment={experiment}", "model=tiny"], tmp_path).model.weights
    if weights is not None:
        for backbone in available_backbones():
            assert weights in torchvision.models.get_model_weights(backbone).__members__, (backbone, weights)


def test_any_trainer_argument_overrides_without_plus(train_config: Callable[..., DictConfig]) -> None:
    cfg = train_config("trainer.limit_test_batches=1", "trainer.gradient_clip_val=0.5")
    trainer = instantiate(cfg.trainer)  # every listed key is a real Trainer argument
    assert trainer.limit_test_batches == 1 and trainer.gradient_clip_val == 0.5


def test_every_monitored_metric_is_one_a_run_logs(
    train_config: Callable[..., DictConfig], trained_run: Path
) -> None:
    # checkpointing, early stopping, plateau schedules and sweepers watch names a real run logged
    logged = set(read_scalars(trained_run / "tensorboard"))
    for experiment in sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml")):
        cfg = train_config(f"experiment={experiment}")
        watched = {c.monitor for c in cfg.callbacks.values() if c and c.get("monitor")}
        watched |= {s.monitor for s in (cfg.model.schedulers or {}).values() if s and s.get("monitor")}
        assert watched | {cfg.optimized_metric} <= logged, experiment


def test_butterfly_study_schedule_divides_the_rate_by_ten_every_ten_epochs(
    train_config: Callable[..., DictConfig],
) -> None:
    cfg = train_config("experiment=butterfly_finetune", "model=tiny", "model.weights=null")
    model = instantiate(cfg.model, num_classes=3)
    model.frozen_stages = set(model.stages)  # the study's start: the head alone
    [optimizer], schedulers = model.configure_optimizers()
    by_type = {type(s["scheduler"]).__name__: s for s in schedulers}
    assert by_type["ReduceLROnPlateau"]["monitor"] == "val/accuracy"  # on val accuracy, as the study
    lrs = []
    for _ in range(21):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        by_type["StepLR"]["scheduler"].step()
    assert lrs[0] == 1e-3 and lrs[9] == 1e-3
    assert lrs[10] == pytest.approx(1e-4) and lrs[20] == pytest.approx(1e-5)


def test_butterfly_study_augmentation(train_config: Callable[..., DictConfig]) -> None:
    butterfly = train_config("experiment=butterfly_finetune")
    names = [t._target_.split(".")[-1] for t in butterfly.data.augment.transforms]
    assert names == [
        "Resize",
        "RandomResizedCrop",
        "HorizontalFlip",
        "VerticalFlip",
        "Rotate",
        "RandomBrightnessContrast",
        "CoarseDropout",
    ]


def test_run_writes_results_and_tensorboard_logs(trained_run: Path) -> None:
    for name in ("splits.csv", "run_config.yaml", "metrics.json", "predictions.csv", "checkpoints/last.ckpt"):
        assert (trained_run / name).is_file(), name
    scalars = read_scalars(trained_run / "tensorboard")
    for tag in (
        "train/loss_epoch",
        "train/accuracy",
        "val/loss",
        "val/accuracy",
        "val/f1_macro",
        "lr-Adam/head",
    ):
        assert len(scalars[tag]) == 2, tag  # one value per epoch
    best_so_far = [max(scalars["val/accuracy"][: i + 1]) for i in range(2)]
    assert scalars["val/accuracy_best"] == pytest.approx(best_so_far)  # what sweepers optimise
    for tag in ("test/accuracy", "test/f1_macro", "test/precision_weighted", "test/loss"):
        assert len(scalars[tag]) == 1, tag  # one source of test metrics: logged once, by evaluate()
    assert not {"test/acc", "test/f1"} & set(scalars)
    events = EventAccumulator(str(trained_run / "tensorboard"), size_guidance={IMAGES: 0})
    events.Reload()
    assert {"train/augmented_samples", "test/confusion_matrix", "test/per_class_f1"} <= set(
        events.Tags()[IMAGES]
    )
    # the HParams tab: run settings next to the final test metrics
    start = HParamsPluginData.FromString(
        events.SummaryMetadata("_hparams_/session_start_info").plugin_data.content
    )
    assert {"model.backbone", "finetune", "data.train_fraction", "seed"} <= set(
        start.session_start_info.hparams
    )
    assert start.session_start_info.hparams["model.backbone"].string_value == "timm/test_resnet"
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert scalars["test/accuracy"] == [pytest.approx(metrics["accuracy"], abs=1e-6)]
    assert metrics["fit_minutes"] > 0 and metrics["eval_minutes"] > 0  # wall-clock, for the sweep report


def test_checkpoint_loads_outside_hydra(trained_run: Path) -> None:
    best = next((trained_run / "checkpoints").glob("epoch*.ckpt"))
    model = Classifier.load_from_checkpoint(best, map_location="cpu").eval()
    assert model.hparams.weights is None  # never re-fetches pretrained weights
    with (trained_run / "predictions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    data = OmegaConf.load(trained_run / "run_config.yaml").data
    dataset = ImageDataset(
        Path(data.root) / "Fish_Dataset",
        [r["path"] for r in rows],
        [0] * len(rows),
        eval_transform(data.image_size, data.resize_size),
    )
    images = torch.stack([dataset[i][0] for i in range(len(dataset))])
    with torch.no_grad():
        predicted = model(images).argmax(1)
    assert [model.class_names[i] for i in predicted] == [r["predicted_label"] for r in rows]


def cli_args(tmp_path: Path) -> list[str]:
    return [f"paths.root_dir={tmp_path}", "model.weights=null"]


@pytest.mark.parametrize(
    ("overrides", "message", "error"),
    [
        (["data.root={tmp}/nowhere"], "does not exist", "DataError"),
        (["data.split.val=0.6", "data.split.test=0.5"], "must leave a training share", "ConfigError"),
    ],
)
def test_cli_reports_bad_input_without_traceback(
    tmp_path: Path, run_main, overrides: list[str], message: str, error: str
) -> None:
    code, output = run_main(train_main, *cli_args(tmp_path), *(o.format(tmp=tmp_path) for o in overrides))
    assert code == 1
    assert message in output and "Traceback" not in output
    errors = list(tmp_path.glob("outputs/runs/*/*/error.txt"))
    assert len(errors) == 1 and errors[0].read_text().startswith(error)


def test_an_unwritable_output_folder_is_one_message(tmp_path: Path, run_main) -> None:
    (tmp_path / "a_file").touch()
    code, output = run_main(train_main, *cli_args(tmp_path), f"paths.log_dir={tmp_path}/a_file/outputs")
    assert code == 1 and "Traceback" not in output
    assert f"Cannot write the output folder {tmp_path}/a_file/outputs/runs/" in output
    assert "set paths.log_dir=" in output


def test_a_missing_mandatory_value_is_one_message_naming_it(tmp_path: Path) -> None:
    cfg = compose_config("train", ["data=image_folder"], tmp_path)  # no data.root given
    with pytest.raises(SystemExit):
        run_task(train, cfg, tmp_path / "run")
    error = (tmp_path / "run" / "error.txt").read_text()
    assert error.startswith("ConfigError: data.root must be set: add data.root=") and "Traceback" not in error


def test_help_offers_no_private_config_files(tmp_path: Path) -> None:
    # what --help prints, with the group listing resolved
    text = compose_config("train", keep_hydra=True).hydra.help.template
    models = next(line for line in text.splitlines() if line.startswith("model: "))
    assert "resnet50" in models and "efficientnet_lite0" in models and "_classifier" not in models
    data = (
        "butterfly, cub200, fgvc_aircraft, fish, flowers102, image_folder, inat2021, nabirds, oxford_pets, "
    )
    assert f"data: {data}shards, stanford_cars, stanford_dogs, synthetic" in text and "_benchmark" not in text
    assert "callbacks/ema: ema, none" in text


def test_a_random_frozen_backbone_gets_a_warning(
    train_config: Callable[..., DictConfig], caplog: pytest.LogCaptureFixture
) -> None:
    check_run_settings(train_config("finetune=head_only", "model.weights=null"))
    assert "the backbone keeps its random weights" in caplog.text
    caplog.clear()
    check_run_settings(train_config("finetune=two_stage", "model.weights=null"))  # it unfreezes later
    assert "random weights" not in caplog.text
    assert "statistics of a random initialisation" in caplog.text  # but BatchNorm would stay random
    caplog.clear()
    check_run_settings(
        train_config("finetune=two_stage", "model.weights=null", "finetune.callback.freeze_bn_stats=false")
    )
    assert caplog.text == ""


@pytest.mark.parametrize(
    ("override", "error", "message"),
    [
        ("ckpt_path={tmp}/gone.ckpt", CheckpointError, r"ckpt_path: '.*gone\.ckpt' not found; resume from"),
        ("trainer.accelerator=gpu", ConfigError, r"no usable CUDA GPU .* Use trainer=default"),
    ],
)
def test_resume_and_accelerator_settings_fail_before_the_scan(
    train_config: Callable[..., DictConfig], tmp_path: Path, override: str, error: type, message: str
) -> None:
    if "gpu" in override and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    cfg = train_config(f"data.root={tmp_path / 'nowhere'}", override.format(tmp=tmp_path))
    with pytest.raises(error, match=message):  # the missing data.root would fail later, in the scan
        train(cfg)


def test_last_checkpoint_is_the_last_epoch_even_when_the_best_is_older(
    train_config: Callable[..., DictConfig], fish_root: Path, tmp_path: Path
) -> None:
    # val/accuracy_best never decreases, so "lowest is best" keeps the best checkpoint at epoch 0
    cfg = train_config(
        f"data.root={fish_root}",
        "callbacks.model_checkpoint.monitor=val/accuracy_best",
        "callbacks.model_checkpoint.mode=min",
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=2",
        "test=false",
    )
    train(cfg)
    folder = tmp_path / "run" / "checkpoints"
    (best,) = folder.glob("epoch*.ckpt")
    assert torch.load(best, weights_only=True)["epoch"] == 0
    assert torch.load(folder / "last.ckpt", weights_only=True)["epoch"] == 1  # resume continues from here


def test_a_limited_test_scores_the_same_mixed_images_everywhere(
    train_config: Callable[..., DictConfig], fish_root: Path, tmp_path: Path
) -> None:
    cfg = train_config(
        f"data.root={fish_root}",
        "finetune=two_stage",
        "finetune.stage1_epochs=1",
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=2",
        "trainer.limit_test_batches=1",
        "eval.tta=true",
    )
    train(cfg)
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["num_samples"] == 16  # one batch
    assert metrics["noise_0/accuracy"] == pytest.approx(metrics["accuracy"])  # the same 16 images
    with (run / "predictions.csv").open() as handle:
        assert len({row["true_label"] for row in csv.DictReader(handle)}) >= 4  # not one class
    # the epoch after the phase change is logged at the rate it trained at, not the stage-1 rate
    scalars = read_scalars(run / "tensorboard")
    assert scalars["lr-Adam/head"] == pytest.approx([1e-3, 1e-5])


def test_an_unknown_optimized_metric_is_an_error_naming_the_known_ones(trained_run: Path) -> None:
    written = json.loads((trained_run / "metrics.json").read_text())
    metrics = {k: float(v) for k, v in written.items() if k != "protocol"}
    metrics = {f"test/{k}": v for k, v in metrics.items()} | {"val/accuracy_best": 0.5}
    assert optimized_value(metrics, "val/accuracy_best") == 0.5
    with pytest.raises(ConfigError, match=r"optimized_metric=val/accuracy is not a metric .*test/accuracy"):
        optimized_value(metrics, "val/accuracy")


def test_lr_find_trains_at_the_suggested_rate_and_saves_its_plot(
    train_config: Callable[..., DictConfig], fish_root: Path, tmp_path: Path
) -> None:
    cfg = train_config(
        f"data.root={fish_root}",
        "lr_find.enabled=true",
        "lr_find.num_training=20",
        "lr_find.early_stop_threshold=null",
        "trainer.max_epochs=1",
        "test=false",
    )
    metrics = train(cfg)
    found = metrics["lr_find/lr"]
    assert found != cfg.model.optimizer.lr and 1e-6 <= found <= 1.0
    assert (tmp_path / "run" / "lr_find.png").stat().st_size > 10_000
    # the fit after the test ran at the suggestion, from the initial weights
    assert read_scalars(tmp_path / "run" / "tensorboard")["lr-Adam/head"][0] == pytest.approx(found)
    model = Classifier.load_from_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert model.lr == pytest.approx(found)
