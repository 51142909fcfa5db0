"""Real Hydra multiruns on tiny synthetic data: run folders, the automatic report, failures."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from fgclass.config import CONF_DIR, compose_config
from fgclass.sweep_report import Run, _markdown, summarize
from fgclass.sweep_report import main as report_main
from fgclass.train import main as train_main

from .conftest import FAST

REPO = CONF_DIR.parent


def multirun_args(tmp_path: Path, fish_root: Path, *overrides: str) -> list[str]:
    """``fgclass.train --multirun`` arguments, with outputs and caches under tmp_path."""
    return [
        "--multirun",
        *FAST,
        f"paths.root_dir={tmp_path}",
        f"data.root={fish_root}",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "eval.noise_sigmas=[0,0.3]",
        "hydra/job_logging=disabled",
        *overrides,
    ]


def start_multirun(tmp_path: Path, fish_root: Path, *overrides: str) -> subprocess.Popen:
    """Launch ``python -m fgclass.train --multirun`` in a process of its own."""
    return subprocess.Popen(
        [sys.executable, "-m", "fgclass.train", *multirun_args(tmp_path, fish_root, *overrides)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen) -> tuple[int, str]:
    output, _ = process.communicate(timeout=600)
    return process.returncode, output


def sweep_folder(tmp_path: Path) -> Path:
    (folder,) = tmp_path.glob("outputs/multiruns/*/*")
    return folder


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


@pytest.mark.processes
def test_data_fraction_sweep_beside_a_failing_sweep(tmp_path: Path, fish_root: Path, run_main) -> None:
    # two sweeps at once, one in a process of its own, one in this one: each keeps its own folder;
    # 7 is invalid (an fgclass error); a negative eps fails inside torch (a library's error, which
    # fgclass's own checks do not see).
    # The second runs its jobs in parallel (joblib's loky processes), each with a loader worker.
    failing = start_multirun(
        tmp_path / "b",
        fish_root,
        "data.train_fraction=1.0,7",
        "+model.optimizer.eps=1e-8,-1",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "data.num_workers=1",
    )
    code, output = run_main(
        train_main, *multirun_args(tmp_path / "a", fish_root, "sweep=data_fraction", "seed=0")
    )
    code_b, out_b = finish(failing)

    assert code == 0, output
    folder = sweep_folder(tmp_path / "a")
    jobs = sorted(p for p in folder.iterdir() if p.is_dir())
    # readable run names: the swept value is in the folder name TensorBoard shows
    assert [j.name for j in jobs] == [
        "0_data.train_fraction-1.0+seed-0",
        "1_data.train_fraction-0.5+seed-0",
        "2_data.train_fraction-0.25+seed-0",
    ]
    parser = OverridesParser.create()  # a path into a job folder is a valid unquoted override value
    path = jobs[1] / "checkpoints" / "last.ckpt"
    assert parser.parse_override(f"ckpt_path={path}").value() == str(path)
    splits = {}
    for job in jobs:  # every run has its own everything
        for name in ("splits.csv", "metrics.json", "checkpoints/last.ckpt"):
            assert (job / name).is_file(), (job, name)
        assert list((job / "tensorboard").glob("events.out.tfevents.*"))
        assert not list(job.glob("*.png"))  # eval.figures=false (FAST): the numbers only
        splits[job] = read_csv(job / "splits.csv")
    fixed = [
        {(r["path"], r["split"]) for r in rows if r["split"] in ("val", "test")} for rows in splits.values()
    ]
    assert fixed[0] == fixed[1] == fixed[2]  # val/test never change with the fraction
    train_sizes = [sum(r["split"] == "train" for r in rows) for rows in splits.values()]
    assert train_sizes[0] > train_sizes[1] > train_sizes[2]

    report = read_csv(folder / "report.csv")
    assert [r["data.train_fraction"] for r in report] == ["1.0", "0.5", "0.25"]
    assert {"runs", "accuracy_mean", "accuracy_std", "f1_macro_mean", "noise_0.3_acc_mean"} <= set(report[0])
    assert all(r["runs"] == "1" for r in report)
    for row, job in zip(report, jobs):  # one run per row: its own test accuracy
        accuracy = json.loads((job / "metrics.json").read_text())["accuracy"]
        assert float(row["accuracy_mean"]) == pytest.approx(accuracy, abs=1e-6)
    assert (folder / "report_data.train_fraction.png").is_file()
    assert "| data.train_fraction | runs | accuracy |" in (folder / "report.md").read_text()

    assert code_b == 1, out_b  # a failed run makes the sweep exit non-zero, after reporting
    folder_b = sweep_folder(tmp_path / "b")
    assert folder_b.name != folder.name  # started together, still apart
    report = read_csv(folder_b / "report.csv")
    good = [r for r in report if not r["failed"]]
    bad = [r for r in report if r["failed"]]
    assert [r["data.train_fraction"] for r in good] == ["1.0"] and good[0]["runs"] == "1"
    errors = {r["failed"]: r["error"] for r in bad}
    assert len(bad) == 3, errors
    # each failed run's row carries its one-line message, not "Traceback (most recent call last):",
    # fgclass's own (checked before the run starts) and a library's alike
    ours = [error for job, error in errors.items() if "train_fraction-7" in job]
    assert len(ours) == 2 and all(e.startswith("ConfigError: data.train_fraction=7: use a") for e in ours)
    (library,) = [error for job, error in errors.items() if "train_fraction-1.0" in job]
    assert library.startswith("ValueError: Invalid epsilon value: -1"), errors
    assert "3 failed run" in (folder_b / "report.md").read_text()
    assert (folder_b / bad[0]["failed"] / "error.txt").is_file()

    # the report can be re-run by hand
    assert report_main([str(folder_b)]) == 1
    assert report_main([str(tmp_path / "b" / "outputs")]) == 1  # no runs directly inside: clear message


def test_every_sweep_is_a_multirun_over_seeds(tmp_path: Path) -> None:
    # the report's mean ± std needs repetitions: each sweep varies something and the training seed
    for sweep in sorted(p.stem for p in (CONF_DIR / "sweep").glob("*.yaml")):
        cfg = compose_config("train", [f"sweep={sweep}"], keep_hydra=True)
        params = cfg.hydra.sweeper.params
        assert str(cfg.hydra.mode) == "RunMode.MULTIRUN", sweep
        assert len(str(params.seed).split(",")) >= 2 and len(params) >= 2, sweep
    cfg = compose_config("train", ["hparams_search=optuna"], keep_hydra=True)
    assert cfg.hydra.sweeper._target_.endswith("OptunaSweeper")
    for key in cfg.hydra.sweeper.params:  # every searched key is a setting of the composed config
        assert OmegaConf.select(cfg, key) is not None, key
    assert cfg.hydra.sweeper.direction == "maximize" and cfg.optimized_metric == "val/accuracy_best"


@pytest.mark.slow
def test_optuna_search_runs(tmp_path: Path, fish_root: Path) -> None:
    code, output = finish(
        start_multirun(
            tmp_path,
            fish_root,
            "hparams_search=optuna",
            "hydra.sweeper.n_trials=2",
            "hydra.sweeper.sampler.n_startup_trials=2",
        )
    )
    assert code == 0, output
    assert len(read_csv(sweep_folder(tmp_path) / "report.csv")) == 2


def test_report_averages_over_training_and_split_seeds_and_shows_no_spread_for_one_run(
    tmp_path: Path,
) -> None:
    runs = [
        Run(tmp_path / f"{i}", {"data.split.group_near_duplicates": g, "data.split.seed": s}, {"accuracy": a})
        for i, (g, s, a) in enumerate([("true", "0", 0.9), ("true", "1", 1.0), ("false", "0", 1.0)])
    ]
    swept, rows = summarize(runs)
    assert swept == ["data.split.group_near_duplicates"]  # split seeds are repetitions, not a setting
    grouped, _ = rows
    assert grouped["runs"] == 2 and grouped["seeds"] == "0,1"
    assert grouped["accuracy_mean"] == pytest.approx(0.95) and grouped["accuracy_std"] == pytest.approx(
        0.0707, abs=1e-4
    )
    table = _markdown(swept, rows, [])
    assert "| true | 2 | 0.9500 ± 0.0707 |" in table and "| false | 1 | 1.0000 |" in table
