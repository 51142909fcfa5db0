"""An honest "unknown": a threshold that accepts the stated share of val images, predict answering
unknown below it, and eval scoring a folder of other images against the test split."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fgclass.eval import evaluate_checkpoint
from fgclass.evaluation.ood import SCORES, logit_score, ood_score, rejection_rule, separation
from fgclass.models.checkpoint import update_hyperparameters
from fgclass.outputs import reduce_logits
from fgclass.predict import predict

from .test_evaluation import eval_config
from .test_export import _run_test_images
from .test_predict import predict_config, read_csv


@pytest.mark.parametrize("score", SCORES)
def test_the_threshold_accepts_the_stated_share_of_val_images(score: str) -> None:
    logits = torch.randn(1000, 6, generator=torch.Generator().manual_seed(0)) * 3
    outputs = reduce_logits(logits)
    rule = rejection_rule(outputs, {"score": score, "acceptance": 0.9}, temperature=2.0)
    accepted = (ood_score(outputs, score, 2.0) >= rule["threshold"]).float().mean()
    assert accepted == pytest.approx(0.9, abs=0.002) and rule["temperature"] == 2.0


@pytest.mark.parametrize("classes", [6, 3000])
def test_scores_from_kept_logits_equal_those_of_the_full_logits(classes: int) -> None:
    logits = torch.randn(200, classes, generator=torch.Generator().manual_seed(1)) * 3
    for score in SCORES:
        for temperature in (None, 1.5):
            expected = logit_score(logits, score, temperature)
            found = ood_score(reduce_logits(logits), score, temperature)
            torch.testing.assert_close(found, expected, atol=0.02 * expected.abs().max(), rtol=0)


def test_separation_on_scores_that_do_and_do_not_overlap() -> None:
    inside, outside = torch.arange(10.0, 30.0), torch.arange(0.0, 10.0)
    found = separation(inside, outside, threshold=10.0)
    assert found == {"auroc": 1.0, "fpr_at_95_tpr": 0.0, "rejected": 1.0, "inside_rejected": 0.0}
    mixed = separation(torch.arange(0.0, 20.0), torch.arange(0.0, 20.0), threshold=10.0)
    assert mixed["auroc"] == pytest.approx(0.5) and mixed["rejected"] == 0.5


def test_predict_answers_unknown_below_the_stored_threshold(trained_run: Path, tmp_path: Path) -> None:
    ckpt = shutil.copy(next((trained_run / "checkpoints").glob("epoch*.ckpt")), tmp_path / "model.ckpt")
    images = tmp_path / "images.csv"
    images.write_text("path\n" + "".join(f"{p}\n" for p in _run_test_images(trained_run)[:6]))
    rule = torch.load(ckpt, weights_only=True)["hyper_parameters"]["rejection"]
    update_hyperparameters(ckpt, rejection={**rule, "threshold": float("inf")})  # nothing is known
    for reject, expected in (("true", {"unknown"}), ("false", None)):
        predict(
            predict_config(tmp_path / reject, f"ckpt_path={ckpt}", f"inputs={images}", f"reject={reject}")
        )
        labels = {r["predicted_label"] for r in read_csv(tmp_path / reject / "run" / "predictions.csv")}
        assert labels == expected if expected else "unknown" not in labels


def test_a_checkpoint_without_temperature_predicts_and_says_so(
    trained_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    last = trained_run / "checkpoints" / "last.ckpt"  # saved before the temperature was fitted
    assert torch.load(last, weights_only=False)["hyper_parameters"].get("temperature") is None
    image = tmp_path / "one.png"
    Image.fromarray(np.full((40, 40, 3), 90, np.uint8)).save(image)
    with caplog.at_level(logging.WARNING):
        predict(predict_config(tmp_path, f"ckpt_path={last}", f"inputs={image}"))
    assert "no calibration temperature" in caplog.text and "uncalibrated" in caplog.text
    assert len(read_csv(tmp_path / "run" / "predictions.csv")) == 1


def test_eval_scores_a_folder_of_other_images_and_lists_broken_ones(
    trained_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    others = tmp_path / "noise"
    others.mkdir()
    generator = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(generator.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(others / f"{i}.png")
    (others / "broken.jpg").write_bytes(b"not a jpeg")
    ckpt = next((trained_run / "checkpoints").glob("epoch*.ckpt"))
    with caplog.at_level(logging.WARNING):
        evaluate_checkpoint(eval_config(tmp_path, f"ckpt_path={ckpt}", f"eval.ood_root={others}"))
    assert "broken.jpg" in caplog.text
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["ood_images"] == 12
    for score in SCORES:
        assert 0 <= metrics[f"ood_auroc_{score}"] <= 1 and 0 <= metrics[f"ood_fpr_at_95_tpr_{score}"] <= 1
    assert metrics["ood_auroc"] == metrics["ood_auroc_max_logit"]  # the default rule's score
    assert 0 <= metrics["ood_rejected"] <= 1 and 0 <= metrics["test_rejected"] <= 1
