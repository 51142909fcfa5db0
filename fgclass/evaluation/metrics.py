"""Classification metrics from logits, computed with torchmetrics (textbook definitions).

Precision of a class counts its predictions, recall its true samples; a class with no
predictions has precision 0, a class with no samples recall 0. Macro averages weigh each class
present in the targets or predictions equally, weighted averages by support (as scikit-learn).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_confusion_matrix,
    multiclass_f1_score,
    multiclass_precision,
    multiclass_recall,
)


@dataclass(frozen=True)
class PerClass:
    """Per-class precision, recall, F1 and support, each a 1-D tensor indexed by class."""

    precision: torch.Tensor
    recall: torch.Tensor
    f1: torch.Tensor
    support: torch.Tensor


def summary_metrics(logits: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """Accuracy, macro and weighted precision/recall/F1, cross-entropy loss and sample count."""
    num_classes = logits.shape[1]
    preds = logits.argmax(dim=1)
    out = {
        "accuracy": multiclass_accuracy(preds, targets, num_classes, average="micro"),
        "loss": F.cross_entropy(logits.float(), targets),
    }
    for average in ("macro", "weighted"):
        out[f"precision_{average}"] = multiclass_precision(preds, targets, num_classes, average=average)
        out[f"recall_{average}"] = multiclass_recall(preds, targets, num_classes, average=average)
        out[f"f1_{average}"] = multiclass_f1_score(preds, targets, num_classes, average=average)
    metrics = {k: float(v) for k, v in out.items()}
    metrics["num_samples"] = len(targets)
    return metrics


def per_class_metrics(logits: torch.Tensor, targets: torch.Tensor) -> PerClass:
    """Precision, recall, F1 and support of every class."""
    num_classes = logits.shape[1]
    preds = logits.argmax(dim=1)
    return PerClass(
        multiclass_precision(preds, targets, num_classes, average="none"),
        multiclass_recall(preds, targets, num_classes, average="none"),
        multiclass_f1_score(preds, targets, num_classes, average="none"),
        torch.bincount(targets, minlength=num_classes),
    )


def confusion_matrix(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Counts: row = true class, column = predicted class."""
    return multiclass_confusion_matrix(logits.argmax(dim=1), targets, logits.shape[1])
