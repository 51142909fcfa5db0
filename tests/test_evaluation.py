"""Metrics against hand-computed values, report files, noise robustness and ``fgclass.eval``."""

from __future__ import annotations

import csv
import json
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from fgclass.config import compose_config
from fgclass.errors import CheckpointError, DataError
from fgclass.eval import evaluate_checkpoint
from fgclass.evaluation.noise import NoisyDataset
from fgclass.evaluation.result_files import write_predictions
from fgclass.metrics import classification_metrics, compute_results, gather_outputs
from fgclass.outputs import Outputs, predictions, reduce_logits

from .conftest import FAST
from .processes import run_process_group

# 4 classes; class 3 is never predicted; batch 1 holds no sample of classes 2 and 3
TARGETS = torch.tensor([0, 0, 0, 1, 1, 2, 2, 3])
PREDS = torch.tensor([0, 0, 1, 1, 1, 2, 0, 2])
BY_HAND = {  # precision, recall, F1 per class, worked out from the confusion counts
    0: (2 / 3, 2 / 3, 2 / 3),  # TP 2, FP 1, FN 1
    1: (2 / 3, 1.0, 0.8),  # TP 2, FP 1, FN 0
    2: (1 / 2, 1 / 2, 1 / 2),  # TP 1, FP 1, FN 1
    3: (0.0, 0.0, 0.0),  # never predicted: TP 0, FP 0, FN 1
}
SUPPORT = [3, 2, 2, 1]


def logits_for(preds: torch.Tensor, num_classes: int = 5) -> torch.Tensor:
    """Logits whose argmax is ``preds``; class 4 exists but is neither true nor predicted."""
    return torch.nn.functional.one_hot(preds, num_classes).float() * 3


def test_metrics_match_textbook_definitions() -> None:
    results = compute_results(reduce_logits(logits_for(PREDS), TARGETS))
    summary, per_class = results.summary, results.per_class
    for c, (p, r, f) in BY_HAND.items():
        assert per_class.precision[c].item() == pytest.approx(p)
        assert per_class.recall[c].item() == pytest.approx(r)
        assert per_class.f1[c].item() == pytest.approx(f)
    assert per_class.support.tolist() == [*SUPPORT, 0]
    macro = [sum(v[i] for v in BY_HAND.values()) / 4 for i in range(3)]  # class 4 absent: not averaged
    weighted = [sum(v[i] * s for v, s in zip(BY_HAND.values(), SUPPORT)) / 8 for i in range(3)]
    assert summary["accuracy"] == pytest.approx(5 / 8)
    assert [summary["precision_macro"], summary["recall_macro"], summary["f1_macro"]] == pytest.approx(macro)
    assert [
        summary["precision_weighted"],
        summary["recall_weighted"],
        summary["f1_weighted"],
    ] == pytest.approx(weighted)
    assert summary["num_samples"] == 8
    assert results.confusion[2].tolist() == [1, 0, 1, 0, 0]  # true class 2: once right, once as 0


def test_gathered_outputs_keep_each_sample_once_in_dataset_order() -> None:
    # a DistributedSampler pads ranks to equal length by repeating samples (here index 0)
    def batch(rows: list[int]) -> Outputs:
        return reduce_logits(logits_for(PREDS[rows]), TARGETS[rows], torch.tensor(rows))

    rank0 = [batch([0, 2, 4])]
    rank1 = [batch([7, 5]), batch([3, 1, 6, 0])]
    gathered = gather_outputs(None, rank0 + rank1)
    assert gathered.index.tolist() == list(range(8))
    assert torch.equal(gathered.targets, TARGETS) and torch.equal(predictions(gathered), PREDS)


def test_logged_epoch_metrics_accumulate_across_batches() -> None:
    metrics = classification_metrics(5, prefix="val/")  # what validation logs
    metrics.update(logits_for(PREDS[:4]), TARGETS[:4])
    metrics.update(logits_for(PREDS[4:]), TARGETS[4:])
    values = {k: v.item() for k, v in metrics.compute().items()}
    assert values["val/accuracy"] == pytest.approx(5 / 8)
    assert values["val/precision_macro"] == pytest.approx(sum(v[0] for v in BY_HAND.values()) / 4)
    assert values["val/f1_macro"] == pytest.approx(sum(v[2] for v in BY_HAND.values()) / 4)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_run_folder_has_the_studies_reports(trained_run: Path) -> None:
    metrics = json.loads((trained_run / "metrics.json").read_text())
    predictions = read_csv(trained_run / "predictions.csv")
    split = [r for r in read_csv(trained_run / "splits.csv") if r["split"] == "test"]
    assert metrics["num_samples"] == len(predictions) == len(split)
    assert sorted(r["path"] for r in predictions) == sorted(r["path"] for r in split)
    assert all(
        r["true_label"] == dict((s["path"], s["label"]) for s in split)[r["path"]] for r in predictions
    )
    correct = sum(r["true_label"] == r["predicted_label"] for r in predictions)
    assert metrics["accuracy"] == pytest.approx(correct / len(predictions), abs=1e-6)
    assert all(r["top1"] == r["predicted_label"] for r in predictions)
    assert all(float(r["top1_prob"]) >= float(r["top5_prob"]) for r in predictions)

    report = read_csv(trained_run / "classification_report.csv")
    names = sorted({s["label"] for s in split})
    assert [r["class"] for r in report] == [*names, "accuracy", "macro avg", "weighted avg"]
    assert float(report[-2]["f1"]) == pytest.approx(metrics["f1_macro"], abs=1e-6)
    assert "| macro avg |" in (trained_run / "classification_report.md").read_text()

    matrix = read_csv(trained_run / "confusion_matrix.csv")
    assert [r["true \\ predicted"] for r in matrix] == names
    assert sum(int(v) for r in matrix for k, v in r.items() if k != "true \\ predicted") == len(predictions)
    mistakes = {  # off the diagonal of the matrix: what confusions.csv lists, most frequent first
        (r["true \\ predicted"], k): int(v)
        for r in matrix
        for k, v in r.items()
        if k not in ("true \\ predicted", r["true \\ predicted"]) and int(v)
    }
    confusions = read_csv(trained_run / "confusions.csv")
    assert {(r["true_label"], r["predicted_label"]): int(r["count"]) for r in confusions} == mistakes
    assert [int(r["count"]) for r in confusions] == sorted(mistakes.values(), reverse=True)
    for png in ("confusion_matrix.png", "curves.png", "noise_robustness.png", "per_class_f1.png"):
        assert (trained_run / png).stat().st_size > 10_000, png

    noise = read_csv(trained_run / "noise_robustness.csv")
    assert [float(r["sigma"]) for r in noise] == [0.0, 0.2]
    assert float(noise[0]["accuracy"]) == pytest.approx(metrics["accuracy"], abs=1e-6)


def test_noise_is_seeded_per_image_and_scaled_by_sigma() -> None:
    gray = torch.full((3, 16, 16), 128, dtype=torch.uint8)
    base = [(gray, 0, i) for i in range(4)]
    noisy = NoisyDataset(base, sigma=0.1, seed=7)
    first, again = noisy[2][0], NoisyDataset(base, sigma=0.1, seed=7)[2][0]
    assert torch.equal(first, again)
    assert not torch.equal(first, noisy[3][0])  # each image its own pattern
    assert (first - 128 / 255).std().item() == pytest.approx(0.1, rel=0.15)
    assert torch.equal(NoisyDataset(base, sigma=0.0)[1][0], gray.float() / 255)
    stronger = NoisyDataset(base, sigma=0.2, seed=7)[2][0]
    inside = (stronger > 0) & (stronger < 1)  # not clipped
    assert inside.float().mean() > 0.9
    assert torch.allclose((stronger - 128 / 255)[inside], 2 * (first - 128 / 255)[inside], atol=1e-5)


def eval_config(tmp_path: Path, *overrides: str) -> DictConfig:
    """The eval config with FAST's evaluation settings (numbers, no figures or Grad-CAM)."""
    fast = ["trainer.accelerator=cpu", "data.num_workers=0", *(o for o in FAST if o.startswith("eval."))]
    return compose_config("eval", [*fast, *overrides], tmp_path)


def test_eval_reproduces_the_run_on_a_moved_copy_of_the_data(
    trained_run: Path, tmp_path: Path, fish_root: Path
) -> None:
    moved = shutil.copytree(fish_root, tmp_path / "moved")
    ckpt = next((trained_run / "checkpoints").glob("epoch*.ckpt"))
    cfg = eval_config(tmp_path, f"ckpt_path={ckpt}", f"data.root={moved}")
    evaluate_checkpoint(cfg)
    out = tmp_path / "run"
    original, again = (json.loads((d / "metrics.json").read_text()) for d in (trained_run, out))
    for key in ("accuracy", "f1_macro", "precision_weighted", "num_samples", "noise_0.2/accuracy"):
        assert again[key] == pytest.approx(original[key], abs=1e-6), key
    assert read_csv(out / "predictions.csv") == read_csv(trained_run / "predictions.csv")


@pytest.fixture
def broken(trained_run: Path, tmp_path: Path) -> Callable[[str], Path]:
    """A copy of the trained run folder, damaged in one way."""

    def make(kind: str) -> Path:
        run = shutil.copytree(trained_run, tmp_path / f"copy-{kind}")
        ckpt = run / "checkpoints" / "last.ckpt"
        if kind == "not_fgclass":
            torch.save({"state_dict": {"w": torch.zeros(1)}}, ckpt)
        elif kind == "classes":
            checkpoint = torch.load(ckpt, weights_only=True)
            checkpoint["hyper_parameters"]["class_names"][0] = "Goldfish"
            torch.save(checkpoint, ckpt)
        elif kind == "missing_files":
            rows = read_csv(run / "splits.csv")
            rows[0]["path"] = "Trout/Trout/gone.png"
            with (run / "splits.csv").open("w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
        return ckpt

    return make


@pytest.mark.parametrize(
    ("kind", "error", "message"),
    [
        ("not_fgclass", CheckpointError, "not an fgclass checkpoint"),
        ("classes", CheckpointError, "only in the checkpoint: \\['Goldfish'\\]"),
        ("missing_files", DataError, "missing under"),
    ],
)
def test_eval_bad_inputs(
    broken: Callable[[str], Path], tmp_path: Path, kind: str, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        evaluate_checkpoint(eval_config(tmp_path, f"ckpt_path={broken(kind)}"))


def test_eval_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        evaluate_checkpoint(eval_config(tmp_path, f"ckpt_path={tmp_path / 'nope.ckpt'}"))


@pytest.mark.processes
def test_two_process_ddp_evaluates_each_test_image_once(tmp_path: Path) -> None:
    # a real 2-process CPU DDP run (gloo) through the CLI, as a user on a multi-GPU node would start it
    returncode, output = run_process_group(
        [
            sys.executable,
            "-m",
            "fgclass.train",
            "experiment=demo",
            "model=tiny",
            f"paths.root_dir={tmp_path}",
            "data.photos_per_class=3",
            "data.image_size=32",
            "data.resize_size=36",
            "data.num_workers=0",
            "trainer.max_epochs=1",
            "trainer.accelerator=cpu",
            "trainer.devices=2",
            "trainer.strategy=ddp",
            "eval.noise_sigmas=[0,0.2]",
        ],
        cwd=Path(__file__).resolve().parents[1],
        timeout=300,
    )
    assert returncode == 0, output[-4000:]
    (run,) = tmp_path.glob("outputs/runs/*/*")
    test_split = {r["path"]: r["label"] for r in read_csv(run / "splits.csv") if r["split"] == "test"}
    predictions = read_csv(run / "predictions.csv")
    assert sorted(r["path"] for r in predictions) == sorted(test_split)  # each test image once
    assert all(test_split[r["path"]] == r["true_label"] for r in predictions)  # paths keep their labels
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["num_samples"] == len(test_split)
    correct = sum(r["correct"] == "1" for r in predictions)
    assert metrics["accuracy"] == pytest.approx(correct / len(test_split), abs=1e-6)
    assert metrics["noise_0/accuracy"] == pytest.approx(metrics["accuracy"])
    # output piped to a file: no progress bar, one line per epoch on the console and in train.log
    for text in (output, (run / "train.log").read_text()):
        assert len(re.findall(r"Epoch 1/1 .*val/accuracy=", text)) == 1 and "it/s" not in text


def test_eval_of_a_checkpoint_moved_out_of_its_run_needs_the_split_file(
    trained_run: Path, tmp_path: Path
) -> None:
    moved = tmp_path / "models" / "best.ckpt"
    moved.parent.mkdir()
    shutil.copy(next((trained_run / "checkpoints").glob("epoch*.ckpt")), moved)
    with pytest.raises(CheckpointError, match=r"splits_file=<run>/splits\.csv"):
        evaluate_checkpoint(eval_config(tmp_path / "a", f"ckpt_path={moved}"))
    evaluate_checkpoint(
        eval_config(tmp_path / "b", f"ckpt_path={moved}", f"splits_file={trained_run / 'splits.csv'}")
    )
    again = json.loads((tmp_path / "b" / "run" / "metrics.json").read_text())
    original = json.loads((trained_run / "metrics.json").read_text())
    assert again["accuracy"] == pytest.approx(original["accuracy"], abs=1e-6)
    assert again["num_samples"] == original["num_samples"]


def test_predictions_rank_by_logit_where_a_high_temperature_ties_probabilities(tmp_path: Path) -> None:
    # logits 1e-4 apart: divided by a temperature of 1e5 their softmax is equal in float32, but the
    # prediction stays the logits' argmax, the class the test metrics count
    logits = torch.tensor([[0.0, 2e-4, 1e-4], [3e-4, 0.0, 1e-4]])
    path = tmp_path / "predictions.csv"
    outputs = reduce_logits(logits, torch.tensor([1, 0]))
    write_predictions(path, ["a.jpg", "b.jpg"], outputs, ["x", "y", "z"], 3, 1e5)
    rows = list(csv.DictReader(path.open()))
    assert [r["predicted_label"] for r in rows] == ["y", "x"]
    assert [r["correct"] for r in rows] == ["1", "1"]
    assert [r["top2"] for r in rows] == ["z", "z"]
    assert rows[0]["top1_prob"] == rows[0]["top3_prob"]  # the tie that used to reorder them
