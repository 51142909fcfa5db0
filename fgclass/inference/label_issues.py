"""Suspected label errors: confident learning on out-of-fold probabilities of a linear head.

Every readable labelled image is embedded once by a frozen ImageNet backbone (cut to the part that
training and evaluation see, ``data.crop`` and the dataset's banner trim, then resized and
centre-cropped as the eval pipeline does, at sizes of its own, and averaged with its mirror image
where asked; cached in the cache folder, keyed by the images' content digests and that crop). A logistic
regression on the power-normalised, standardised features is fitted with k-fold cross-validation,
so each image's class probabilities come from a head that never saw it; near-duplicate groups (the
audit's links) stay within one fold, so a copy cannot vouch for its own label. cleanlab's
``find_label_issues`` (confident learning, Northcutt et al. 2021) then flags the images whose given
label those probabilities contradict, ranked by self-confidence: the out-of-fold probability of the
given label, lowest (most suspect) first. Measured against planted errors in ``docs/results.md``.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cleanlab.filter import find_label_issues
from cleanlab.rank import get_label_quality_scores
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from fgclass.data.audit_findings import DatasetAudit
from fgclass.data.crops import layout_crop
from fgclass.data.datamodule import ImageClassificationDataModule
from fgclass.data.dataset import ImageDataset
from fgclass.data.duplicates import group_ids
from fgclass.data.embeddings import ImageFeatures
from fgclass.data.images import load_rgb
from fgclass.data.transforms import eval_transform
from fgclass.errors import ConfigError, DataError
from fgclass.evaluation.plots import label_issues_figure, save
from fgclass.files import cached_array
from fgclass.text import counted, listing

log = logging.getLogger(__name__)
LABEL_ISSUES_CSV = "label_issues.csv"
LABEL_ISSUES_PNG = "label_issues.png"
_VERSION = 1  # of the cached features: bump when the way they are computed changes


@dataclass(frozen=True)
class LabelIssueOptions:
    """The features: each image's shorter side resized to ``resize_size``, centre crop ``image_size``,
    averaged with its mirror image's where ``mirror``; the cross-validated head: ``folds`` (k), the
    logistic regression's inverse regularisation ``C`` and ``max_iter``, the ``seed`` of the fold
    assignment; ``filter_by``: the rule of cleanlab's ``find_label_issues``."""

    image_size: int = 256
    resize_size: int = 256
    mirror: bool = True
    folds: int = 5
    C: float = 0.01
    max_iter: int = 1000
    seed: int = 0
    filter_by: str = "both"


@dataclass(frozen=True)
class LabelIssues:
    """The flagged images, most suspect first (``score``: out-of-fold probability of the given label),
    of ``checked`` images, whose out-of-fold ``accuracy`` the head reached with ``options``."""

    root: Path
    paths: list[str]
    given: list[str]
    suggested: list[str]
    scores: list[float]
    checked: int
    accuracy: float
    features: str
    options: LabelIssueOptions

    def markdown(self, shown: int = 10) -> str:
        """The audit report's section: the count, how it was found, the top ``shown`` suspects."""
        n = len(self.paths)
        rows = [
            f"{p}: given {g}, suggested {s} (score {score:.3f})"
            for p, g, s, score in zip(self.paths, self.given, self.suggested, self.scores)
        ]
        opts = self.options
        view = f"{opts.image_size} px" + (", image and mirror averaged" if opts.mirror else "")
        return (
            f"\n## Suspected label errors\n\n{counted(n, 'image')} of {self.checked} "
            f"({100 * n / max(self.checked, 1):.1f} %) look mislabelled: cleanlab's find_label_issues "
            f"(filter_by={opts.filter_by}) on out-of-fold probabilities of a logistic-regression head "
            f"(C={opts.C:g}, {opts.folds}-fold, near-duplicate groups kept in one fold; "
            f"{100 * self.accuracy:.1f} % out-of-fold accuracy against the given labels) on frozen "
            f"{self.features} features ({view}). All of them, ranked, in {LABEL_ISSUES_CSV} (score: "
            f"out-of-fold probability of the given label); the top ones on {LABEL_ISSUES_PNG}.\n\n"
            + (listing(rows, limit=shown, indent="") if rows else "None.")
            + "\n"
        )


def check_classes(labels: list[str], groups: np.ndarray, folds: int) -> None:
    """Raise unless there are 2+ classes, each with at least ``folds`` independent images (a
    near-duplicate group counts once), so that every fold can hold each class out."""
    if folds < 2:
        raise ConfigError(f"audit.folds={folds}: cross-validation needs at least 2 folds.")
    images: dict[str, int] = defaultdict(int)
    photos: dict[str, set[int]] = defaultdict(set)
    for label, group in zip(labels, groups.tolist()):
        images[label] += 1
        photos[label].add(group)
    if len(images) < 2:
        found = ", ".join(f"'{name}'" for name in images) or "none"
        raise DataError(
            f"audit.label_issues=true needs at least 2 classes to tell labels apart, but the readable "
            f"images have {counted(len(images), 'class')} ({found}). Point data.root at a labelled "
            "dataset, or set audit.label_issues=false."
        )
    few = [name for name in sorted(images) if len(photos[name]) < folds]
    if few:
        described = [
            f"{name}: {counted(images[name], 'image')}"
            + (
                f" ({len(photos[name])} once near-duplicates count once)"
                if len(photos[name]) < images[name]
                else ""
            )
            for name in few
        ]
        raise DataError(
            f"audit.label_issues=true with audit.folds={folds} needs at least {folds} independent images "
            f"per class (every fold holds some of each class out), but {counted(len(few), 'class')} "
            f"{'has' if len(few) == 1 else 'have'} fewer:\n{listing(described)}\n"
            f"Set audit.folds to at most {min(len(photos[n]) for n in few)} (and at least 2), or add images."
        )


def frozen_features(
    data: ImageClassificationDataModule,
    root: Path,
    paths: list[str],
    digests: list[str],
    features: ImageFeatures,
    options: LabelIssueOptions,
) -> np.ndarray:
    """``features`` of each image ``root / paths[i]``, ``(N, F)``, as ``options`` say, read by
    ``data``'s eval loader through the crop that training and evaluation use (``data.crop``, the
    layout's banner trim); cached in ``data.cache_dir``, keyed by the extractor, those options, that
    crop and ``digests``."""
    size, resize, mirror = options.image_size, options.resize_size, options.mirror
    crop = layout_crop(data.layout, data.crop, data.crop_margin, paths)
    key = hashlib.sha1(f"{_VERSION}:{features.name}:{size}:{resize}:{mirror}".encode())
    if crop is not None:  # whole images keep the key they had before crops existed
        boxes = None if crop.boxes is None else [crop.boxes[p] for p in paths]
        key.update(repr((crop.margin, crop.bottom_trim, boxes)).encode())
    for digest in digests:
        key.update(digest.encode())
    cache = Path(data.cache_dir) / f"features-{key.hexdigest()[:20]}.npy" if data.cache_dir else None

    def compute() -> np.ndarray:
        log.info("Embedding %d images with frozen %s (cached)", len(paths), features.name)
        dataset = ImageDataset(root, paths, [0] * len(paths), eval_transform(size, resize), crop=crop)
        chunks, done = [], 0
        for images, _, _ in data.eval_loader(dataset):
            batch = features(images)
            if mirror:
                batch = (batch + features(images.flip(3))) / 2
            chunks.append(batch.float().numpy())
            done, before = done + len(images), done
            if done // 1000 > before // 1000:
                log.info("Embedded %d of %d images", done, len(paths))
        return np.concatenate(chunks).astype(np.float32)

    def valid(array: np.ndarray) -> bool:
        return array.dtype == np.float32 and array.ndim == 2 and len(array) == len(paths)

    return cached_array(cache, compute, valid)  # runs that start together compute it once


def out_of_fold_probabilities(
    features: np.ndarray, labels: np.ndarray, groups: np.ndarray, options: LabelIssueOptions
) -> np.ndarray:
    """Class probabilities ``(N, K)`` of each image from a logistic regression on power-normalised
    (signed square root), standardised features, fitted on the other folds (stratified by class;
    each group of ``groups`` within one fold)."""
    head = make_pipeline(
        FunctionTransformer(_signed_sqrt),
        StandardScaler(),
        LogisticRegression(C=options.C, max_iter=options.max_iter),
    )
    folds = StratifiedGroupKFold(options.folds, shuffle=True, random_state=options.seed)
    return cross_val_predict(head, features, labels, groups=groups, cv=folds, method="predict_proba")


def _signed_sqrt(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.sqrt(np.abs(x))


def suspected_label_errors(
    audit: DatasetAudit,
    data: ImageClassificationDataModule,
    features: ImageFeatures,
    options: LabelIssueOptions,
) -> LabelIssues:
    """The readable images of ``audit`` whose labels cleanlab flags (see the module docstring)."""
    keep = np.flatnonzero(~audit.corrupt)
    labels = [audit.labels[i] for i in keep]
    groups = group_ids(len(audit.paths), audit.links)[keep]
    check_classes(labels, groups, options.folds)
    paths = [audit.paths[i] for i in keep]
    digests = [audit.scan.records[i].digest for i in keep]
    x = frozen_features(data, audit.root, paths, digests, features, options)
    classes = sorted(set(labels))
    y = np.searchsorted(classes, labels)
    log.info("Fitting a linear head with %d-fold cross-validation on %s", options.folds, x.shape)
    probs = out_of_fold_probabilities(x, y, groups, options)
    ranked = find_label_issues(  # n_jobs=1: its worker processes, forked from a process running
        y,  # torch threads, can deadlock; the sums it parallelises take milliseconds anyway
        probs,
        filter_by=options.filter_by,
        return_indices_ranked_by="self_confidence",
        n_jobs=1,
    )
    scores = get_label_quality_scores(y, probs)
    return LabelIssues(
        root=audit.root,
        paths=[paths[i] for i in ranked],
        given=[labels[i] for i in ranked],
        suggested=[classes[probs[i].argmax()] for i in ranked],
        scores=[float(scores[i]) for i in ranked],
        checked=len(paths),
        accuracy=float((probs.argmax(1) == y).mean()),
        features=features.name,
        options=options,
    )


def write_label_issues(issues: LabelIssues, output_dir: str | Path, sheet_size: int) -> list[Path]:
    """``label_issues.csv`` (rank, path, given and suggested label, score) and, where any image is
    flagged, ``label_issues.png``: the top ``sheet_size`` suspects with both labels."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    table = output_dir / LABEL_ISSUES_CSV
    with table.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["rank", "path", "given_label", "suggested_label", "score"])
        rows = zip(issues.paths, issues.given, issues.suggested, issues.scores)
        writer.writerows([rank, *row[:3], f"{row[3]:.4f}"] for rank, row in enumerate(rows, 1))
    written = [table]
    top = range(min(sheet_size, len(issues.paths)))
    if top:
        panels = [
            (
                load_rgb(issues.root / issues.paths[i]),
                issues.given[i],
                issues.suggested[i],
                f"#{i + 1} {Path(issues.paths[i]).name}, score {issues.scores[i]:.3f}",
            )
            for i in top
        ]
        written.append(save(label_issues_figure(panels), output_dir / LABEL_ISSUES_PNG))
    return written
