"""Seeded, stratified, group-aware placement of images into train/val/test.

Samples may carry a group key (near-duplicate images share one): a group always lands in a single
split, while each class's split sizes stay as close as the groups allow to its target counts. The
publisher's split is kept where a dataset has one (:func:`official_splits`), and
:func:`subsample_train` keeps a share of the training images for data-fraction ablations.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fgclass.data.splits import SPLITS, UNUSED, SplitConfig
from fgclass.errors import ConfigError, DataError
from fgclass.text import counted, listing


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


def _closest_split(sizes: np.ndarray, start: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Split index (0 train, 1 val, 2 test if any) for each group, of ``sizes`` images of one class,
    such that the class's counts (``start`` plus these groups) come closest to ``exact``: first no
    empty split, then the smallest largest deviation, then the smallest squared deviation. An exact
    subset-sum search over the images given to the splits after train (capped where more cannot help).
    """
    room = np.maximum(np.ceil(exact[1:]).astype(int) - start[1:], 0) + sizes.max()
    born = np.full(room + 1, len(sizes) + 1)  # born[v, t]: groups needed to first put v in val (t in test)
    born[(0,) * len(room)] = 0
    for k, size in enumerate(sizes, start=1):
        reached = born < k
        grown = np.zeros_like(reached)
        for axis in range(reached.ndim):  # group k added to split axis + 1
            grown[(slice(None),) * axis + (slice(size, None),)] |= reached[
                (slice(None),) * axis + (slice(reached.shape[axis] - size),)
            ]
        born[grown & (born > k)] = k
    held = np.stack(np.nonzero(born <= len(sizes)), axis=1)  # images in each split after train
    counts = start + np.concatenate([sizes.sum() - held.sum(1, keepdims=True), held], axis=1)
    deviation = counts - exact
    best = np.lexsort(((deviation**2).sum(1), np.abs(deviation).max(1), (counts == 0).any(1)))[0]
    where, at, unit = np.zeros(len(sizes), dtype=int), held[best].copy(), np.eye(len(room), dtype=int)
    while at.any():  # walk back: the group that first reached ``at`` went to the first split it fits
        k = born[tuple(at)]
        size = sizes[k - 1]
        axis = 0
        while axis < len(at) - 1 and not (at[axis] >= size and born[tuple(at - size * unit[axis])] < k):
            axis += 1
        where[k - 1], at[axis] = axis + 1, at[axis] - size
    return where


def assign_splits(
    labels: Sequence[str],
    groups: Sequence[int] | None,
    config: SplitConfig,
    where: str = "the dataset",
) -> np.ndarray:
    """Split name (``train``/``val``/``test``) per sample, ``config.fractions`` of each class."""
    return place_groups(labels, groups, SPLITS, config.fractions, config.seed, where)


def place_groups(
    labels: Sequence[str],
    groups: Sequence[int] | None,
    names: Sequence[str],
    fractions: np.ndarray,
    seed: int,
    where: str = "the dataset",
) -> np.ndarray:
    """Split name (one of ``names``, ``fractions`` of each class) per sample.

    Groups are placed whole, largest first, each into the split where it brings the per-class
    counts closest to their targets (sum of squared deviations). Where that misses a class's
    targets, an exact search re-places the class's single-class groups as close to its target
    fractions as their sizes allow. Without groups this reproduces the targets exactly.
    """
    labels = np.asarray(labels)
    classes, y = np.unique(labels, return_inverse=True)
    counts = np.bincount(y, minlength=len(classes))
    too_small = [f"'{c}': {counted(n, 'image')}" for c, n in zip(classes, counts) if n < len(names)]
    if too_small:
        raise DataError(
            f"In {where}, these classes have too few images to appear in every split "
            f"({', '.join(names)}: at least {len(names)} needed):\n{listing(too_small)}\n"
            "Add images, or drop the classes from the data."
        )
    targets = np.stack([_class_targets(n, fractions) for n in counts])  # (classes, splits)
    group_of = np.arange(len(y)) if groups is None else np.unique(groups, return_inverse=True)[1]

    group_sizes = np.bincount(group_of)
    by_group = np.argsort(group_of, kind="stable")
    members = np.split(by_group, np.cumsum(group_sizes)[:-1])
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(members))
    sizes = group_sizes[order]
    order = order[np.argsort(-sizes, kind="stable")]  # largest groups first, random among equals

    current = np.zeros_like(targets)
    split_of_group = np.empty(len(members), dtype=int)
    singles = group_sizes[order] == 1  # the tail of the order
    for g in order[~singles]:  # per group, work in its own classes only (10,000 classes x 1 M groups)
        present, group_counts = np.unique(y[members[g]], return_counts=True)
        before = current[present] - targets[present]  # (k, splits)
        after = before + group_counts[:, None]
        cost = (after**2 - before**2).sum(axis=0)
        best = np.flatnonzero(cost == cost.min())
        choice = best[0] if len(best) == 1 else rng.choice(best)
        current[present, choice] += group_counts
        split_of_group[g] = choice
    # one-image groups (most of them at scale), the same rule and draws in plain Python: adding one
    # image costs 2 * (count - target) + 1, so the best splits are those furthest below their target
    offset = (current - targets).tolist()
    tail = order[singles]
    only_image = by_group[np.cumsum(group_sizes)[tail] - 1]  # each one-image group's member
    for g, c in zip(tail.tolist(), y[only_image].tolist()):
        row = offset[c]
        low = min(row)
        best = [s for s, value in enumerate(row) if value == low]
        choice = best[0] if len(best) == 1 else rng.choice(best)
        row[choice] += 1
        split_of_group[g] = choice
    current = np.asarray(offset, dtype=targets.dtype).reshape(targets.shape) + targets

    lowest, highest = np.full(len(members), len(classes)), np.full(len(members), -1)
    np.minimum.at(lowest, group_of, y)
    np.maximum.at(highest, group_of, y)
    single = order[np.argsort(lowest[order], kind="stable")]  # by class, in placement order, and
    single = single[lowest[single] == highest[single]]  # single-class only
    bounds = np.searchsorted(lowest[single], np.arange(len(classes) + 1))
    for c in np.flatnonzero((current != targets).any(axis=1)):  # greedy missed: search this class
        mine = single[bounds[c] : bounds[c + 1]]  # its single-class groups
        if not len(mine):
            continue
        start = current[c] - np.bincount(split_of_group[mine], group_sizes[mine], len(names)).astype(int)
        split_of_group[mine] = _closest_split(group_sizes[mine], start, counts[c] * fractions)
        current[c] = start + np.bincount(split_of_group[mine], group_sizes[mine], len(names)).astype(int)
    split_of = split_of_group[group_of]

    missing = [
        f"'{c}' has no images in {', '.join(names[s] for s in np.flatnonzero(row == 0))}"
        for c, row in zip(classes, current)
        if (row == 0).any()
    ]
    if missing:
        raise DataError(
            f"In {where}, near-duplicate groups are too large to put every class in every split:\n"
            f"{listing(missing)}\nAdd distinct images to these classes, raise "
            f"data.split.{'/'.join(names[1:])}, or (accepting leaked near-duplicates) set "
            "data.split.group_near_duplicates=false."
        )
    return np.array(names)[split_of]


def official_splits(
    labels: Sequence[str],
    official: Sequence[str],
    groups: Sequence[int] | None,
    config: SplitConfig,
    where: str = "the dataset",
) -> np.ndarray:
    """Split name per sample from the publisher's split: its test images are the test split,
    exactly, and its validation images (where it has any) the val split. Without them, val is
    carved from its training images alone: ``config.val`` of each class's, stratified, seeded and
    near-duplicate groups whole (:func:`place_groups` with the two splits train and val)."""
    labels, official = np.asarray(labels), np.asarray(official)
    present = set(zip(labels.tolist(), official.tolist()))
    absent = [
        f"'{c}' has no official {s} images"
        for c in sorted(set(labels.tolist()))
        for s in ("train", "test")
        if (c, s) not in present
    ]
    if absent:
        raise DataError(
            f"In {where}, classes are missing from the publisher's split:\n{listing(absent)}\n"
            "Restore the dataset's files, or set data.split.mode=random to split it anew."
        )
    splits = official.astype(object).copy()
    if not (official == "val").any():
        train = np.flatnonzero(official == "train")
        part = None if groups is None else np.asarray(groups)[train]
        splits[train] = place_groups(
            labels[train],
            part,
            ("train", "val"),
            np.array([1 - config.val, config.val]),
            config.seed,
            where=f"the official training images of {where}",
        )
    return splits.astype(str)


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
