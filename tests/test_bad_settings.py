"""Bad input on the command line, as a new user gives it: a setting of the wrong type or out of its
range, a checkpoint that cannot be used, an empty input folder. Each ends the real command with exit
status 1 and one message naming the setting or file and the fix: no traceback, and nothing written
but the failure's record (error.txt, the log, Hydra's .hydra/)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from fgclass.config import CONF_DIR, compose_config
from fgclass.errors import ConfigError
from fgclass.eval import main as eval_main
from fgclass.export import main as export_main
from fgclass.predict import main as predict_main
from fgclass.setting_checks import check_settings
from fgclass.settings import AUDIT, EVAL, EXPORT, PREDICT, TRAIN
from fgclass.train import main as train_main
from tests.conftest import HASHES_ONLY

FAST = ["model=tiny", "model.weights=null", "data.num_workers=0", "trainer.accelerator=cpu"]
RECORD = {"error.txt", ".hydra"}  # and the command's .log


def failed(tmp_path: Path, result: tuple[int, str], message: str, error: str) -> Path:
    """Check a command that should have failed with ``error`` saying ``message``; its run folder."""
    code, output = result
    assert code == 1, output
    assert message in output, output
    assert "Traceback" not in output and "Error executing job" not in output, output
    runs = list(tmp_path.glob("outputs/runs/*/*/error.txt"))
    assert len(runs) == 1, runs
    assert runs[0].read_text().startswith(f"{error}: "), runs[0].read_text()
    run = runs[0].parent
    assert sorted(p.name for p in run.iterdir() if p.name not in RECORD and p.suffix != ".log") == []
    return run


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.batch_size=abc"], "data.batch_size='abc' (text): use an integer >= 1 (images per batch)."),
        (["model.optimizer.lr=abc"], "model.optimizer.lr='abc' (text): use a number > 0 (a learning rate)."),
        (["trainer.max_epochs=-2"], "trainer.max_epochs=-2: use an integer >= 1 (epochs) or -1 (no limit)."),
        (["trainer.max_epochs=-1", "callbacks.early_stopping=null"], "with nothing else to end the run"),
        (["trainer.max_epochs=-1", "model/schedulers=cosine"], "whose schedule spans trainer.max_epochs"),
        (["data.train_fraction=0"], "data.train_fraction=0: use a number in (0, 1] (a share)."),
        (["data.image_size=8"], "data.image_size=8: use an integer >= 16 (pixels)."),
        (["data.num_workers=-1"], "data.num_workers=-1: use an integer >= 0"),
        (["trainer.limit_train_batches=1.5"], "use an integer >= 0 (a number of batches), a number in"),
        (["eval.noise_sigmas=[0,-0.1]"], "eval.noise_sigmas[1]=-0.1: use a number >= 0"),
        (["finetune=two_stage", "finetune.lr_all=0"], "finetune.lr_all=0: use a number > 0"),
        (["data.batch_size=0", "seed=-1"], "2 bad settings:\n  - seed=-1: use an integer in [0, "),
        (
            ["experiment=butterfly_best", "callbacks=none"],  # the recipe still sets the checkpoint's monitor
            "callbacks.model_checkpoint has settings (monitor, mode) but no _target_",
        ),
    ],
)
def test_a_bad_training_setting_is_one_message_before_any_work(
    tmp_path: Path, run_main: Callable[..., tuple[int, str]], overrides: list[str], message: str
) -> None:
    # no data at data.root: a setting that passed the check would fail later, in the scan
    args = [f"paths.root_dir={tmp_path}", f"data.root={tmp_path / 'nowhere'}", *FAST, *overrides]
    failed(tmp_path, run_main(train_main, *args), message, "ConfigError")


def test_every_shipped_config_passes_the_checks(tmp_path: Path) -> None:
    for command, rules in (("train", TRAIN), ("eval", EVAL), ("predict", PREDICT), ("export", EXPORT)):
        check_settings(compose_config(command, [], tmp_path), rules)
    check_settings(compose_config("audit", [], tmp_path), AUDIT)
    for group in ("experiment", "recipe"):  # between them: every fine-tuning strategy, schedule, EMA
        for option in sorted(p.stem for p in (CONF_DIR / group).glob("[!_]*.yaml")):
            check_settings(compose_config("train", [f"{group}={option}"], tmp_path), TRAIN)
    # -1: no epoch limit (Lightning's), where early stopping ends the run
    check_settings(compose_config("train", ["trainer.max_epochs=-1"], tmp_path), TRAIN)
    endless = ["trainer.max_epochs=-1", "callbacks.early_stopping=null"]
    with pytest.raises(ConfigError, match=r"trainer\.max_epochs=-1 .* trainer\.max_steps"):
        check_settings(compose_config("train", endless, tmp_path), TRAIN)
    check_settings(compose_config("train", [*endless, "trainer.max_steps=9"], tmp_path), TRAIN)


class Payload:
    """Unpickled, it would create ``path``: what a malicious checkpoint does with a shell command."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (str(self.path), "w")


def unusable_checkpoint(kind: str, trained_run: Path, tmp_path: Path) -> Path:
    """A file named ``.ckpt`` that cannot be used (``kind``), outside any run folder."""
    path = tmp_path / "model.ckpt"
    if kind == "text":
        path.write_text("not a checkpoint\n")
    elif kind == "pickle":
        torch.save({"state_dict": {}, "payload": Payload(tmp_path / "pwned")}, path)
    elif kind == "fewer_classes":  # a real checkpoint of 8 of the run's 9 classes
        ckpt = torch.load(next((trained_run / "checkpoints").glob("epoch*.ckpt")), weights_only=True)
        hparams, weights = ckpt["hyper_parameters"], ckpt["state_dict"]
        hparams["class_names"], hparams["num_classes"] = hparams["class_names"][:-1], 8
        ckpt["state_dict"] = {
            k: v[:-1] if k.startswith("head.") and v.shape[:1] == (9,) else v for k, v in weights.items()
        }
        torch.save(ckpt, path)
    else:  # a checkpoint of the run copied out of it
        shutil.copy(trained_run / "checkpoints" / kind, path)
    return path


CHECKPOINT_CASES = [
    ("text", "cannot be read as a PyTorch checkpoint: it is a text file. Use a .ckpt from an fgclass run"),
    ("pickle", "it holds Python objects that a safe load refuses (io.open), as loading them could run"),
]


@pytest.mark.parametrize(("kind", "message"), CHECKPOINT_CASES)
def test_predict_eval_and_export_refuse_an_unusable_checkpoint(
    trained_run: Path, tmp_path: Path, run_main: Callable[..., tuple[int, str]], kind: str, message: str
) -> None:
    ckpt = unusable_checkpoint(kind, trained_run, tmp_path)
    for main, extra in (
        (predict_main, [f"inputs={trained_run}", "trainer.accelerator=cpu"]),
        (eval_main, [f"splits_file={trained_run / 'splits.csv'}", "trainer.accelerator=cpu"]),
        (export_main, []),
    ):
        out = tmp_path / main.__module__
        result = run_main(main, f"ckpt_path={ckpt}", f"paths.root_dir={out}", *extra)
        failed(out, result, message, "CheckpointError")
    assert not (tmp_path / "pwned").exists()  # nothing in the file ran


@pytest.mark.parametrize(
    ("kind", "overrides", "message"),
    [
        *((kind, [], message) for kind, message in CHECKPOINT_CASES),
        ("epoch*", [], "holds the model's weights only (the best-epoch checkpoints are saved so), not the"),
        ("last.ckpt", ["model=resnet18"], "trained model.backbone=timm/test_resnet, this run has model.back"),
    ],
)
def test_resuming_from_an_unusable_checkpoint_is_one_message_before_the_scan(
    trained_run: Path,
    tmp_path: Path,
    run_main: Callable[..., tuple[int, str]],
    kind: str,
    overrides: list[str],
    message: str,
) -> None:
    if kind == "epoch*":
        kind = next((trained_run / "checkpoints").glob("epoch*.ckpt")).name
    ckpt = unusable_checkpoint(kind, trained_run, tmp_path)
    args = [f"ckpt_path={ckpt}", f"paths.root_dir={tmp_path}", f"data.root={tmp_path / 'nowhere'}"]
    failed(tmp_path, run_main(train_main, *args, *FAST, *overrides), message, "CheckpointError")
    assert not (tmp_path / "pwned").exists()


def test_a_failed_resume_leaves_the_runs_own_files_as_they_were(
    trained_run: Path, tmp_path: Path, run_main: Callable[..., tuple[int, str]]
) -> None:
    run = Path(shutil.copytree(trained_run, tmp_path / "run"))

    def files() -> dict[Path, bytes]:  # but the failure's record
        kept = [p for p in run.rglob("*") if p.is_file() and not RECORD & set(p.parts) and p.suffix != ".log"]
        return {p: p.read_bytes() for p in kept}

    before = files()
    best = next((run / "checkpoints").glob("epoch*.ckpt"))  # resumed in its own run folder
    code, output = run_main(train_main, f"ckpt_path={best}", *FAST, "data.batch_size=0")
    assert code == 1 and "data.batch_size=0: use an integer >= 1" in output and "Traceback" not in output
    code, output = run_main(train_main, f"ckpt_path={best}", *FAST)
    assert code == 1 and "holds the model's weights only" in output and "Traceback" not in output
    assert (run / "error.txt").read_text().startswith("CheckpointError: ")
    assert files() == before


def test_resuming_on_data_of_other_classes_names_both_counts(
    trained_run: Path, butterfly_root: Path, tmp_path: Path, run_main: Callable[..., tuple[int, str]]
) -> None:
    ckpt = unusable_checkpoint("last.ckpt", trained_run, tmp_path)
    data = ["data=butterfly", f"data.root={butterfly_root}", "data.image_size=32", "data.resize_size=36"]
    data.append(HASHES_ONLY)
    code, output = run_main(train_main, f"ckpt_path={ckpt}", f"paths.root_dir={tmp_path}", *data, *FAST)
    assert code == 1 and "Traceback" not in output
    assert "ckpt_path: the checkpoint knows 9 classes, the data has 6 (only in the checkpoint: [" in output
    assert "Resume with the data that run trained on, or start a new run without ckpt_path." in output


def test_eval_of_a_checkpoint_with_other_classes_than_the_run(
    trained_run: Path, tmp_path: Path, run_main: Callable[..., tuple[int, str]]
) -> None:
    ckpt = unusable_checkpoint("fewer_classes", trained_run, tmp_path)
    args = [f"ckpt_path={ckpt}", f"splits_file={trained_run / 'splits.csv'}", f"paths.root_dir={tmp_path}"]
    message = "ckpt_path: the checkpoint knows 8 classes, the data has 9 (only in the checkpoint: [], only in"
    failed(tmp_path, run_main(eval_main, *args, "trainer.accelerator=cpu"), message, "CheckpointError")


def test_eval_on_an_empty_data_folder(
    trained_run: Path, tmp_path: Path, run_main: Callable[..., tuple[int, str]]
) -> None:
    ckpt = next((trained_run / "checkpoints").glob("epoch*.ckpt"))
    (tmp_path / "empty").mkdir()
    args = [f"ckpt_path={ckpt}", f"data.root={tmp_path / 'empty'}", f"paths.root_dir={tmp_path}"]
    code, output = run_main(eval_main, *args, "trainer.accelerator=cpu")
    assert code == 1 and "Traceback" not in output, output
    assert str(tmp_path / "empty") in output and "data.root" in output, output
    assert not list(tmp_path.glob("outputs/runs/*/*/metrics.json"))


def test_predict_top_k_above_the_class_count_lists_every_class(
    trained_run: Path, fish_root: Path, tmp_path: Path, run_main: Callable[..., tuple[int, str]]
) -> None:
    image = next(p for p in fish_root.rglob("*") if p.suffix == ".png")
    ckpt = next((trained_run / "checkpoints").glob("epoch*.ckpt"))
    args = [f"ckpt_path={ckpt}", f"inputs={image}", f"paths.root_dir={tmp_path}", "top_k=20", "num_workers=0"]
    code, output = run_main(predict_main, *args, "trainer.accelerator=cpu")
    assert code == 0, output
    assert "top_k=20 is above the checkpoint's 9 classes: all are listed" in output
    header = next(tmp_path.glob("outputs/runs/*/*/predictions.csv")).read_text().splitlines()[0]
    assert "top9_prob" in header and "top10" not in header


@pytest.mark.parametrize(
    ("command", "overrides", "error", "message"),
    [
        ("predict", ["top_k=0"], "ConfigError", "top_k=0: use an integer >= 1 (classes listed per image)."),
        ("predict", ["top_k=abc"], "ConfigError", "top_k='abc' (text): use an integer >= 1"),
        ("predict", ["batch_size=0"], "ConfigError", "batch_size=0: use an integer >= 1 (images per batch)."),
        ("predict", ["inputs={empty}"], "DataError", "inputs: '{empty}' holds no image files"),
        ("export", ["batch_size=0"], "ConfigError", "batch_size=0: use an integer >= 1 (images per batch)."),
        ("export", ["tolerance=-1"], "ConfigError", "tolerance=-1: use a number > 0"),
        ("export", ["images={empty}"], "DataError", "images: '{empty}' holds no image files"),
    ],
)
def test_predict_and_export_bad_input(
    trained_run: Path,
    tmp_path: Path,
    run_main: Callable[..., tuple[int, str]],
    command: str,
    overrides: list[str],
    error: str,
    message: str,
) -> None:
    empty = tmp_path / "empty"  # no image in it, nor in its subfolder
    (empty / "sub").mkdir(parents=True)
    (empty / "notes.txt").write_text("no photos")
    ckpt = next((trained_run / "checkpoints").glob("epoch*.ckpt"))
    main, args = {
        "predict": (predict_main, [f"inputs={trained_run / 'gradcam'}", "trainer.accelerator=cpu"]),
        "export": (export_main, []),
    }[command]
    args += [f"ckpt_path={ckpt}", f"paths.root_dir={tmp_path}", *(o.format(empty=empty) for o in overrides)]
    failed(tmp_path, run_main(main, *args), message.format(empty=empty), error)
