"""What a dataset holds and how honest a split of it is: per-class counts, corrupt and tiny files,
exact and near-duplicates, class imbalance, and val/test images with a near-duplicate in train.

Pure functions of the image list, its scan (:mod:`fgclass.data.scan`) and a split; unlike the
training path, nothing here raises for bad images: they are reported.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from fgclass.data.duplicates import DEFAULT_THRESHOLD, group_ids, near_duplicate_pairs
from fgclass.data.embeddings import image_embeddings, similar_pairs
from fgclass.data.scan import ScanResult
from fgclass.data.splits import SPLITS, SplitConfig, SplitTable, assign_splits, subsample_train
from fgclass.errors import DataError, FgclassError
from fgclass.text import counted, listing, markdown_table

UNLISTED = "unlisted"  # in the dataset but not in the audited splits.csv
AUDIT_MD, AUDIT_CSV = "audit.md", "audit.csv"
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
    readable = np.flatnonzero([r.error is None for r in scan.records])
    pairs = near_duplicate_pairs(scan.hashes[readable], threshold)
    return [(int(readable[i]), int(readable[j]), d) for i, j, d in pairs]


def planned_splits(
    labels: Sequence[str],
    scan: ScanResult,
    links: Sequence[Link],
    config: SplitConfig,
    train_fraction: float = 1.0,
) -> np.ndarray:
    """The split the data module would write for these images, made of the readable ones only
    (corrupt files get ``""``). ``links`` must hold every pair within ``config.threshold``."""
    labels = np.asarray(labels)
    readable = np.array([r.error is None for r in scan.records])
    splits = np.full(len(labels), "", dtype=object)
    groups = None
    if config.group_near_duplicates:
        groups = group_ids(len(labels), [link for link in links if link[2] <= config.threshold])[readable]
    chosen = assign_splits(labels[readable], groups, config, where="the readable images")
    splits[readable] = subsample_train(labels[readable], chosen, train_fraction, config.seed)
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
    root: Path,
    labels: Sequence[str],
    scan: ScanResult,
    options: AuditOptions,
    split_config: SplitConfig,
    train_fraction: float = 1.0,
    table: SplitTable | None = None,
    cache_dir: str | Path | None = None,
) -> DatasetAudit:
    """Audit the images of ``scan`` with the split in ``table``, or else the one ``split_config``
    would make (embedding links included where it asks for them). A split that cannot be made is
    reported, not raised."""
    links = near_duplicate_links(scan, max(options.threshold, split_config.threshold))
    audit_links = [link for link in links if link[2] <= options.threshold]
    if table is None and split_config.group_near_duplicates and split_config.embedding_threshold is not None:
        readable = [i for i, r in enumerate(scan.records) if r.error is None]
        embeddings = image_embeddings(
            root, [scan.paths[i] for i in readable], [scan.records[i].digest for i in readable], cache_dir
        )
        links = links + [
            (readable[i], readable[j], 0)
            for i, j, _ in similar_pairs(embeddings, split_config.embedding_threshold)
        ]
    splits: np.ndarray | None
    if table is not None:
        splits = splits_from_table(table, scan.paths)
        note = "from the given splits file"
    else:
        grouping = "near-duplicates grouped" if split_config.group_near_duplicates else "random (ungrouped)"
        try:
            splits = planned_splits(labels, scan, links, split_config, train_fraction)
            note = f"as the config would make it ({grouping}, seed {split_config.seed})"
        except FgclassError as exc:
            splits, note = None, f"the config cannot split this data. {exc}"
    return DatasetAudit(root, list(labels), scan, audit_links, splits, note, options)


# --- output ----------------------------------------------------------------------------------


def _lines(items: list[str]) -> list[str]:
    return listing(items, indent="").splitlines()


def problems(audit: DatasetAudit) -> list[str]:
    """One line per finding that deserves attention."""
    found = [] if audit.splits is not None else [f"no split: {audit.split_note}"]
    n = len(audit.paths)
    if audit.corrupt.any():
        found.append(
            f"{counted(int(audit.corrupt.sum()), 'corrupt file')} (training refuses them: remove or replace"
            " them)"
        )
    if audit.tiny.any():
        found.append(
            f"{counted(int(audit.tiny.sum()), 'image')} with a side under {audit.options.min_size} px"
        )
    ratio = audit.imbalance()
    if ratio > audit.options.imbalance_ratio:
        limit = audit.options.imbalance_ratio
        found.append(f"class imbalance: largest/smallest class = {ratio:.2f} (above {limit})")
    copies = sum(len(s) - 1 for s in audit.byte_sets)
    if copies:
        found.append(f"{copies} byte-identical {'copy' if copies == 1 else 'copies'} of other files")
    mixed = [g for g in audit.groups if len({audit.labels[i] for i in g}) > 1]
    if mixed:
        found.append(
            f"{len(mixed)} near-duplicate groups mix classes (label errors, or too loose a threshold)"
        )
    if audit.groups:
        grouped = sum(len(g) for g in audit.groups)
        found.append(f"{grouped} of {n} images ({100 * grouped / n:.1f} %) are in near-duplicate groups")
    total = audit.class_rows()[-1]
    if total["val_leaked"] or total["test_leaked"]:
        found.append(
            f"{total['val_leaked'] + total['test_leaked']} val/test images ({total['leaked_pct']} %) "
            "have a near-duplicate in train: their scores overstate accuracy"
        )
    return found


def to_markdown(audit: DatasetAudit) -> str:
    """The whole report as Markdown."""
    opts, rows = audit.options, audit.class_rows()
    lines = [
        f"# Data audit: {audit.root}",
        "",
        f"{len(audit.paths)} images in {len(audit.classes)} classes. Near-duplicates: perceptual-hash "
        f"distance at most {opts.threshold} of 256 bits, under any flip or 90° rotation. "
        f"Split: {audit.split_note if audit.splits is not None else 'none (see findings)'}.",
        "",
        "## Findings",
        "",
        *(_lines(problems(audit)) or ["- nothing to report"]),
        "",
        "## Per class",
        "",
        "byte_copies: files with a byte-identical copy; flip_rotation_twins: files identical to another "
        "up to a flip/rotation (hash distance 0, not byte-identical); groups/in_groups: near-duplicate "
        "groups of 2+ images and the images in them; *_leaked: val/test images with a near-duplicate "
        "in train; leaked_pct: their share of val+test.",
        "",
        *markdown_table(list(rows[0]), [r.values() for r in rows]),
        "",
        f"Class sizes: {min(r['images'] for r in rows[:-1])} to {max(r['images'] for r in rows[:-1])} "
        f"(ratio {audit.imbalance():.2f}; flagged above {opts.imbalance_ratio}).",
        "",
        "## Near-duplicate groups",
        "",
    ]
    sizes = sorted(Counter(len(g) for g in audit.groups).items())
    lines.append(
        f"{len(audit.groups)} groups hold {sum(len(g) for g in audit.groups)} images; sizes: "
        + (", ".join(f"{count} of {size}" for size, count in sizes) or "none")
        + "."
    )
    mixed = [g for g in audit.groups if len({audit.labels[i] for i in g}) > 1]
    if mixed:
        lines += ["", "Groups that mix classes:", ""]
        lines += _lines([", ".join(f"{audit.paths[i]} ({audit.labels[i]})" for i in g) for g in mixed])
    lines += ["", "## Exact duplicates", ""]
    lines.append(f"Byte-identical sets: {len(audit.byte_sets)}.")
    lines += _lines([", ".join(audit.paths[i] for i in s) for s in audit.byte_sets])
    lines.append(f"\nPairs identical up to a flip/90° rotation: {len(audit.twin_links)}.")
    lines += _lines([f"{audit.paths[i]} = {audit.paths[j]}" for i, j, _ in audit.twin_links])
    if audit.splits is not None:
        lines += ["", "## Leaked val/test images", ""]
        examples = [
            f"{audit.splits[i]}: {audit.paths[i]} ~ train: {audit.paths[j]} ({d} bits)"
            for a, b, d in audit.links
            for i, j in ((a, b), (b, a))
            if audit.leaked[i] and audit.splits[j] == "train"
        ]
        lines += _lines(examples) or ["None."]
    if audit.corrupt.any():
        lines += ["", "## Corrupt files", ""]
        lines += _lines([f"{p}: {why}" for p, why in audit.scan.errors.items()])
    if audit.tiny.any():
        lines += ["", "## Tiny images", ""]
        records = audit.scan.records
        lines += _lines(
            [f"{audit.paths[i]}: {records[i].width}x{records[i].height}" for i in np.flatnonzero(audit.tiny)]
        )
    return "\n".join(lines) + "\n"


def write_audit(audit: DatasetAudit, output_dir: str | Path) -> tuple[Path, Path]:
    """Write ``audit.md`` and ``audit.csv`` (the per-class table) into ``output_dir``."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    md, table = output_dir / AUDIT_MD, output_dir / AUDIT_CSV
    md.write_text(to_markdown(audit))
    with table.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(audit.class_rows())
    return md, table
