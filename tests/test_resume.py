"""Resuming from an epoch's checkpoint gives the uninterrupted run's weights (deterministic CPU, fp32)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fgclass.config import compose_config, run_dir
from fgclass.train import train
from tests.conftest import FAST

DETERMINISTIC = [
    "augment=basic",  # random crops, flips, rotations: the augmentation stream must be replayed too
    "model.head.dropout=0.3",  # dropout draws from the global RNG
    "trainer.deterministic=true",
    "trainer.precision=32-true",
    "trainer.limit_train_batches=3",
    "callbacks.early_stopping=null",
    "test=false",
]


def _final_weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


@pytest.mark.parametrize(
    "overrides",
    [
        ["finetune=full", "data.num_workers=2"],  # loader workers: their seeds must not matter
        ["finetune=two_stage", "finetune.stage1_epochs=1"],  # the phase change falls in the resumed part
    ],
    ids=["full-workers", "two_stage-phase-change"],
)
def test_resume_equals_the_uninterrupted_run(fish_root: Path, tmp_path: Path, overrides: list[str]) -> None:
    def run(folder: str, *extra: str) -> Path:
        train(
            compose_config(
                "train",
                [*FAST, f"data.root={fish_root}", *DETERMINISTIC, *overrides, *extra],
                tmp_path / folder,
            )
        )
        return tmp_path / folder / "run"

    uninterrupted = run("straight", "trainer.max_epochs=2")
    interrupted = run("resumed", "trainer.max_epochs=1")
    first_epoch = _final_weights(interrupted)
    run("resumed", "trainer.max_epochs=2", f"ckpt_path={interrupted / 'checkpoints' / 'last.ckpt'}")

    expected, resumed = _final_weights(uninterrupted), _final_weights(interrupted)
    assert any(not torch.equal(first_epoch[k], resumed[k]) for k in resumed), "the resumed run did not train"
    worst = max((expected[k].double() - resumed[k].double()).abs().max().item() for k in expected)
    assert worst <= 1e-6


def test_run_folders_of_a_resumed_run_an_evaluation_and_a_slurm_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "runs" / "2026-12-01" / "10-00-00_abcdef_demo"
    (run / "checkpoints").mkdir(parents=True)
    (run / "run_config.yaml").touch()
    ckpt = str(run / "checkpoints" / "last.ckpt")
    runs = str(tmp_path / "runs")
    assert run_dir(ckpt, "train", runs, "demo") == str(run)  # training carries on in the run's folder
    evaluation = run_dir(ckpt, "eval", runs, "eval")  # a new folder that names the evaluated run
    assert evaluation.endswith("_eval_10-00-00_abcdef_demo") and Path(evaluation).parent.parent == Path(runs)
    assert run_dir(str(tmp_path / "elsewhere.ckpt"), "train", runs, "demo") != str(run)
    monkeypatch.setenv("SLURM_NTASKS", "1")
    monkeypatch.setenv("SLURM_JOB_NAME", "fgclass")
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    # a batch job's folder survives a requeue (same job id), so Lightning finds its hpc checkpoint there
    assert (
        run_dir(None, "train", runs, "demo")
        == f"{runs}/slurm/4242_demo"
        == run_dir(None, "train", runs, "demo")
    )
