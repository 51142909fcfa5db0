"""Old vs new near-duplicate search and embedding judge on a real dataset (docs/honest_splits.md).

    python docs/logs/duplicates_measure.py ../shared/data/fish --layout fish [--judge]

Prints: hash pairs by the old brute force and by FAISS (time, equal?), the embedding pass of the
new views (seconds, images/s) beside the old 16 views at 160 px on the first --old-images images
(same process, alternating), images that the embedding links regroup, and the val+test images
left with a copy in train at the default split (seed 42) by an independent judge: with --judge the
correlation judge of benchmarks/validate_near_duplicates.py (a copy at any angle, per class),
else exact flip/rotation twins by an 8x8 average hash of the 8 flips/rotations.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from benchmarks.bench_duplicates import brute_hash_pairs
from benchmarks.validate_near_duplicates import judge_similarity
from fgclass.data import embeddings as judge
from fgclass.data.duplicates import group_ids, join_groups, near_duplicate_pairs
from fgclass.data.images import load_rgb
from fgclass.data.scan import dihedral_variants, scan_images
from fgclass.data.sources import find_butterfly_images, find_fish_images
from fgclass.data.splits import SplitConfig, assign_splits
from fgclass.models.features import BackboneFeatures, packaged_lite0_features


def average_hash_twins(paths: list[str], labels: np.ndarray) -> np.ndarray:
    """``(N, N)`` same-class pairs whose 8x8 average hashes agree on some flip/rotation."""
    codes = []
    for path in paths:
        gray = cv2.resize(cv2.imread(path, cv2.IMREAD_GRAYSCALE), (8, 8), interpolation=cv2.INTER_AREA)
        codes.append([np.packbits(v > v.mean()).tobytes() for v in dihedral_variants(gray)])
    twins = np.zeros((len(paths), len(paths)), dtype=bool)
    seen: dict[bytes, list[int]] = {}
    for i, variants in enumerate(codes):
        for code in set(variants):
            for j in seen.get(code, []):
                if labels[i] == labels[j]:
                    twins[i, j] = twins[j, i] = True
            seen.setdefault(code, []).append(i)
    return twins


def copies_by_judge(paths: list[str], labels: np.ndarray) -> np.ndarray:
    copies = np.zeros((len(paths), len(paths)), dtype=bool)
    for name in np.unique(labels):
        idx = np.flatnonzero(labels == name)
        copies[np.ix_(idx, idx)] = judge_similarity([paths[i] for i in idx], labels[idx]) >= 0.9
    return copies


def held_out_with_copy(labels: np.ndarray, groups: np.ndarray | None, copies: np.ndarray) -> tuple[int, int]:
    splits = assign_splits(labels, groups, SplitConfig(seed=42))
    held, train = splits != "train", splits == "train"
    return int(copies[np.ix_(held, train)].any(axis=1).sum()), int(held.sum())


def old_views_seconds(root: Path, paths: list[str], features: BackboneFeatures) -> tuple[float, float]:
    """Median seconds per image of the old 16 views at 160 px and of the new views, alternating."""
    old, new = [], []
    for path in paths:
        rgb = load_rgb(root / path)
        for times, kwargs in ((old, {"side": 160, "angles": range(0, 360, 45), "mirror": True}), (new, {})):
            begin = time.perf_counter()
            with torch.inference_mode():
                features(torch.from_numpy(judge.views(rgb, **kwargs)).permute(0, 3, 1, 2))
            times.append(time.perf_counter() - begin)
    return float(np.median(old)), float(np.median(new))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("--layout", choices=["fish", "butterfly"], default="fish")
    parser.add_argument("--threshold", type=float, default=0.94)
    parser.add_argument("--old-images", type=int, default=40)
    parser.add_argument("--judge", action="store_true")
    args = parser.parse_args()
    images = (find_fish_images if args.layout == "fish" else find_butterfly_images)(args.root)
    labels, n = np.array(images.labels), len(images.paths)
    scan = scan_images(images.root, images.paths)
    print(
        f"{args.root}: {n} images, {len(set(images.labels))} classes; torch threads {torch.get_num_threads()}"
    )

    begin = time.perf_counter()
    pairs = near_duplicate_pairs(scan.hashes, 40)
    faiss_s = time.perf_counter() - begin
    brute, brute_s = brute_hash_pairs(scan.hashes, 0)
    print(
        f"hash pairs: brute force {len(brute)} in {brute_s:.2f} s, FAISS {len(pairs)} in {faiss_s:.2f} s, "
        f"equal: {brute == {(i, j) for i, j, _ in pairs}}"
    )

    features = packaged_lite0_features()
    old_s, new_s = old_views_seconds(images.root, images.paths[: args.old_images], features)
    print(
        f"per image (median of {args.old_images}, alternating): old 16 views @160 px {old_s * 1000:.0f} ms, "
        f"new {len(judge.ANGLES) * (2 if judge.MIRROR else 1)} views @{judge.SIDE} px {new_s * 1000:.0f} ms "
        f"({old_s / new_s:.1f}x)"
    )
    begin = time.perf_counter()
    vectors = judge.image_embeddings(images.root, images.paths, [r.digest for r in scan.records], features)
    embed_s = time.perf_counter() - begin
    print(
        f"embedding pass: {embed_s:.1f} s ({n / embed_s:.1f} images/s); old views estimated "
        f"{embed_s * old_s / new_s:.0f} s"
    )

    hash_groups = group_ids(n, pairs)
    links = judge.similar_pairs(vectors, args.threshold)
    both = join_groups(hash_groups, links)
    regrouped = int((np.bincount(both)[both] > np.bincount(hash_groups)[hash_groups]).sum())
    cross = sum(labels[i] != labels[j] for i, j, _ in links)
    print(
        f"embedding links at {args.threshold}: {len(links)} pairs ({cross} across classes), "
        f"{regrouped} images regrouped; largest group {np.bincount(hash_groups).max()} -> {np.bincount(both).max()}"
    )

    paths = [str(images.root / p) for p in images.paths]
    copies = copies_by_judge(paths, labels) if args.judge else average_hash_twins(paths, labels)
    what = "correlation-judge copies" if args.judge else "average-hash flip/rotation twins"
    print(f"{what}: {int(np.triu(copies, 1).sum())} pairs")
    for name, groups in (("random", None), ("hashes only", hash_groups), ("hashes + embeddings", both)):
        left, held = held_out_with_copy(labels, groups, copies)
        print(f"  {name}: {left} of {held} val+test images with a copy in train")


if __name__ == "__main__":
    main()
