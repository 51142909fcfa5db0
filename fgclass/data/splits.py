"""How to split (:class:`SplitConfig`) and the ``splits.csv`` that records a split (:class:`SplitTable`);
where each image goes is :mod:`fgclass.data.placement`."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fgclass.errors import ConfigError, DataError
from fgclass.files import atomic_write

SPLITS = ("train", "val", "test")
UNUSED = "unused"
SPLITS_FILE, MODES = "splits.csv", ("random", "official")


@dataclass(frozen=True)
class SplitConfig:
    """How to split: fractions of each class for val and test (train gets the rest), the seed,
    and near-duplicate grouping (see :mod:`fgclass.data.duplicates`). ``mode="official"`` keeps
    the publisher's split instead (:func:`~fgclass.data.placement.official_splits`)."""

    val: float = 0.1
    test: float = 0.1
    seed: int = 42
    group_near_duplicates: bool = True
    threshold: int = 40
    embedding_threshold: float | None = None
    mode: str = "random"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(
                f"data.split.mode={self.mode}: use official (the publisher's test set) or random."
            )
        for name in ("val", "test"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ConfigError(f"data.split.{name}={value}: must be between 0 and 1 (exclusive).")
        if self.embedding_threshold is not None and not 0 < self.embedding_threshold < 1:
            raise ConfigError(
                f"data.split.embedding_threshold={self.embedding_threshold}: a cosine similarity "
                "between 0 and 1 (e.g. 0.94), or null to group by the hashes alone."
            )
        if self.val + self.test >= 1:
            raise ConfigError(
                f"data.split.val + data.split.test = {self.val + self.test}: must leave a training "
                "share (sum below 1)."
            )

    @property
    def fractions(self) -> np.ndarray:
        return np.array([1 - self.val - self.test, self.val, self.test])


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
        text = io.StringIO(newline="")
        writer = csv.writer(text)
        writer.writerow(["path", "label", "split", "group"])
        writer.writerows(zip(self.paths, self.labels, self.splits, self.groups))
        return atomic_write(path, text.getvalue())  # DDP ranks writing the same file never read half of it

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
