"""Metric definitions shared by training, validation and test: one factory, one set of names.

Names are those of the study's tables: ``accuracy``, ``precision_macro``, ``recall_macro``,
``f1_macro`` (also ``*_weighted`` and ``*_per_class`` in test reports) and ``loss``, logged as
``train/<name>``, ``val/<name>`` and ``test/<name>``; the best validation accuracy so far is
``val/accuracy_best``. Precision of a class counts its predictions, recall its true samples; a class
with no predictions has precision 0, one with no samples recall 0. Macro averages weigh each class
present in the targets or predictions equally, weighted averages by support (as scikit-learn).

Under DDP each rank sees part of a split, and Lightning's ``DistributedSampler`` pads the parts to
equal length by repeating up to ``world_size - 1`` samples. Test metrics are exact:
:func:`gather_outputs` joins the ranks' outputs and keeps each sample once (by its dataset index)
before anything is computed. Validation metrics are synced by torchmetrics every epoch and count
the padded repeats, so with N GPUs a validation score may include up to N - 1 samples twice.

Over many classes (more than :data:`DENSE_MAX_CLASSES`) nothing keeps dense C x C counts:
torchmetrics' precision/recall/F1 count a C x C matrix at every update (800 MB at 10,000 classes),
so there validation and test reports use :class:`CountedScore` (three per-class counts, the same
definitions) and the test's confusion counts are a sparse tensor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import lightning as L
import torch
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)
from torchmetrics.functional.classification import binary_calibration_error

from fgclass.outputs import Outputs, concatenate, confidence, nll, num_classes, predictions, select

ACCURACY, F1_MACRO, LOSS = "accuracy", "f1_macro", "loss"
ECE, NLL = "ece", "nll"  # calibration: expected calibration error (15 bins, top-1), negative log-likelihood
ECE_BINS = 15
BEST_VAL_ACCURACY = "val/accuracy_best"  # what sweepers optimise: the best epoch, not the last one
SUMMARY = (ACCURACY, F1_MACRO, "precision_macro", "recall_macro")  # validation logs these
REPORT = (  # a test report: the summary, weighted and per-class values, the confusion matrix
    *SUMMARY,
    *(f"{m}_{a}" for a in ("weighted", "per_class") for m in ("precision", "recall", "f1")),
    "confusion_matrix",
    ECE,
)
DENSE_MAX_CLASSES = 1000  # dense confusion counts (8 MB) and torchmetrics scores up to here, counted above
_BY_AVERAGE = {"precision": MulticlassPrecision, "recall": MulticlassRecall, "f1": MulticlassF1Score}


class CountedScore(Metric):
    """Multiclass precision, recall or F1 (``kind``) from per-class counts of true positives,
    predictions and samples: memory in classes, not classes squared. ``average``: ``macro`` (the
    classes present in targets or predictions weigh alike), ``weighted`` (by support) or ``none``;
    a class with no predictions has precision 0, one with no samples recall 0, as in torchmetrics."""

    full_state_update = False

    def __init__(self, num_classes: int, kind: str, average: str, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.num_classes, self.kind, self.average = num_classes, kind, average
        for state in ("true_positives", "predicted", "actual"):
            self.add_state(state, torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        preds = preds.argmax(1) if preds.ndim == 2 else preds
        self.true_positives += torch.bincount(target[preds == target], minlength=self.num_classes)
        self.predicted += torch.bincount(preds, minlength=self.num_classes)
        self.actual += torch.bincount(target, minlength=self.num_classes)

    def compute(self) -> torch.Tensor:
        tp, predicted, actual = self.true_positives.double(), self.predicted.double(), self.actual.double()
        denominator = {"precision": predicted, "recall": actual, "f1": (predicted + actual) / 2}[self.kind]
        value = torch.where(denominator > 0, tp / denominator.clamp(min=1e-12), 0.0)
        if self.average == "none":
            return value.float()
        weights = actual if self.average == "weighted" else ((predicted + actual) > 0).double()
        return (value * weights / weights.sum().clamp(min=1e-12)).sum().float()


def _metric(name: str, num_classes: int, sync_on_compute: bool) -> Metric:
    if name == ACCURACY:
        return MulticlassAccuracy(num_classes, average="micro", sync_on_compute=sync_on_compute)
    if name == "confusion_matrix":
        return MulticlassConfusionMatrix(num_classes, sync_on_compute=sync_on_compute)
    kind, _, average = name.partition("_")
    average = "none" if average == "per_class" else average
    if num_classes > DENSE_MAX_CLASSES:
        return CountedScore(num_classes, kind, average, sync_on_compute=sync_on_compute)
    return _BY_AVERAGE[kind](num_classes, average=average, sync_on_compute=sync_on_compute)


def classification_metrics(
    num_classes: int, names: Sequence[str] = SUMMARY, prefix: str = "", sync_on_compute: bool = True
) -> MetricCollection:
    """The metrics ``names`` (from :data:`REPORT`) as one collection, keyed ``prefix + name``.

    ``sync_on_compute=False`` for outputs already gathered from every rank (test reports).
    """
    metrics = {name: _metric(name, num_classes, sync_on_compute) for name in names}
    return MetricCollection(metrics, prefix=prefix or None)


@dataclass(frozen=True)
class PerClass:
    """Per-class precision, recall, F1 and support, each a 1-D tensor indexed by class."""

    precision: torch.Tensor
    recall: torch.Tensor
    f1: torch.Tensor
    support: torch.Tensor


@dataclass(frozen=True)
class Results:
    """One evaluation pass over a split: its :class:`~fgclass.outputs.Outputs` in dataset order and
    everything computed from them.

    ``summary``: accuracy, macro and weighted precision/recall/F1, loss (the training criterion),
    ECE and NLL (of the logits as given), and ``num_samples``;
    ``confusion``: counts, row = true class, column = predicted class (a sparse COO tensor above
    :data:`DENSE_MAX_CLASSES` classes).
    """

    outputs: Outputs
    summary: dict[str, float]
    per_class: PerClass
    confusion: torch.Tensor

    @property
    def targets(self) -> torch.Tensor:
        return self.outputs.targets

    @property
    def index(self) -> torch.Tensor:
        return self.outputs.index


def calibration_error(outputs: Outputs, temperature: float | None = None) -> float:
    """Top-1 expected calibration error (:data:`ECE_BINS` equal-width bins, L1) at ``temperature``."""
    correct = predictions(outputs) == outputs.targets
    return float(binary_calibration_error(confidence(outputs, temperature), correct.long(), ECE_BINS, "l1"))


def compute_results(outputs: Outputs, dense: bool | None = None) -> Results:
    """Every test metric of ``outputs`` (gathered and de-duplicated), from one metric collection.

    ``dense`` (default: up to :data:`DENSE_MAX_CLASSES` classes): a dense confusion matrix, else
    sparse counts. Per-class values come from :func:`classification_metrics` either way.
    """
    classes, targets, predicted = num_classes(outputs), outputs.targets, predictions(outputs)
    dense = classes <= DENSE_MAX_CLASSES if dense is None else dense
    names = tuple(n for n in REPORT if n != ECE and (dense or n != "confusion_matrix"))
    values = classification_metrics(classes, names, sync_on_compute=False)(predicted, targets)
    summary = {k: float(v) for k, v in values.items() if v.ndim == 0}
    summary[ECE] = calibration_error(outputs)
    summary[LOSS] = float(outputs.loss.mean())
    summary[NLL] = float(nll(outputs).mean())
    summary["num_samples"] = len(targets)
    if dense:
        confusion = values["confusion_matrix"]
    else:
        pairs = torch.stack([targets, predicted])
        ones = torch.ones(len(targets), dtype=torch.long)
        confusion = torch.sparse_coo_tensor(pairs, ones, (classes, classes), check_invariants=True)
        confusion = confusion.coalesce()  # duplicate (true, predicted) pairs summed: the counts
    support = torch.bincount(targets, minlength=classes)
    per_class = PerClass(*(values[f"{m}_per_class"] for m in ("precision", "recall", "f1")), support)
    return Results(outputs, summary, per_class, confusion)


def gather_outputs(trainer: L.Trainer | None, batches: Sequence[Outputs]) -> Outputs:
    """This rank's batches joined with every other rank's, each sample once, in dataset order."""
    parts = [concatenate(batches)] if batches else []
    if trainer is not None and trainer.world_size > 1 and torch.distributed.is_initialized():
        everyone: list[list[Outputs] | None] = [None] * trainer.world_size
        torch.distributed.all_gather_object(everyone, parts)
        parts = [part for rank in everyone for part in rank or []]
    if not parts:
        raise RuntimeError("No outputs to evaluate: the split (or its limit_*_batches) is empty.")
    joined = concatenate(parts)
    index, order = joined.index.sort(stable=True)
    first = torch.ones_like(index, dtype=torch.bool)
    first[1:] = index[1:] != index[:-1]
    return select(joined, order[first])
