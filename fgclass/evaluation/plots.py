"""Figures a person opens: confusion matrix (or top confusions), training curves, noise robustness,
per-class F1 (bars, or a histogram over many classes)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PIL import Image

from fgclass.metrics import ACCURACY, F1_MACRO, LOSS


def confusion_figure(matrix: np.ndarray, class_names: Sequence[str]) -> Figure:
    """Counts and row-normalised (recall) views side by side; legible up to ~100 classes."""
    n = len(class_names)
    side = max(5.0, 0.2 * n + 2)
    fig, axes = plt.subplots(1, 2, figsize=(2 * side + 2, side + 1), layout="constrained")
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=float), where=rows > 0)
    font = 8 if n <= 30 else 5
    for ax, data, title, fmt in (
        (axes[0], matrix, "Counts", "d"),
        (axes[1], normalised, "Row-normalised (recall per true class)", ".2f"),
    ):
        image = ax.imshow(data, cmap="Blues", vmin=0)
        fig.colorbar(image, ax=ax, shrink=0.7)
        ax.set_title(title)
        ax.set_xlabel("Predicted class")
        ax.set_ylabel("True class")
        ax.set_xticks(range(n), class_names, rotation=90, fontsize=font)
        ax.set_yticks(range(n), class_names, fontsize=font)
        if n <= 20:
            threshold = data.max() / 2 if data.max() else 1
            for i in range(n):
                for j in range(n):
                    ax.text(
                        j,
                        i,
                        format(data[i, j], fmt),
                        ha="center",
                        va="center",
                        fontsize=font,
                        color="white" if data[i, j] > threshold else "black",
                    )
    return fig


def curves_figure(history: dict[str, list[float]]) -> Figure:
    """Loss and accuracy per epoch for train and val (keys like ``train/loss``, ``val/accuracy``)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for ax, metric in zip(axes, (LOSS, ACCURACY)):
        for split in ("train", "val"):
            values = history.get(f"{split}/{metric}", [])
            if values:
                ax.plot(range(1, len(values) + 1), values, marker="o", label=split)
        ax.set_xlabel("Epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric.capitalize())
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def reliability_figure(curves: dict[str, list[dict[str, float]]]) -> Figure:
    """Reliability diagram: accuracy against mean top-1 confidence per confidence bin, one line per
    entry of ``curves`` (e.g. before and after temperature scaling; rows of
    :func:`fgclass.evaluation.calibration.reliability_bins`), with the diagonal of perfect calibration."""
    fig, ax = plt.subplots(figsize=(5, 5), layout="constrained")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfectly calibrated")
    for label, rows in curves.items():
        ax.plot([r["confidence"] for r in rows], [r["accuracy"] for r in rows], marker="o", label=label)
    ax.set_xlabel("Mean top-1 confidence (per bin)")
    ax.set_ylabel("Accuracy (per bin)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def score_histogram_figure(scores: dict[str, Any], threshold: float, score: str) -> Figure:
    """Histograms of an out-of-distribution ``score`` for each set of images, with the rejection
    ``threshold`` (images left of it are answered "unknown")."""
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    values = {name: np.asarray(v, dtype=float) for name, v in scores.items()}
    edges = np.histogram_bin_edges(np.concatenate(list(values.values())), bins=40)
    for name, v in values.items():
        ax.hist(v, bins=edges, alpha=0.5, density=True, label=f"{name} ({len(v)})")
    ax.axvline(threshold, color="black", linestyle="--", label="rejection threshold")
    ax.set_xlabel(f"{score} score (higher: more like the training classes)")
    ax.set_ylabel("density")
    ax.legend()
    return fig


def noise_figure(rows: list[dict[str, float]]) -> Figure:
    """Accuracy and macro F1 against the noise standard deviation."""
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    sigmas = [r["sigma"] for r in rows]
    ax.plot(sigmas, [r[ACCURACY] for r in rows], marker="o", label="accuracy")
    ax.plot(sigmas, [r[F1_MACRO] for r in rows], marker="s", label="macro F1")
    ax.set_xlabel("Gaussian noise sigma ([0,1] pixel scale)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def per_class_f1_figure(f1: np.ndarray, class_names: Sequence[str]) -> Figure:
    """Horizontal bars of per-class F1, worst class at the top."""
    order = np.argsort(f1)
    fig, ax = plt.subplots(figsize=(7, max(3.0, 0.18 * len(class_names) + 1)), layout="constrained")
    ax.barh(range(len(order)), f1[order])
    ax.set_yticks(range(len(order)), [class_names[i] for i in order], fontsize=8 if len(order) <= 30 else 5)
    ax.set_xlim(0, 1)
    ax.set_xlabel("F1")
    ax.invert_yaxis()
    return fig


def f1_histogram_figure(f1: np.ndarray, support: np.ndarray) -> Figure:
    """How many classes reach each F1 (bins of 0.05), over the classes with test images, with their
    mean: per-class F1 at any number of classes, where one bar per class is unreadable."""
    tested = f1[support > 0]
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    ax.hist(tested, bins=np.linspace(0, 1, 21), edgecolor="white")
    ax.axvline(tested.mean(), color="black", linestyle="--", label=f"mean (macro F1) {tested.mean():.3f}")
    ax.set_xlim(0, 1)
    ax.set_xlabel("F1")
    ax.set_ylabel("classes")
    ax.set_title(f"Per-class F1 of {len(tested):,} classes with test images", fontsize=10)
    ax.legend()
    return fig


def top_confusions_figure(
    pairs: Sequence[tuple[int, int, int]], class_names: Sequence[str], support: np.ndarray, k: int = 30
) -> Figure:
    """The ``k`` most frequent mistakes (``(true, predicted, count)``, most frequent first) as
    horizontal bars, ``true → predicted`` with the share of the true class's images: the readable
    part of a confusion matrix too large to draw."""
    shown = list(pairs)[:k]

    def short(name: str) -> str:
        return name if len(name) <= 32 else name[:31] + "…"

    fig, ax = plt.subplots(figsize=(9, 0.26 * max(len(shown), 4) + 1.2), layout="constrained")
    ax.barh(range(len(shown)), [count for _, _, count in shown])
    labels = [f"{short(class_names[t])} → {short(class_names[p])}" for t, p, _ in shown]
    ax.set_yticks(range(len(shown)), labels, fontsize=7)
    for row, (t, _, count) in enumerate(shown):
        ax.text(count, row, f" {count / support[t]:.0%}", va="center", fontsize=7)
    ax.invert_yaxis()
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("test images (share of the true class)")
    ax.set_title(f"The {len(shown)} most frequent confusions (true → predicted)", fontsize=10)
    return fig


def gradcam_figure(panels: Sequence[tuple[np.ndarray, np.ndarray, str]], columns: int = 4) -> Figure:
    """Grad-CAM panels (image, heatmap overlay, title) in a grid, image and overlay side by side."""
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 4, rows * 2.4), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, (image, overlay, title) in zip(axes.flat, panels):
        axis.imshow(np.hstack([image, overlay]))
        axis.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


def save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as PNG and release it."""
    return write_png(render(fig), path)


def write_png(pixels: np.ndarray, path: str | Path) -> Path:
    """Write RGB ``pixels`` (from :func:`render`) as a PNG file."""
    Image.fromarray(pixels).save(path)
    return Path(path)


def render(fig: Figure) -> np.ndarray:
    """``fig`` drawn once at 100 dpi as RGB pixels (height, width, 3), and released: the same
    pixels go to a PNG and to TensorBoard, where drawing the figure twice cost twice."""
    fig.set_dpi(100)
    fig.canvas.draw()
    pixels = np.array(fig.canvas.buffer_rgba())[..., :3]
    plt.close(fig)
    return pixels


def sweep_figure(key: str, points: list[tuple[float, dict]], others: list[str]) -> Figure:
    """Test accuracy (mean ± std over seeds) against a numeric swept value, a line per other setting."""
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    lines: dict[str, list[tuple[float, float, float]]] = {}
    for x, row in points:
        label = ", ".join(f"{k}={row.get(k)}" for k in others) or "accuracy"
        lines.setdefault(label, []).append(
            (x, row.get("accuracy_mean", np.nan), row.get("accuracy_std", 0.0))
        )
    for label, values in lines.items():
        xs, ys, errs = zip(*sorted(values))
        ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, label=label)
    ax.set_xlabel(key)
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def sweep_noise_figure(swept: list[str], rows: list[dict]) -> Figure:
    """Test accuracy against noise sigma, one line per configuration of a sweep."""
    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    for row in rows:
        sigmas = sorted(float(k[6:-9]) for k in row if k.startswith("noise_") and k.endswith("_acc_mean"))
        means = [row[f"noise_{s:g}_acc_mean"] for s in sigmas]
        stds = [row[f"noise_{s:g}_acc_std"] for s in sigmas]
        label = ", ".join(f"{k}={row.get(k)}" for k in swept) or "run"
        ax.errorbar(sigmas, means, yerr=stds, marker="o", capsize=3, label=label)
    ax.set_xlabel("Gaussian noise sigma ([0,1] pixel scale)")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def label_issues_figure(panels: Sequence[tuple[np.ndarray, str, str, str]], columns: int = 6) -> Figure:
    """A contact sheet of suspected label errors: each image (RGB) with its given label (red), the
    suggested one (green) and a note (rank, file, score) under it, in a grid."""
    columns = min(columns, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 2.3, rows * 2.9), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, (image, given, suggested, note) in zip(axes.flat, panels):
        axis.imshow(image)
        axis.set_title(f"given: {given}", fontsize=7, color="#b00000")
        axis.text(
            0.5,
            -0.03,
            f"suggested: {suggested}",
            transform=axis.transAxes,
            ha="center",
            va="top",
            fontsize=7,
            color="#006000",
        )
        axis.text(0.5, -0.14, note, transform=axis.transAxes, ha="center", va="top", fontsize=6)
    fig.tight_layout()
    return fig
