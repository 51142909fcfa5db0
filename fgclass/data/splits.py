"""Seeded, stratified, group-aware train/val/test splits and the ``splits.csv`` that records them.

Samples may carry a group key (near-duplicate images share one): a group always lands in a single
split, while each class's split sizes stay as close as the groups allow to its target counts.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fgclass.data.sources import listing
from fgclass.errors import ConfigError, DataError

SPLITS = ("train", "val", "test")
UNUSED = "unused"
SPLITS_FILE = "splits.csv"


@dataclass(frozen=True)
class SplitConfig:
    """How to split: fractions of each class for val and test (train gets the rest), the seed,
    and near-duplicate grouping (see :mod:`fgclass.data.duplicates`)."""

    val: float = 0.1
    test: float = 0.1
    seed: int = 42
    group_near_duplicates: bool = True
    threshold: int = 40

    def __post_init__(self) -> None:
        for name in ("val", "test"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ConfigError(f"data.split.{name}={value}: must be between 0 and 1 (exclusive).")
        if self.val + self.test >= 1:
            raise ConfigError(
                f"data.split.val + data.split.test = {self.val + self.test}: must leave a training "
                "share (sum below 1)."
            )

    @property
    def fractions(self) -> np.ndarray:
        return np.array([1 - self.val - self.test, self.val, self.test])


def _class_targets(count: int, fractions: np.ndarray) -> np.ndarray:
    """Integer split sizes for one class: largest remainder, at least one sample in every split."""
    exact = count * fractions
    sizes = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - sizes), kind="stable")[: count - sizes.sum()]:
        sizes[i] += 1
    while (sizes == 0).any():
        sizes[np.argmin(sizes)] += 1
        sizes[np.argmax(sizes)] -= 1
    return sizes


def assign_splits(
    labels: Sequence[str],
    groups: Sequence[int] | None,
    config: SplitConfig,
    where: str = "the dataset",
) -> np.ndarray:
    """Split name (``train``/``val``/``test``) per sample.

    Groups are placed whole. First every class gets its smallest groups into val and test, then the
    remaining groups go, largest first, where they bring the per-class counts closest to their
    targets (sum of squared deviations). Without groups this reproduces the targets exactly; with
    groups it stays as close as their sizes allow.
    """
    labels = np.asarray(labels)
    classes, y = np.unique(labels, return_inverse=True)
    counts = np.bincount(y, minlength=len(classes))
    too_small = [f"'{c}': {n} images" for c, n in zip(classes, counts) if n < len(SPLITS)]
    if too_small:
        raise DataError(
            f"In {where}, these classes have too few images to appear in train, val and test "
            f"(at least {len(SPLITS)} needed):\n{listing(too_small)}\n"
            "Add images, or drop the classes from the data."
        )
    targets = np.stack([_class_targets(n, config.fractions) for n in counts])  # (classes, 3)
    group_of = np.arange(len(y)) if groups is None else np.unique(groups, return_inverse=True)[1]

    group_sizes = np.bincount(group_of)
    members = np.split(np.argsort(group_of, kind="stable"), np.cumsum(group_sizes)[:-1])
    group_counts = [np.bincount(y[m], minlength=len(classes)) for m in members]
    rng = np.random.default_rng(config.seed)
    current = np.zeros_like(targets)
    split_of = np.empty(len(y), dtype=int)

    def place(group: int, split: int) -> None:
        current[:, split] += group_counts[group]
        split_of[members[group]] = split

    # 1. presence: each class's smallest groups seed the val and test splits, so no class is left
    #    out of a split while a spare group exists (one group is always left for train)
    unplaced = set(range(len(members)))
    for c in rng.permutation(len(classes)):
        for split in range(1, len(SPLITS)):
            own = [g for g in unplaced if group_counts[g][c] > 0]
            if current[c, split] == 0 and len(own) > 1:
                smallest = min(own, key=lambda g: (group_sizes[g], rng.random()))
                place(smallest, split)
                unplaced.remove(smallest)

    # 2. the rest, largest first (random among equals), each where it best closes the gap to the
    #    per-class targets (least increase of the sum of squared deviations)
    order = rng.permutation(sorted(unplaced))
    order = order[np.argsort(-group_sizes[order], kind="stable")]
    for g in order:
        present = group_counts[g] > 0
        before = current[present] - targets[present]  # (k, 3)
        after = before + group_counts[g][present][:, None]
        cost = (after**2 - before**2).sum(axis=0)
        best = np.flatnonzero(cost == cost.min())
        place(g, best[0] if len(best) == 1 else rng.choice(best))

    missing = [
        f"'{c}' has no images in {', '.join(SPLITS[s] for s in np.flatnonzero(row == 0))}"
        for c, row in zip(classes, current)
        if (row == 0).any()
    ]
    if missing:
        raise DataError(
            f"In {where}, near-duplicate groups are too large to put every class in every split:\n"
            f"{listing(missing)}\nAdd distinct images to these classes, raise data.split.val/test, "
            "or (accepting leaked near-duplicates) set data.split.group_near_duplicates=false."
        )
    return np.array(SPLITS)[split_of]


def subsample_train(labels: Sequence[str], splits: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Mark all but ``fraction`` of each class's training samples as ``unused``.

    Subsets are nested: for one seed, the 25 % subset lies inside the 50 % one. Val and test
    samples are untouched.
    """
    if not 0 < fraction <= 1:
        raise ConfigError(f"data.train_fraction={fraction}: must be in (0, 1].")
    splits = splits.astype(object).copy()
    if fraction == 1:
        return splits.astype(str)
    labels = np.asarray(labels)
    rng = np.random.default_rng([seed, 1])
    for cls in np.unique(labels):
        idx = np.flatnonzero((labels == cls) & (splits == "train"))
        keep = max(1, round(len(idx) * fraction))
        splits[rng.permutation(idx)[keep:]] = UNUSED
    return splits.astype(str)


@dataclass(frozen=True)
class SplitTable:
    """Contents of ``splits.csv``: one row per sample."""

    paths: list[str]
    labels: list[str]
    splits: list[str]
    groups: list[int]

    def select(self, split: str) -> tuple[list[str], list[str]]:
        """Paths and labels of one split."""
        rows = [(p, lab) for p, lab, s in zip(self.paths, self.labels, self.splits) if s == split]
        return [p for p, _ in rows], [lab for _, lab in rows]

    @property
    def class_names(self) -> list[str]:
        return sorted(set(self.labels))

    def write(self, path: str | Path) -> Path:
        """Write as CSV with columns ``path,label,split,group``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        with partial.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "label", "split", "group"])
            writer.writerows(zip(self.paths, self.labels, self.splits, self.groups))
        partial.replace(path)  # atomic: DDP ranks writing the same file never read half of it
        return path

    @classmethod
    def read(cls, path: str | Path) -> SplitTable:
        """Read a ``splits.csv`` written by :meth:`write`."""
        path = Path(path)
        if not path.is_file():
            raise DataError(f"Splits file '{path}' not found.")
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        required = {"path", "label", "split"}
        if not rows or not required <= set(rows[0]):
            raise DataError(f"{path}: expected columns path,label,split[,group] and at least one row.")
        bad = sorted({r["split"] for r in rows} - {*SPLITS, UNUSED})
        if bad:
            raise DataError(f"{path}: unknown split names {bad}; allowed: {[*SPLITS, UNUSED]}.")
        return cls(
            [r["path"] for r in rows],
            [r["label"] for r in rows],
            [r["split"] for r in rows],
            [int(r.get("group") or i) for i, r in enumerate(rows)],
        )
