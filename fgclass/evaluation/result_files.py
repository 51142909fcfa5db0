"""Result files of a test phase, in the layout of the studies' tables."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from fgclass.metrics import ACCURACY, F1_MACRO, PerClass
from fgclass.outputs import Outputs, probabilities
from fgclass.run_files import CLASSIFICATION_REPORT, PROTOCOL_KEY
from fgclass.text import markdown_table

UNKNOWN = "unknown"  # the answer for an image of none of the classes


def write_metrics(path: Path, metrics: dict[str, float], protocol: Mapping[str, Any]) -> None:
    """``metrics.json``: the numbers (rounded to 6 decimals), then under ``protocol`` how they were made."""
    rounded = {k: round(v, 6) if isinstance(v, float) else v for k, v in metrics.items()}
    path.write_text(json.dumps({**rounded, PROTOCOL_KEY: dict(protocol)}, indent=2) + "\n")


def classification_rows(
    per_class: PerClass, class_names: Sequence[str], summary: dict[str, float]
) -> list[dict]:
    """Rows of a classification report: one per class, then accuracy, macro avg, weighted avg."""
    rows = [
        {
            "class": name,
            "precision": float(per_class.precision[i]),
            "recall": float(per_class.recall[i]),
            "f1": float(per_class.f1[i]),
            "support": int(per_class.support[i]),
        }
        for i, name in enumerate(class_names)
    ]
    total = int(per_class.support.sum())
    rows.append(
        {"class": ACCURACY, "precision": None, "recall": None, "f1": summary[ACCURACY], "support": total}
    )
    for average in ("macro", "weighted"):
        rows.append(
            {
                "class": f"{average} avg",
                "precision": summary[f"precision_{average}"],
                "recall": summary[f"recall_{average}"],
                "f1": summary[f"f1_{average}"],
                "support": total,
            }
        )
    return rows


def write_classification_report(directory: Path, rows: list[dict]) -> None:
    """``classification_report.csv`` and a Markdown table ``classification_report.md``."""
    with (directory / f"{CLASSIFICATION_REPORT}.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["class", "precision", "recall", "f1", "support"])
        writer.writeheader()
        writer.writerows(rows)

    (directory / f"{CLASSIFICATION_REPORT}.md").write_text(report_markdown(rows))


def report_markdown(rows: list[dict]) -> str:
    """Rows of a classification report as a Markdown table."""

    def cell(value: float | None) -> str:
        return "" if value is None else f"{value:.4f}"

    lines = markdown_table(
        ["class", "precision", "recall", "f1-score", "support"],
        ([r["class"], cell(r["precision"]), cell(r["recall"]), cell(r["f1"]), r["support"]] for r in rows),
        align=["left", "right", "right", "right", "right"],
    )
    return "\n".join(lines) + "\n"


def write_confusion_csv(path: Path, matrix: torch.Tensor, class_names: Sequence[str]) -> None:
    """``confusion_matrix.csv``: rows are true classes, columns predicted classes."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["true \\ predicted", *class_names])
        for name, row in zip(class_names, matrix.tolist()):
            writer.writerow([name, *row])


def top_confusions(confusion: torch.Tensor, k: int) -> list[tuple[int, int, int]]:
    """The ``k`` most frequent mistakes of confusion counts (dense or sparse; row = true class) as
    ``(true, predicted, count)``, most frequent first, ties in (true, predicted) order."""
    counts = (confusion if confusion.is_sparse else confusion.to_sparse()).coalesce()
    (true, predicted), n = counts.indices(), counts.values()
    mistakes = (true != predicted) & (n > 0)
    true, predicted, n = true[mistakes], predicted[mistakes], n[mistakes]
    order = n.sort(descending=True, stable=True).indices[:k]  # coalesced: already in (true, predicted) order
    return list(zip(true[order].tolist(), predicted[order].tolist(), n[order].tolist()))


def write_confusions_csv(
    path: Path, pairs: Sequence[tuple[int, int, int]], support: torch.Tensor, class_names: Sequence[str]
) -> None:
    """``confusions.csv``: the most frequent mistakes (:func:`top_confusions`), one row each: true
    and predicted class, count, and the share of the true class's test images it takes."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["true_label", "predicted_label", "count", "share_of_true"])
        for true, predicted, count in pairs:
            writer.writerow(
                [class_names[true], class_names[predicted], count, f"{count / int(support[true]):.6f}"]
            )


def write_predictions(
    path: Path,
    paths: Sequence[str],
    outputs: Outputs,
    class_names: Sequence[str],
    top_k: int,
    temperature: float | None = None,
    unknown: torch.Tensor | None = None,
) -> None:
    """``predictions.csv``: path, true label (when the ``outputs`` have targets), predicted label,
    correct, then the top-k classes with their probabilities (``softmax(logits / temperature)``:
    calibrated where a temperature is given). Rows where the boolean ``unknown`` is set are
    predicted ``unknown`` (their top-k still show the closest classes)."""
    k = min(top_k, outputs.logits.shape[1])
    classes = outputs.classes[:, :k]  # ranked by logit, as the metrics' argmax: a high temperature
    # can flatten the probabilities until float32 ties would reorder them
    probs = probabilities(outputs, temperature)[:, :k]
    targets = outputs.targets
    labelled = bool((targets >= 0).all())
    header = ["path", "true_label", "predicted_label", "correct"] if labelled else ["path", "predicted_label"]
    for i in range(1, k + 1):
        header += [f"top{i}", f"top{i}_prob"]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row, p in enumerate(paths):
            predicted = int(classes[row, 0])
            label = UNKNOWN if unknown is not None and bool(unknown[row]) else class_names[predicted]
            if labelled:
                y = int(targets[row])
                line = [p, class_names[y], label, int(label == class_names[y])]
            else:
                line = [p, label]
            for c, prob in zip(classes[row].tolist(), probs[row].tolist()):
                line += [class_names[c], f"{prob:.6f}"]
            writer.writerow(line)


def write_noise_csv(path: Path, rows: list[dict[str, float]]) -> None:
    """``noise_robustness.csv``: sigma, accuracy, f1_macro."""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["sigma", ACCURACY, F1_MACRO])
        writer.writeheader()
        writer.writerows(rows)
