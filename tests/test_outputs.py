"""What a pass keeps of the logits (fgclass.outputs): exact up to 1,000 classes, bounded above."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torchmetrics.functional.classification import multiclass_calibration_error

from fgclass.evaluation.calibration import fit_temperature
from fgclass.metrics import calibration_error, compute_results
from fgclass.outputs import (
    KEEP_ALL_UP_TO,
    KEPT,
    concatenate,
    confidence,
    log_partition,
    nll,
    num_classes,
    predictions,
    probabilities,
    reduce_logits,
)

TEMPERATURES = (0.5, 1.0, 2.0)


def model_logits(n: int, classes: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of a model that is right about 60 % of the time, and the targets."""
    gen = torch.Generator().manual_seed(seed)
    targets = torch.randint(0, classes, (n,), generator=gen)
    logits = 1.5 * torch.randn(n, classes, generator=gen)
    right = torch.rand(n, generator=gen) < 0.6
    logits[right, targets[right]] += 6.0
    return logits, targets


@pytest.mark.parametrize("classes", [3, KEEP_ALL_UP_TO])
def test_every_quantity_is_exact_while_every_logit_is_kept(classes: int) -> None:
    logits, targets = model_logits(200, classes)
    outputs = reduce_logits(logits, targets)
    assert outputs.logits.shape == (200, classes) and num_classes(outputs) == classes
    assert torch.equal(predictions(outputs), logits.argmax(1))
    for t in TEMPERATURES:
        full = (logits / t).log_softmax(1)
        torch.testing.assert_close(log_partition(outputs, t), torch.logsumexp(logits / t, 1))
        torch.testing.assert_close(probabilities(outputs, t), full.exp().gather(1, outputs.classes.long()))
        torch.testing.assert_close(nll(outputs, t), F.cross_entropy(logits / t, targets, reduction="none"))


def test_above_the_limit_a_bounded_number_is_kept_and_temperature_one_stays_exact() -> None:
    classes = 5000
    logits, targets = model_logits(300, classes)
    outputs = reduce_logits(logits, targets)
    assert outputs.logits.shape == (300, KEPT) and num_classes(outputs) == classes
    assert torch.equal(outputs.classes[:, :5].long(), logits.topk(5, 1).indices)
    torch.testing.assert_close(log_partition(outputs), torch.logsumexp(logits, 1))
    torch.testing.assert_close(confidence(outputs), logits.softmax(1).max(1).values)
    torch.testing.assert_close(nll(outputs), F.cross_entropy(logits, targets, reduction="none"))
    # away from T = 1 the tail's part is approximated from its five numbers
    for t in (0.2, 0.5, 2.0, 10.0):
        error = (log_partition(outputs, t) - torch.logsumexp(logits / t, 1)).abs().max()
        assert error < 0.02, (t, error)
        torch.testing.assert_close(
            confidence(outputs, t), (logits / t).softmax(1).max(1).values, atol=0.02, rtol=0
        )


def test_batches_reduced_separately_give_the_report_of_the_whole() -> None:
    logits, targets = model_logits(400, 2000, seed=1)
    whole = compute_results(reduce_logits(logits, targets))
    parts = [
        reduce_logits(logits[i : i + 64], targets[i : i + 64], torch.arange(i, i + len(targets[i : i + 64])))
        for i in range(0, 400, 64)
    ]
    assert compute_results(concatenate(parts)).summary == whole.summary
    # and the report's accuracy and ECE are those of the full logits
    assert whole.summary["accuracy"] == pytest.approx(float((logits.argmax(1) == targets).float().mean()))
    # the top-1 ECE equals torchmetrics' multiclass one (15 bins, L1)
    few, labels = logits[:, :KEEP_ALL_UP_TO], targets.clamp(max=KEEP_ALL_UP_TO - 1)
    expected = multiclass_calibration_error(few.softmax(1), labels, KEEP_ALL_UP_TO, n_bins=15)
    assert calibration_error(reduce_logits(few, labels)) == pytest.approx(float(expected), abs=1e-6)


def test_the_temperature_fitted_on_kept_logits_matches_the_full_fit() -> None:
    # many classes, a model 2.5x too sharp: the fit on 64 kept logits + the tail lands where the
    # full logits' NLL has its minimum
    logits, targets = model_logits(600, 3000, seed=2)
    fitted = fit_temperature(reduce_logits(2.5 * logits, targets))
    scales = torch.linspace(0.5, 6, 221)
    full = torch.stack([F.cross_entropy(2.5 * logits / t, targets) for t in scales])
    assert fitted == pytest.approx(float(scales[full.argmin()]), rel=0.05)
