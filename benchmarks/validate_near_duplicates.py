"""Check the near-duplicate thresholds on a real dataset, against an independent judge.

    python benchmarks/validate_near_duplicates.py /work/shared/data/fish --layout fish
    python benchmarks/validate_near_duplicates.py /work/shared/data/butterfly --layout butterfly
    ... --embeddings 0.9 0.92 0.94 0.96 --cache-dir .cache   # also the embedding judge

Prints, per Hamming threshold, the near-duplicate groups and the pairs that cross classes
(never true copies: they measure false matches), then the share of val+test images with a copy
in train for random and grouped splits. "Copy" is measured twice: by the perceptual hash, and by
a judge that knows nothing of it: the best normalised cross-correlation of the central disc of
two same-class images over both mirrorings and 120 rotation angles (3° steps). The judge also
sees copies rotated by arbitrary angles, which a flip/90°-rotation hash cannot.

With ``--embeddings``, the same for fgclass's second judge (``data.split.embedding_threshold``:
cosine similarity of rotation-pooled ImageNet embeddings, :mod:`fgclass.data.embeddings`), added to
the hash groups at each threshold.
"""

from __future__ import annotations

import argparse
from collections import Counter

import cv2
import numpy as np

from fgclass.data.duplicates import copy_groups, group_ids, join_groups, near_duplicate_pairs
from fgclass.data.embeddings import COPY_BITS, image_embeddings, similar_pairs
from fgclass.data.placement import assign_splits
from fgclass.data.scan import ScanResult, scan_images
from fgclass.data.sources import LabelledImages, find_butterfly_images, find_fish_images
from fgclass.data.splits import SplitConfig
from fgclass.errors import DataError
from fgclass.models.features import packaged_lite0_features

_SIDE = 64
_Y, _X = np.mgrid[:_SIDE, :_SIDE] - (_SIDE - 1) / 2
_DISC = _X**2 + _Y**2 <= (_SIDE / 2 - 2) ** 2


def _disc(gray: np.ndarray) -> np.ndarray:
    values = gray[_DISC] - gray[_DISC].mean()
    return values / (np.linalg.norm(values) + 1e-9)


def judge_similarity(paths: list[str], labels: np.ndarray) -> np.ndarray:
    """``(N, N)`` best correlation over mirrorings and rotations; -1 between classes."""
    centre = ((_SIDE - 1) / 2, (_SIDE - 1) / 2)
    thumbs = [
        cv2.resize(cv2.imread(p, cv2.IMREAD_GRAYSCALE), (_SIDE, _SIDE), interpolation=cv2.INTER_AREA).astype(
            np.float32
        )
        for p in paths
    ]
    turned = [
        np.stack(
            [
                _disc(cv2.warpAffine(t, cv2.getRotationMatrix2D(centre, angle, 1.0), (_SIDE, _SIDE)))
                for t in (thumb, thumb[:, ::-1].copy())
                for angle in range(0, 360, 3)
            ]
        )
        for thumb in thumbs
    ]
    plain = np.stack([_disc(t) for t in thumbs])
    similarity = np.full((len(paths), len(paths)), -1.0, dtype=np.float32)
    for name in np.unique(labels):
        idx = np.flatnonzero(labels == name)
        best = np.einsum("id,jvd->ijv", plain[idx], np.stack([turned[j] for j in idx])).max(axis=2)
        similarity[np.ix_(idx, idx)] = np.maximum(best, best.T)
    np.fill_diagonal(similarity, -1)
    return similarity


def leak(splits: np.ndarray, copies: np.ndarray) -> float:
    """Share of val/test images with a copy (``copies[i, j]``) in train."""
    held_out, train = splits != "train", splits == "train"
    return float(copies[np.ix_(held_out, train)].any(axis=1).mean())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("root")
    parser.add_argument("--layout", choices=["fish", "butterfly"], default="fish")
    parser.add_argument("--thresholds", type=int, nargs="+", default=[20, 30, 40, 50])
    parser.add_argument("--judge", type=float, default=0.9, help="correlation that counts as a copy")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--embeddings", type=float, nargs="*", default=[], help="cosine thresholds")
    parser.add_argument("--cache-dir", default=None, help="where embeddings are cached")
    args = parser.parse_args()

    images = (find_fish_images if args.layout == "fish" else find_butterfly_images)(args.root)
    labels, n = np.array(images.labels), len(images.paths)
    scan = scan_images(images.root, images.paths)
    hashes = scan.hashes
    distance = np.full((n, n), 256)
    for i, j, d in near_duplicate_pairs(hashes, 256):
        distance[i, j] = distance[j, i] = d
    same_class = labels[:, None] == labels[None, :]
    print(
        f"{n} images, {len(set(images.labels))} classes; closest pair across classes: "
        f"{distance[~same_class].min()} bits"
    )

    for threshold in args.thresholds:
        ids = group_ids(n, [(i, j, 0) for i, j in zip(*np.nonzero(np.triu(distance <= threshold, 1)))])
        sizes = Counter(Counter(ids.tolist()).values())
        cross = int(np.triu((distance <= threshold) & ~same_class, 1).sum())
        grouped = {size: count for size, count in sorted(sizes.items()) if size > 1}
        print(
            f"threshold {threshold:3d}: {sum(grouped.values())} groups of 2+ images {grouped}, "
            f"{n - sizes[1]} images in them, {cross} cross-class pairs"
        )

    judge = judge_similarity([str(images.root / p) for p in images.paths], labels) >= args.judge
    print(
        f"judge: {int(np.triu(judge, 1).sum())} same-class copy pairs (correlation >= {args.judge}), "
        f"{int(np.triu(judge & (distance <= 40), 1).sum())} of them within 40 bits"
    )
    print("val+test images with a copy in train (mean over seeds; copy by hash at the threshold / by judge):")
    for threshold in args.thresholds:
        near = distance <= threshold
        ids = group_ids(n, [(i, j, 0) for i, j in zip(*np.nonzero(np.triu(near, 1)))])
        rows = {"random": [], "grouped": []}
        for seed in range(args.seeds):
            config = SplitConfig(seed=seed)
            for name, groups in (("random", None), ("grouped", ids)):
                splits = assign_splits(labels, groups, config)
                rows[name].append((leak(splits, near), leak(splits, judge)))
        print(
            f"threshold {threshold:3d}: "
            + ", ".join(
                f"{name} {100 * np.mean([h for h, _ in v]):.1f} % / {100 * np.mean([j for _, j in v]):.1f} %"
                for name, v in rows.items()
            )
        )

    if args.embeddings:
        embedding_judge(args, images, scan, labels, distance, judge)


def embedding_judge(
    args: argparse.Namespace,
    images: LabelledImages,
    scan: ScanResult,
    labels: np.ndarray,
    distance: np.ndarray,
    judge: np.ndarray,
) -> None:
    """Pairs, false matches and the judge's leak after grouping by hashes (40 bits) + embeddings (flips
    and quarter turns sharing one, as the data module embeds them)."""
    n, same_class = len(labels), labels[:, None] == labels[None, :]
    digests, features = [r.digest for r in scan.records], packaged_lite0_features()
    # every pair within COPY_BITS by either kind of hash: a superset of the flips, from the distances at hand
    near = [(i, j, 0) for i, j in zip(*np.nonzero(np.triu(distance <= COPY_BITS, 1)))]
    copies = copy_groups(scan.hashes, near, COPY_BITS)
    embeddings = image_embeddings(images.root, images.paths, digests, features, args.cache_dir, copies)
    similarity = embeddings @ embeddings.T
    np.fill_diagonal(similarity, -1)
    print(
        f"embeddings: closest pair across classes {similarity[~same_class].max():.3f}; same-class "
        "percentiles 50/90/99: "
        + "/".join(
            f"{v:.3f}" for v in np.percentile(similarity[same_class & ~np.eye(n, dtype=bool)], [50, 90, 99])
        )
    )
    near = distance <= 40
    hash_groups = group_ids(n, [(i, j, 0) for i, j in zip(*np.nonzero(np.triu(near, 1)))])
    print(f"grouped by the hashes (40 bits), then also by embeddings; leak by the judge, {args.seeds} seeds:")
    judged = np.triu(judge, 1)
    for threshold in [None, *args.embeddings]:
        if threshold is None:
            name, links, groups = "hashes only", np.triu(near, 1), hash_groups
        else:
            name, links = f"+ cosine >= {threshold}", np.triu(similarity >= threshold, 1)
            groups = join_groups(hash_groups, similar_pairs(embeddings, threshold))
        try:
            leaks = [
                leak(assign_splits(labels, groups, SplitConfig(seed=s)), judge) for s in range(args.seeds)
            ]
            result = f"leak {100 * np.mean(leaks):.1f} % ({100 * min(leaks):.0f}-{100 * max(leaks):.0f} %)"
        except DataError:
            result = "no split: groups too large for every class to reach val and test"
        print(
            f"  {name}: {int(links.sum())} pairs ({int((links & ~same_class).sum())} across classes, "
            f"{int((links & judged).sum())} of the judge's {int(judged.sum())}), largest group "
            f"{np.bincount(groups).max()}; {result}"
        )


if __name__ == "__main__":
    main()
