"""Test metrics: one torchmetrics ``MetricCollection`` over the outputs of every rank.

Precision of a class counts its predictions, recall its true samples; a class with no
predictions has precision 0, a class with no samples recall 0. Macro averages weigh each class
present in the targets or predictions equally, weighted averages by support (as scikit-learn).

Under DDP each rank sees part of the split, and Lightning's ``DistributedSampler`` pads the parts
to equal length by repeating samples. :func:`gather_outputs` therefore joins the ranks' outputs
and keeps each sample once (by its dataset index) before anything is computed, so every rank
holds the exact results of the whole split.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)

Outputs = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # logits, targets, dataset indices


def classification_metrics(num_classes: int) -> MetricCollection:
    """Accuracy; precision, recall and F1 macro, weighted and per class; the confusion matrix.

    Fed with outputs already gathered from every rank, so no metric syncs again on ``compute``.
    """
    options = {"sync_on_compute": False}
    metrics = {"accuracy": MulticlassAccuracy(num_classes, average="micro", **options)}
    for average in ("macro", "weighted", "none"):
        name = "per_class" if average == "none" else average
        metrics[f"precision_{name}"] = MulticlassPrecision(num_classes, average=average, **options)
        metrics[f"recall_{name}"] = MulticlassRecall(num_classes, average=average, **options)
        metrics[f"f1_{name}"] = MulticlassF1Score(num_classes, average=average, **options)
    metrics["confusion_matrix"] = MulticlassConfusionMatrix(num_classes, **options)
    return MetricCollection(metrics)


@dataclass(frozen=True)
class PerClass:
    """Per-class precision, recall, F1 and support, each a 1-D tensor indexed by class."""

    precision: torch.Tensor
    recall: torch.Tensor
    f1: torch.Tensor
    support: torch.Tensor


@dataclass(frozen=True)
class Results:
    """One evaluation pass over a split: outputs in dataset order and everything computed from them.

    ``summary``: accuracy, macro and weighted precision/recall/F1, loss and ``num_samples``;
    ``confusion``: counts, row = true class, column = predicted class.
    """

    logits: torch.Tensor
    targets: torch.Tensor
    index: torch.Tensor
    summary: dict[str, float]
    per_class: PerClass
    confusion: torch.Tensor


def compute_results(
    outputs: Outputs, loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy
) -> Results:
    """Every test metric of ``outputs`` (gathered and de-duplicated), from one metric collection."""
    logits, targets, index = outputs
    values = classification_metrics(logits.shape[1])(logits, targets)
    summary = {k: float(v) for k, v in values.items() if v.ndim == 0}
    summary["loss"] = float(loss(logits.float(), targets))
    summary["num_samples"] = len(targets)
    confusion = values["confusion_matrix"]
    per_class = PerClass(
        values["precision_per_class"], values["recall_per_class"], values["f1_per_class"], confusion.sum(1)
    )
    return Results(logits, targets, index, summary, per_class, confusion)


def gather_outputs(trainer: L.Trainer | None, batches: Sequence[Outputs]) -> Outputs:
    """This rank's batches joined with every other rank's, each sample once, in dataset order."""
    parts = [tuple(torch.cat(p) for p in zip(*batches))] if batches else []
    if trainer is not None and trainer.world_size > 1 and torch.distributed.is_initialized():
        everyone: list[list[Outputs] | None] = [None] * trainer.world_size
        torch.distributed.all_gather_object(everyone, parts)
        parts = [part for rank in everyone for part in rank or []]
    if not parts:
        raise RuntimeError("No outputs to evaluate: the split (or its limit_*_batches) is empty.")
    logits, targets, index = (torch.cat(p) for p in zip(*parts))
    index, order = index.sort(stable=True)
    first = torch.ones_like(index, dtype=torch.bool)
    first[1:] = index[1:] != index[:-1]
    order = order[first]
    return logits[order], targets[order], index[first]


def predict_results(trainer: L.Trainer, model: L.LightningModule, loader: Any) -> Results:
    """``trainer.predict`` over ``loader``, gathered from every rank, then every test metric."""
    return compute_results(gather_outputs(trainer, trainer.predict(model, dataloaders=loader)))
