"""What a dataset holds and how honest a split of it is: per-class counts, corrupt and tiny files,
exact and near-duplicates, class imbalance, and val/test images with a near-duplicate in train.

Computed from the image list, its scan (:mod:`fgclass.data.scan`) and a split, either a given
``splits.csv`` or the one the split pipeline (:mod:`fgclass.data.split_pipeline`) would make; unlike
the training path, nothing here raises for bad images: they are reported. The report is written by
:mod:`fgclass.data.audit_report`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from fgclass.data.duplicates import DEFAULT_THRESHOLD, group_ids, near_duplicate_pairs
from fgclass.data.embeddings import ImageFeatures
from fgclass.data.scan import ScanResult
from fgclass.data.sources import LabelledImages
from fgclass.data.split_pipeline import plan_splits, readable
from fgclass.data.splits import SPLITS, SplitConfig, SplitTable
from fgclass.errors import DataError, FgclassError
from fgclass.text import listing

UNLISTED = "unlisted"  # in the dataset but not in the audited splits.csv
COLUMNS = (
    "class",
    "images",
    "corrupt",
    "tiny",
    "byte_copies",
    "flip_rotation_twins",
    "groups",
    "in_groups",
    "train",
    "val",
    "test",
    "val_leaked",
    "test_leaked",
    "leaked_pct",
)

Link = tuple[int, int, int]  # (i, j, Hamming distance), i < j


def near_duplicate_links(scan: ScanResult, threshold: int) -> list[Link]:
    """Near-duplicate pairs among the readable images (indices into ``scan.paths``)."""
    ok = np.flatnonzero([r.error is None for r in scan.records])
    return [(int(ok[i]), int(ok[j]), d) for i, j, d in near_duplicate_pairs(scan.hashes[ok], threshold)]


def planned_splits(
    images: LabelledImages,
    scan: ScanResult,
    config: SplitConfig,
    train_fraction: float = 1.0,
    cache_dir: str | Path | None = None,
    embedder: ImageFeatures | None = None,
) -> np.ndarray:
    """The split training would write for these images once the unreadable ones are gone: made of
    the readable images by :func:`~fgclass.data.split_pipeline.plan_splits`, ``""`` for the others."""
    ok_images, ok_scan, mask = readable(images, scan)
    where = "the readable images"
    table = plan_splits(ok_images, ok_scan, config, train_fraction, cache_dir, embedder, where)
    splits = np.full(len(mask), "", dtype=object)
    splits[mask] = table.splits
    return splits.astype(str)


def splits_from_table(table: SplitTable, paths: Sequence[str]) -> np.ndarray:
    """Split of each of ``paths`` as ``table`` records it; ``unlisted`` where it does not."""
    by_path = dict(zip(table.paths, table.splits))
    unknown = sorted(set(by_path) - set(paths))
    if unknown:
        raise DataError(
            f"{len(unknown)} files in the splits file are not in the dataset:\n{listing(unknown)}\n"
            "Point data.root at the dataset this split was made from."
        )
    return np.array([by_path.get(p, UNLISTED) for p in paths])


@dataclass(frozen=True)
class AuditOptions:
    """``threshold``: Hamming bits for near-duplicates; ``min_size``: shorter sides below it are
    tiny; ``imbalance_ratio``: largest/smallest class size above it is flagged."""

    threshold: int = DEFAULT_THRESHOLD
    min_size: int = 224
    imbalance_ratio: float = 1.5


@dataclass
class DatasetAudit:
    """The findings for one dataset (``labels[i]`` and ``scan.records[i]`` describe ``scan.paths[i]``).

    ``links`` holds every readable pair within ``options.threshold``; ``split_note`` says where
    ``splits`` came from, or (with ``splits`` ``None``) why none could be made.
    """

    root: Path
    labels: list[str]
    scan: ScanResult
    links: list[Link]
    splits: np.ndarray | None
    split_note: str
    options: AuditOptions

    @property
    def paths(self) -> list[str]:
        return self.scan.paths

    @cached_property
    def classes(self) -> list[str]:
        return sorted(set(self.labels))

    @cached_property
    def corrupt(self) -> np.ndarray:
        return np.array([r.error is not None for r in self.scan.records])

    @cached_property
    def tiny(self) -> np.ndarray:
        size = self.options.min_size
        return np.array([r.error is None and min(r.width, r.height) < size for r in self.scan.records])

    @cached_property
    def byte_sets(self) -> list[list[int]]:
        """Sets of byte-identical files (2+ members)."""
        by_digest = defaultdict(list)
        for i, record in enumerate(self.scan.records):
            if record.error is None:
                by_digest[record.digest].append(i)
        return [members for members in by_digest.values() if len(members) > 1]

    @cached_property
    def twin_links(self) -> list[Link]:
        """Pairs identical up to a flip/90° rotation (hash distance 0) that are not byte-identical."""
        digest = [r.digest for r in self.scan.records]
        return [(i, j, d) for i, j, d in self.links if d == 0 and digest[i] != digest[j]]

    @cached_property
    def groups(self) -> list[list[int]]:
        """Near-duplicate groups (connected components of ``links``) of 2+ images, largest first."""
        ids = group_ids(len(self.paths), self.links)
        members = defaultdict(list)
        for i, g in enumerate(ids.tolist()):
            members[g].append(i)
        return sorted((m for m in members.values() if len(m) > 1), key=len, reverse=True)

    @cached_property
    def leaked(self) -> np.ndarray:
        """Val/test images with a near-duplicate in train (all ``False`` without a split)."""
        leaked = np.zeros(len(self.paths), dtype=bool)
        if self.splits is None:
            return leaked
        train = self.splits == "train"
        held_out = np.isin(self.splits, SPLITS[1:])
        for i, j, _ in self.links:
            leaked[i] |= held_out[i] and train[j]
            leaked[j] |= held_out[j] and train[i]
        return leaked

    def imbalance(self) -> float:
        """Largest class size over smallest."""
        counts = Counter(self.labels).values()
        return max(counts) / min(counts)

    def class_rows(self) -> list[dict[str, object]]:
        """One row per class (columns :data:`COLUMNS`), then an ``all`` row."""
        labels = np.asarray(self.labels)
        in_byte_set = _members(self.byte_sets, len(labels))
        twin = _members([[i, j] for i, j, _ in self.twin_links], len(labels))
        group_of = np.full(len(labels), -1)
        for g, members in enumerate(self.groups):
            group_of[members] = g
        splits = self.splits if self.splits is not None else np.full(len(labels), "")
        rows = []
        for name, mask in [*((c, labels == c) for c in self.classes), ("all", np.ones(len(labels), bool))]:
            held_out = int(np.isin(splits[mask], SPLITS[1:]).sum())
            leaked = int(self.leaked[mask].sum())
            row = {
                "class": name,
                "images": int(mask.sum()),
                "corrupt": int(self.corrupt[mask].sum()),
                "tiny": int(self.tiny[mask].sum()),
                "byte_copies": int(in_byte_set[mask].sum()),
                "flip_rotation_twins": int(twin[mask].sum()),
                "groups": len(set(group_of[mask].tolist()) - {-1}),
                "in_groups": int((group_of[mask] >= 0).sum()),
                **{s: int((splits[mask] == s).sum()) for s in SPLITS},
                "val_leaked": int((self.leaked & (splits == "val"))[mask].sum()),
                "test_leaked": int((self.leaked & (splits == "test"))[mask].sum()),
                "leaked_pct": round(100 * leaked / held_out, 1) if held_out else 0.0,
            }
            rows.append(row)
        return rows


def _members(sets: Sequence[Sequence[int]], n: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    for members in sets:
        mask[list(members)] = True
    return mask


def audit_dataset(
    images: LabelledImages,
    scan: ScanResult,
    options: AuditOptions,
    split_config: SplitConfig,
    train_fraction: float = 1.0,
    table: SplitTable | None = None,
    cache_dir: str | Path | None = None,
    embedder: ImageFeatures | None = None,
) -> DatasetAudit:
    """Audit ``images`` (``scan`` is theirs) with the split in ``table``, or else the one
    ``split_config`` would make (embedding links by ``embedder`` included where it asks for them).
    A split that cannot be made is reported, not raised."""
    splits: np.ndarray | None
    if table is not None:
        splits = splits_from_table(table, scan.paths)
        note = "from the given splits file"
    else:
        grouping = "near-duplicates grouped" if split_config.group_near_duplicates else "random (ungrouped)"
        try:
            splits = planned_splits(images, scan, split_config, train_fraction, cache_dir, embedder)
            note = f"as the config would make it ({grouping}, seed {split_config.seed})"
        except FgclassError as exc:
            splits, note = None, f"the config cannot split this data. {exc}"
    links = near_duplicate_links(scan, options.threshold)
    return DatasetAudit(images.root, list(images.labels), scan, links, splits, note, options)
