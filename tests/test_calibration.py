"""Calibrated confidence: ECE as defined, a temperature that fixes an over-confident model, and the
temperature travelling with the checkpoint."""

from __future__ import annotations

import json
import math
from pathlib import Path

import lightning as L
import pytest
import torch

from fgclass.evaluation import evaluate
from fgclass.evaluation.calibration import fit_temperature
from fgclass.inference.runs import run_datamodule
from fgclass.metrics import compute_results
from fgclass.models.loading import load_classifier
from fgclass.outputs import reduce_logits


def two_class_logits(confidences: list[float]) -> torch.Tensor:
    """Logits whose softmax puts exactly ``p`` on class 0."""
    return torch.tensor([[math.log(p), math.log(1 - p)] for p in confidences])


def test_ece_is_the_binned_gap_between_confidence_and_accuracy() -> None:
    logits = two_class_logits([0.9, 0.9, 0.62, 0.95])  # every prediction is class 0
    targets = torch.tensor([0, 1, 0, 0])
    summary = compute_results(reduce_logits(logits, targets)).summary
    # 15 bins: 0.9 and 0.9 share [0.867, 0.933) (accuracy 1/2), 0.62 is alone in [0.6, 0.667), 0.95 in
    # [0.933, 1]: ECE = 2/4 * |0.5 - 0.9| + 1/4 * |1 - 0.62| + 1/4 * |1 - 0.95|
    assert summary["ece"] == pytest.approx(2 / 4 * 0.4 + 1 / 4 * 0.38 + 1 / 4 * 0.05, abs=1e-6)
    assert summary["nll"] == pytest.approx(
        -(math.log(0.9) + math.log(0.1) + math.log(0.62) + math.log(0.95)) / 4
    )


def test_the_fitted_temperature_is_the_nll_minimum() -> None:
    generator = torch.Generator().manual_seed(0)
    calibrated = 2 * torch.randn(2000, 5, generator=generator)  # labels drawn from these very odds
    targets = torch.multinomial(calibrated.softmax(1), 1, generator=generator).squeeze(1)
    temperature = fit_temperature(reduce_logits(3 * calibrated, targets))  # logits made 3x too sharp
    scales = (0.95 * temperature, temperature, 1.05 * temperature)
    nll = [float(torch.nn.functional.cross_entropy(3 * calibrated / t, targets)) for t in scales]
    assert nll[1] < nll[0] and nll[1] < nll[2]  # a minimum
    assert temperature == pytest.approx(3, rel=0.15)  # and it undoes the sharpening


def test_temperature_scaling_fixes_an_over_confident_model(trained_run: Path, tmp_path: Path) -> None:
    model = load_classifier(next((trained_run / "checkpoints").glob("epoch*.ckpt")))
    last = [m for m in model.head.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():  # a hundred times sharper logits, the same predictions
        last.weight.mul_(100)
        last.bias.mul_(100)
    datamodule = run_datamodule(trained_run, tmp_path)
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, precision="32-true")
    results = evaluate(trainer, model, datamodule, tmp_path / "out", noise_sigmas=[], gradcam=None)
    assert results["test/temperature"] > 10 and model.hparams.temperature == results["test/temperature"]
    assert results["test/nll_calibrated"] < results["test/nll"] / 2
    assert results["test/ece_calibrated"] < results["test/ece"]
    written = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert {"ece", "nll", "ece_calibrated", "nll_calibrated", "temperature"} <= set(written)
    assert (tmp_path / "out" / "reliability.png").stat().st_size > 0


def test_the_tested_checkpoint_carries_the_run_temperature(trained_run: Path) -> None:
    metrics = json.loads((trained_run / "metrics.json").read_text())
    tested = metrics["protocol"]["checkpoint"]["file"]
    assert load_classifier(tested).hparams.temperature == pytest.approx(metrics["temperature"], abs=1e-6)
