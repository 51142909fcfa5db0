"""The split pipeline, one home for training and the audit: scan every image (cached), group
near-duplicates by their hashes (cached) and, where asked, by embedding similarity, place whole
groups in train/val/test per class, then subsample the training share."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fgclass.data.duplicates import copy_groups, group_ids, join_groups, near_duplicate_pairs_cached
from fgclass.data.embeddings import COPY_BITS, ImageFeatures, image_embeddings, similar_pairs
from fgclass.data.placement import assign_splits, official_splits, subsample_train
from fgclass.data.scan import ScanResult, cache_file_for, scan_images
from fgclass.data.sources import LabelledImages
from fgclass.data.splits import SplitConfig, SplitTable
from fgclass.errors import ConfigError, DataError
from fgclass.text import listing


def scan_dataset(images: LabelledImages, cache_dir: str | Path | None) -> ScanResult:
    """Scan every image (validity, size, digest, hashes), cached per dataset root in ``cache_dir``."""
    cache = cache_file_for(cache_dir, images.root) if cache_dir else None
    return scan_images(images.root, images.paths, cache)


def readable(images: LabelledImages, scan: ScanResult) -> tuple[LabelledImages, ScanResult, np.ndarray]:
    """The images ``scan`` could decode, their scan, and the mask that picks them."""
    mask = np.array([r.error is None for r in scan.records], dtype=bool)
    keep = np.flatnonzero(mask).tolist()
    subset = images.subset(keep)
    return subset, ScanResult(subset.paths, [scan.records[i] for i in keep]), mask


def plan_splits(
    images: LabelledImages,
    scan: ScanResult,
    config: SplitConfig,
    train_fraction: float = 1.0,
    cache_dir: str | Path | None = None,
    embedder: ImageFeatures | None = None,
    where: str | None = None,
) -> SplitTable:
    """The split of ``images``, all readable (``scan`` is theirs): near-duplicate groups (hash
    pairs within ``config.threshold``, joined where ``config.embedding_threshold`` asks by the
    embeddings of ``embedder``) placed whole (or, with ``config.mode="official"``, the publisher's
    split, :func:`~fgclass.data.placement.official_splits`), then ``train_fraction`` of each class's
    training share kept. ``where`` names the images in errors (default: their root)."""
    groups = None
    if config.group_near_duplicates:
        pairs = near_duplicate_pairs_cached(scan.hashes, config.threshold, cache_dir)
        groups = group_ids(len(scan.hashes), pairs)
        if config.embedding_threshold is not None:
            if embedder is None:
                raise ConfigError(
                    f"data.split.embedding_threshold={config.embedding_threshold} needs a feature "
                    "extractor, but data.embedder is null: set it (conf/data/_common.yaml has the "
                    "default) or set data.split.embedding_threshold=null."
                )
            digests = [r.digest for r in scan.records]
            copies = copy_groups(scan.hashes, pairs, COPY_BITS)  # they share one embedding
            embeddings = image_embeddings(images.root, images.paths, digests, embedder, cache_dir, copies)
            groups = join_groups(groups, similar_pairs(embeddings, config.embedding_threshold))
    where = where or str(images.root)
    if config.mode == "official":
        if images.official is None:
            raise ConfigError(
                f"data.split.mode=official: the dataset in {where} has no official split (its "
                "publisher ships none). Set data.split.mode=random."
            )
        splits = official_splits(images.labels, images.official, groups, config, where)
    else:
        splits = assign_splits(images.labels, groups, config, where=where)
    splits = subsample_train(images.labels, splits, train_fraction, config.seed)
    group_col = groups.tolist() if groups is not None else list(range(len(images.paths)))
    return SplitTable(images.paths, images.labels, splits.tolist(), group_col)


def split_dataset(
    images: LabelledImages,
    config: SplitConfig,
    train_fraction: float = 1.0,
    cache_dir: str | Path | None = None,
    embedder: ImageFeatures | None = None,
) -> SplitTable:
    """Scan ``images`` and :func:`plan_splits` them; raises :class:`DataError` listing every file
    that cannot be decoded, since a split must not silently drop images."""
    scan = scan_dataset(images, cache_dir)
    if scan.errors:
        bad = [f"{images.root / p}: {why}" for p, why in sorted(scan.errors.items())]
        raise DataError(
            f"{len(bad)} image files cannot be decoded (each with its reason):\n"
            f"{listing(bad)}\nRe-download or delete these files, then run again."
        )
    return plan_splits(images, scan, config, train_fraction, cache_dir, embedder)
