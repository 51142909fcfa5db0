"""Near-duplicate hashing, grouping, caching and group-aware splitting, on real image files."""

from __future__ import annotations

import csv
import itertools
import os
import threading
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from PIL import Image

from fgclass.audit import audit
from fgclass.config import compose_config
from fgclass.data import duplicates
from fgclass.data import embeddings as embedding_judge
from fgclass.data.duplicates import (
    DEFAULT_THRESHOLD,
    copy_groups,
    group_near_duplicates,
    near_duplicate_pairs,
    near_duplicate_pairs_cached,
)
from fgclass.data.embeddings import COPY_BITS, image_embeddings, similar_pairs
from fgclass.data.images import ImageError
from fgclass.data.placement import assign_splits
from fgclass.data.scan import dihedral_hashes, dihedral_variants, scan_images
from fgclass.data.sources import find_folder_images
from fgclass.data.splits import SPLITS, SplitConfig
from fgclass.data.synthetic import draw_image
from fgclass.errors import ConfigError
from fgclass.models.features import packaged_lite0_features

from .photo_copies import VARIANTS, photo_of, write_photo_copies

CLASSES = ("ADONIS", "MONARCH", "Sea Bass")


def _partition(keys: list) -> set[frozenset[int]]:
    members = defaultdict(set)
    for i, key in enumerate(keys):
        members[key].add(i)
    return {frozenset(m) for m in members.values()}


def test_copies_are_grouped_and_different_photos_are_not(tmp_path: Path) -> None:
    root = write_photo_copies(tmp_path, CLASSES, photos_per_class=4, variants=list(VARIANTS))
    images = find_folder_images(root)
    scan = scan_images(images.root, images.paths, workers=2)  # 120 files: the process pool path
    assert not scan.errors

    groups = group_near_duplicates(scan.hashes, DEFAULT_THRESHOLD)

    truth = [photo_of(p) for p in images.paths]
    assert _partition(groups.tolist()) == _partition(truth)
    # flips and 90° rotations of a lossless copy hash identically
    index = {p: i for i, p in enumerate(images.paths)}
    pair = sorted((index["MONARCH/p002_orig.png"], index["MONARCH/p002_rot90.png"]))
    assert (*pair, 0) in set(near_duplicate_pairs(scan.hashes, 0))


def _brute_force_pairs(hashes: np.ndarray, threshold: int) -> set[tuple[int, int, int]]:
    found = set()
    for i in range(len(hashes)):
        for j in range(i + 1, len(hashes)):
            distance = min(
                sum(bin(int(a) ^ int(b)).count("1") for a, b in zip(hashes[i, 0], hashes[j, k]))
                for k in range(8)
            )
            if distance <= threshold:
                found.add((i, j, distance))
    return found


def test_pairs_match_a_brute_force_search_across_chunks() -> None:
    rng = np.random.default_rng(3)
    hashes = rng.integers(0, 2**63, (150, 8, 4), dtype=np.uint64)  # more rows than one 64-row chunk
    hashes[120] = hashes[3][[4, 5, 6, 7, 0, 1, 2, 3]]  # a mirrored copy of image 3
    hashes[140, :, 1] = hashes[70, :, 1]
    hashes[140, :, 0] = hashes[70, :, 0] ^ np.uint64(0b1011)  # 3 bits away from image 70
    hashes[140, :, 2:] = hashes[70, :, 2:]

    expected = {(3, 120, 0), (70, 140, 3)}
    assert set(near_duplicate_pairs(hashes, 10)) == _brute_force_pairs(hashes, 10) == expected
    assert set(near_duplicate_pairs(hashes[:90], 110)) == _brute_force_pairs(hashes[:90], 110)


def test_scan_cache_hits_skip_reading_the_file(tmp_path: Path) -> None:
    root = write_photo_copies(tmp_path / "data", CLASSES, photos_per_class=2, variants=["orig"])
    images = find_folder_images(root)
    cache = tmp_path / "cache" / "scan.json"
    first = scan_images(images.root, images.paths, cache, workers=1)
    assert cache.is_file() and not first.errors

    # Garble a file but keep its size and mtime: a cache hit must not even read it.
    victim = root / images.paths[0]
    stat = victim.stat()
    victim.write_bytes(b"\0" * stat.st_size)
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    cached = scan_images(images.root, images.paths, cache, workers=1)
    assert cached.records == first.records

    # A new modification time is a cache miss: this file alone is decoded again, and found broken.
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    rescanned = scan_images(images.root, images.paths, cache, workers=1)
    assert list(rescanned.errors) == [images.paths[0]]
    assert rescanned.records[1:] == first.records[1:]


def _targets_hold(labels: np.ndarray, splits: np.ndarray, config: SplitConfig, name: str) -> bool:
    mine = splits[labels == name]
    return all(abs((mine == s).sum() - len(mine) * f) <= 1 for s, f in zip(SPLITS, config.fractions))


def _within_one_possible(sizes: np.ndarray, fractions: np.ndarray) -> bool:
    """Brute force over every placement: can whole groups give each split its share within one image?"""
    choice = np.array(list(itertools.product(range(len(SPLITS)), repeat=len(sizes))))
    counts = np.stack([(choice == k) @ sizes for k in range(len(SPLITS))], axis=1)
    return bool((np.abs(counts - sizes.sum() * fractions) <= 1).all(axis=1).any())


@pytest.mark.parametrize("seed", range(10))
def test_grouped_split_keeps_groups_whole_and_class_shares_within_one_image_where_possible(seed: int) -> None:
    rng = np.random.default_rng(seed)
    config = SplitConfig(val=0.15, test=0.15, seed=seed)
    labels, groups, possible, group_ids = [], [], {}, itertools.count()
    for name in "abcde":
        sizes = rng.choice([1, 1, 2, 3, 4], size=int(rng.integers(6, 11)))  # like copies of photos
        possible[name] = _within_one_possible(sizes, config.fractions)
        for size in sizes:
            groups += [next(group_ids)] * size
            labels += [name] * size
    labels, groups = np.array(labels), np.array(groups)

    splits = assign_splits(labels, groups, config)

    for g in np.unique(groups):
        assert len(set(splits[groups == g])) == 1
    assert sum(possible.values()) >= 3  # the check below is not vacuous
    for name in possible:
        assert _targets_hold(labels, splits, config, name) or not possible[name]


def test_ungrouped_split_hits_the_targets_exactly() -> None:
    labels = np.repeat(["a", "b", "c"], [40, 23, 17])
    splits = assign_splits(labels, None, SplitConfig(val=0.1, test=0.2, seed=1))
    # largest remainder: b = 16.1/2.3/4.6 -> 16/2/5, c = 11.9/1.7/3.4 -> 12/2/3
    for name, expected in (("a", [28, 4, 8]), ("b", [16, 2, 5]), ("c", [12, 2, 3])):
        assert [(splits[labels == name] == s).sum() for s in SPLITS] == expected


@pytest.mark.parametrize("grouped", [True, False])
def test_data_module_split_never_puts_copies_of_a_photo_in_two_splits(
    tmp_path: Path, train_config, grouped: bool
) -> None:
    variants = ["orig", "rot90", "fliplr", "jpeg"]
    root = write_photo_copies(tmp_path / "fish", CLASSES, photos_per_class=12, variants=variants)
    cfg = train_config("data=fish", f"data.root={root}", f"data.split.group_near_duplicates={grouped}")
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()

    with datamodule.splits_path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    splits_of_photo, groups_of_photo = defaultdict(set), defaultdict(set)
    for row in rows:
        splits_of_photo[photo_of(row["path"])].add(row["split"])
        groups_of_photo[photo_of(row["path"])].add(row["group"])
    straddling = [photo for photo, splits in splits_of_photo.items() if len(splits) > 1]
    if grouped:
        assert straddling == []
        assert all(len(ids) == 1 for ids in groups_of_photo.values())
        assert len({row["group"] for row in rows}) == len(splits_of_photo) == len(CLASSES) * 12
    else:  # the leak that grouping prevents: a random split separates copies of most photos
        assert len(straddling) > len(splits_of_photo) // 2


def test_lossless_flips_and_rotations_of_a_non_square_image_hash_identically() -> None:
    image = draw_image(2, 6, 80, np.random.default_rng(5))[:45, :71]  # sides not multiples of 32
    hashes = np.stack(
        [dihedral_hashes(Image.fromarray(np.ascontiguousarray(v))) for v in dihedral_variants(image)]
    )
    assert sorted(d for _, _, d in near_duplicate_pairs(hashes, 256)) == [0] * 28


def _fish_like(seed: int, size: int = 96) -> np.ndarray:
    """An elongated 'fish' on a gradient background: a picture with a dominant orientation."""
    rng = np.random.default_rng(seed)
    _, xx = np.mgrid[:size, :size]
    image = np.dstack([40 + 60 * xx / size + rng.normal(0, 4, (size, size))] * 3).astype(np.float32)
    centre = (int(size / 2 + rng.integers(-6, 7)), int(size / 2 + rng.integers(-6, 7)))
    axes = (int(rng.integers(26, 34)), int(rng.integers(7, 11)))
    cv2.ellipse(
        image,
        centre,
        axes,
        float(rng.uniform(0, 180)),
        0,
        360,
        tuple(float(c) for c in rng.uniform(120, 250, 3)),
        -1,
    )
    cv2.circle(image, centre, 3, (10, 10, 10), -1)  # an eye off the axis' middle: not symmetric
    return np.clip(image, 0, 255).astype(np.uint8)


def _turn(image: np.ndarray, degrees: float, zoom: float = 1.0) -> np.ndarray:
    """Rotate by any angle within the same canvas, corners black (as the fish dataset's copies)."""
    centre = ((image.shape[1] - 1) / 2, (image.shape[0] - 1) / 2)
    return cv2.warpAffine(image, cv2.getRotationMatrix2D(centre, degrees, zoom), image.shape[1::-1])


def test_copies_rotated_by_any_angle_are_grouped(tmp_path: Path) -> None:
    files = {}
    for photo in range(6):
        image = _fish_like(photo)
        for name, copy in (
            ("orig", image),
            ("rot37", _turn(image, 37)),
            ("mirror_rot113", _turn(image[:, ::-1], 113)),
        ):
            files[f"fish/p{photo}_{name}.png"] = copy
    for path, image in files.items():
        (tmp_path / path).parent.mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / path), image)
    paths = sorted(files)
    scan = scan_images(tmp_path, paths)
    groups = group_near_duplicates(scan.hashes, DEFAULT_THRESHOLD)
    assert _partition(groups.tolist()) == _partition([p.split("_")[0] for p in paths])
    # the flip/90°-rotation hashes alone do not see these copies
    assert not list(near_duplicate_pairs(scan.hashes[:, :8], DEFAULT_THRESHOLD))


class _Counted:
    """The judge's real extractor, its calls and the images they carry counted (calls come from several
    threads at once)."""

    def __init__(self) -> None:
        self.features = packaged_lite0_features()
        self.name, self.calls, self.images = self.features.name, 0, 0
        self._lock = threading.Lock()

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        with self._lock:
            self.calls += 1
            self.images += len(images) // len(embedding_judge.ANGLES)
        return self.features(images)


def _monarch_files(folder: Path) -> dict[str, str]:
    """The real monarch photo, turned by arbitrary angles (black corners), mirrored and zoomed by 1.2
    (which puts the hashes 110-120 bits apart), plus 2x zooms of its four quadrants: three copies,
    and four pictures that are not copies of it."""
    image = cv2.imread(str(Path(__file__).parent / "data" / "monarch.jpg"))
    height, width = image.shape[:2]
    pictures = {
        "copy_orig": image,
        "copy_rot37_zoom": _turn(image, 37, zoom=1.2),
        "copy_mirror_rot113_zoom": _turn(np.ascontiguousarray(image[:, ::-1]), 113, zoom=1.2),
    }
    for k, (top, left) in enumerate(itertools.product((0, height // 2), (0, width // 2))):
        pictures[f"quadrant{k}"] = cv2.resize(
            image[top : top + height // 2, left : left + width // 2], (width, height)
        )
    folder.mkdir(parents=True)
    for name, picture in pictures.items():
        cv2.imwrite(str(folder / f"{name}.jpg"), picture)
    return {f"{folder.name}/{name}.jpg": name for name in pictures}


def test_embedding_judge_links_copies_turned_by_any_angle_and_nothing_else(tmp_path: Path) -> None:
    names = _monarch_files(tmp_path / "MONARCH")
    paths = sorted(names)
    scan = scan_images(tmp_path, paths)
    digests, features = [r.digest for r in scan.records], packaged_lite0_features()
    embeddings = image_embeddings(tmp_path, paths, digests, features, tmp_path / "cache")
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1, atol=1e-5)
    linked = {frozenset((names[paths[i]], names[paths[j]])) for i, j, _ in similar_pairs(embeddings, 0.94)}
    copies = [n for n in names.values() if n.startswith("copy")]
    assert linked == {frozenset(pair) for pair in itertools.combinations(copies, 2)}
    # cached by content: the second call reads the file
    (cached,) = (tmp_path / "cache").glob("embeddings-*.npy")
    assert np.array_equal(
        image_embeddings(tmp_path, paths, digests, features, tmp_path / "cache"), embeddings
    )
    assert np.array_equal(np.load(cached), embeddings)


def test_flips_and_quarter_turns_share_one_embedding_and_still_link_what_they_linked(tmp_path: Path) -> None:
    # the monarch set plus a lossless mirror and quarter turn of the photo: the hash pairs name those two as
    # its flips, so they are not embedded but take its embedding; the turned copies still link to all three
    names = _monarch_files(tmp_path / "MONARCH")
    photo = cv2.imread(str(tmp_path / "MONARCH" / "copy_orig.jpg"))
    for name, picture in {"copy_mirror": photo[:, ::-1], "copy_quarter": np.rot90(photo)}.items():
        cv2.imwrite(str(tmp_path / "MONARCH" / f"{name}.png"), np.ascontiguousarray(picture))
        names[f"MONARCH/{name}.png"] = name
    paths = sorted(names)
    scan = scan_images(tmp_path, paths)
    digests = [r.digest for r in scan.records]
    row = {names[p]: i for i, p in enumerate(paths)}
    flips = copy_groups(scan.hashes, near_duplicate_pairs(scan.hashes, DEFAULT_THRESHOLD), COPY_BITS)
    assert flips[row["copy_mirror"]] == flips[row["copy_quarter"]] == flips[row["copy_orig"]]
    assert len(set(flips.tolist())) == len(paths) - 2  # the copies turned by other angles are no flips

    counted = _Counted()
    shared = image_embeddings(tmp_path, paths, digests, counted, tmp_path / "cache", flips)
    assert counted.images == len(paths) - 2
    own = image_embeddings(tmp_path, paths, digests, counted, None)
    assert counted.images == 2 * len(paths) - 2
    for copy in ("copy_mirror", "copy_quarter"):
        assert np.array_equal(shared[row[copy]], shared[row["copy_orig"]])
        assert float(own[row[copy]] @ own[row["copy_orig"]]) > 0.97  # what sharing stands in for
    for vectors in (shared, own):
        linked = {frozenset((names[paths[i]], names[paths[j]])) for i, j, _ in similar_pairs(vectors, 0.94)}
        copies = [n for n in names.values() if n.startswith("copy")]
        assert linked == {frozenset(pair) for pair in itertools.combinations(copies, 2)}

    # the cache holds the embedded images' rows: a second run embeds nothing
    again = image_embeddings(tmp_path, paths, digests, counted, tmp_path / "cache", flips)
    assert np.array_equal(again, shared)
    assert counted.images == 2 * len(paths) - 2


def test_the_judges_fast_network_gives_the_eager_features() -> None:
    # the judge runs Lite0 by ONNX Runtime (2.07x TorchScript's speed): same features, also for a smaller
    # last batch (the fallbacks to TorchScript and to eager: fast_inference, tests/test_models.py)
    from fgclass.data.embeddings import SIDE
    from fgclass.models.classifier import normalize
    from fgclass.models.features import _FAST_PATHS, PACKAGED_LITE0, _network

    features = packaged_lite0_features()
    images = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (6, 3, SIDE, SIDE), dtype=np.uint8))
    model, mean, std = _network(PACKAGED_LITE0)
    for batch in (images[:4], images[4:]):
        with torch.inference_mode():
            eager = model(normalize(batch, mean, std))
        frozen = features(batch)
        path = _FAST_PATHS[(PACKAGED_LITE0, features.threads, (3, SIDE, SIDE))]
        assert getattr(path, "name", None) == "ONNX Runtime"  # not the eager network
        assert frozen.shape == eager.shape and torch.allclose(frozen, eager, atol=1e-4, rtol=1e-4)


def test_the_judges_views_are_the_disc_resampled_at_each_angle() -> None:
    # quarter turns of a resampled view stand in for resampling at 90, 135, ... degrees: the same pixels
    from fgclass.data.embeddings import _disc, views

    photo = cv2.cvtColor(cv2.imread(str(Path(__file__).parent / "data" / "monarch.jpg")), cv2.COLOR_BGR2RGB)
    side, angles = 96, (0, 45, 90, 135, 180, 225, 270, 315, 30, 120, -60)
    crop = min(photo.shape[:2])
    top, left = (photo.shape[0] - crop) // 2, (photo.shape[1] - crop) // 2
    square = photo[top : top + crop, left : left + crop]
    disc = (cv2.resize(square, (side, side), interpolation=cv2.INTER_AREA) * _disc(side)).astype(np.uint8)
    centre = ((side - 1) / 2, (side - 1) / 2)
    for mirror in (False, True):
        expected = [
            cv2.warpAffine(np.ascontiguousarray(image), cv2.getRotationMatrix2D(centre, a, 1.0), (side, side))
            for image in ((disc, disc[:, ::-1]) if mirror else (disc,))
            for a in angles
        ]
        assert np.array_equal(views(photo, side, angles, mirror), np.stack(expected))


def test_the_judges_pass_gives_the_same_embeddings_side_by_side(tmp_path: Path) -> None:
    # batches run in threads side by side (one ONNX Runtime thread each): same embeddings, same order
    rng = np.random.default_rng(0)
    paths = []
    for i in range(37):  # five batches, the last one short
        paths.append(f"{i}.png")
        cv2.imwrite(str(tmp_path / paths[-1]), draw_image(i % 5, 5, 64 + 8 * (i % 3), rng))
    features = packaged_lite0_features()
    alone = embedding_judge._embed(tmp_path, paths, features, workers=1)
    side_by_side = embedding_judge._embed(tmp_path, paths, features, workers=3)
    assert alone.shape == (37, 1280) and np.array_equal(side_by_side, alone)
    for i in (0, 10, 36):  # each row is its own image's: embedded alone, it comes out the same
        assert np.allclose(embedding_judge._embed(tmp_path, [paths[i]], features, 1)[0], alone[i], atol=1e-5)

    counted = _Counted()
    (tmp_path / paths[9]).write_bytes(b"no longer an image")  # in the second batch
    with pytest.raises(ImageError, match=r"9\.png"):
        embedding_judge._embed(tmp_path, paths, counted, workers=1)
    assert counted.calls <= 2  # the first batch, perhaps the third (started as the second failed), not all 5


def cfg_overrides(tmp_path: Path, threshold: str) -> list[str]:
    return [
        "data=image_folder",
        f"data.root={tmp_path / 'data'}",
        "data.split.val=0.25",
        "data.split.test=0.25",
        f"data.split.embedding_threshold={threshold}",
        f"paths.output_dir={tmp_path / threshold}",
    ]


def test_data_module_groups_by_embeddings_when_asked(tmp_path: Path, train_config) -> None:
    _monarch_files(tmp_path / "data" / "MONARCH")
    (tmp_path / "data" / "FISH").mkdir()
    for photo in range(6):
        cv2.imwrite(str(tmp_path / "data" / "FISH" / f"p{photo}.png"), _fish_like(photo))
    groups = {}
    for threshold in ("null", "0.94"):
        cfg = train_config(*cfg_overrides(tmp_path, threshold))
        table = instantiate(cfg.data).make_splits()
        groups[threshold] = _partition([g for p, g in zip(table.paths, table.groups) if "MONARCH" in p])
        # the audit plans the same split, embedding links included
        audited = audit(compose_config("audit", cfg_overrides(tmp_path, threshold), tmp_path))
        assert dict(zip(audited.paths, audited.splits.tolist())) == dict(zip(table.paths, table.splits))
    copies = frozenset(range(3))  # copy_* sort first
    assert groups["null"] == {frozenset([i]) for i in range(7)}  # the hashes miss the zoomed copies
    assert groups["0.94"] == {copies} | {frozenset([i]) for i in range(3, 7)}
    with pytest.raises(ConfigError, match=r"embedding_threshold=1\.5"):
        SplitConfig(embedding_threshold=1.5)


def _planted_hashes(n: int, seed: int) -> tuple[np.ndarray, set[tuple[int, int]]]:
    """Random 12-variant hashes, a tenth of them copies of another (variants shuffled, <= 40 bits
    flipped in every variant): the planted pairs."""
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 2**64, (n, 12, 4), dtype=np.uint64)
    planted = set()
    order = rng.permutation(n)
    for target, source in zip(order[: n // 10].tolist(), order[n // 10 :].tolist()):  # sources stay intact
        hashes[target, :8] = hashes[source, rng.permutation(8)]
        hashes[target, 8:] = hashes[source, 8 + rng.permutation(4)]
        for bit in rng.choice(256, int(rng.integers(0, 41)), replace=False).tolist():
            hashes[target, :, bit // 64] ^= np.uint64(1 << (bit % 64))
        planted.add((min(source, target), max(source, target)))
    return hashes, planted


def _brute_force_numpy(hashes: np.ndarray, threshold: int) -> set[tuple[int, int, int]]:
    """Every pair by the definition: stored hash against every flip/rotation, upright disc against
    the upright discs (the brute force fgclass used before FAISS)."""
    i, j = np.triu_indices(len(hashes), 1)
    bits = np.bitwise_count(hashes[i, None, 0] ^ hashes[j, :8]).sum(axis=2).min(axis=1)
    upright = np.bitwise_count(hashes[i, None, 8] ^ hashes[j, 8:]).sum(axis=2).min(axis=1)
    distance = np.minimum(bits, upright)
    keep = distance <= threshold
    return {(int(a), int(b), int(d)) for a, b, d in zip(i[keep], j[keep], distance[keep])}


@pytest.mark.parametrize("exhaustive_up_to", [10_000, 50])  # a flat index, an inverted file
def test_faiss_hash_search_finds_exactly_the_brute_force_pairs(
    monkeypatch: pytest.MonkeyPatch, exhaustive_up_to: int
) -> None:
    monkeypatch.setattr(duplicates, "EXHAUSTIVE_UP_TO", exhaustive_up_to)
    hashes, planted = _planted_hashes(600, seed=exhaustive_up_to)
    expected = _brute_force_numpy(hashes, DEFAULT_THRESHOLD)
    assert planted <= {(i, j) for i, j, _ in expected}  # the planted copies are among them
    assert set(near_duplicate_pairs(hashes, DEFAULT_THRESHOLD)) == expected
    assert set(near_duplicate_pairs(hashes, 12)) == {p for p in expected if p[2] <= 12}


@pytest.mark.parametrize("exhaustive_up_to", [10_000, 50])  # a flat index, an inverted file
def test_flips_and_quarter_turns_come_from_the_pairs_as_their_own_search_finds_them(
    monkeypatch: pytest.MonkeyPatch, exhaustive_up_to: int
) -> None:
    # the images that share an embedding: within COPY_BITS by the 8 flip/rotation hashes alone, taken from
    # the pairs the split searched for, equal to a search of those hashes alone at that radius
    monkeypatch.setattr(duplicates, "EXHAUSTIVE_UP_TO", exhaustive_up_to)
    hashes, _ = _planted_hashes(400, seed=exhaustive_up_to)
    rng = np.random.default_rng(exhaustive_up_to)
    for target in range(0, 80, 2):  # copies of the next image with 0-8 bits flipped in their flips only
        hashes[target, :8] = hashes[target + 1, rng.permutation(8)]
        for bit in rng.choice(256, int(rng.integers(0, 9)), replace=False).tolist():
            hashes[target, :8, bit // 64] ^= np.uint64(1 << (bit % 64))
    hashes[60:80:2, 8:] = hashes[61:80:2, 8:]  # and some with equal upright discs: near by those, not flips
    hashes[60:80:2, :8] ^= np.uint64(2**64 - 1)
    pairs = near_duplicate_pairs(hashes, DEFAULT_THRESHOLD)
    copies = copy_groups(hashes, pairs, COPY_BITS)
    assert np.array_equal(copies, group_near_duplicates(hashes[:, :8], COPY_BITS))
    assert 10 < len(hashes) - len(set(copies.tolist())) < 30
    assert {(i, j) for i, j, d in pairs if d == 0 and copies[i] != copies[j]}  # near by the discs only


def test_pairs_are_cached_so_a_warm_run_searches_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashes, planted = _planted_hashes(300, seed=5)
    pairs = near_duplicate_pairs_cached(hashes, DEFAULT_THRESHOLD, tmp_path)
    assert pairs == near_duplicate_pairs(hashes, DEFAULT_THRESHOLD)
    assert planted <= {(i, j) for i, j, _ in pairs}

    def no_search(*args: object) -> None:
        raise AssertionError("searched the hashes again")

    monkeypatch.setattr(duplicates, "near_duplicate_pairs", no_search)
    assert near_duplicate_pairs_cached(hashes, DEFAULT_THRESHOLD, tmp_path) == pairs
    with pytest.raises(AssertionError, match="searched the hashes again"):  # another threshold: another entry
        near_duplicate_pairs_cached(hashes, 12, tmp_path)


@pytest.mark.parametrize("exhaustive_up_to", [10_000, 50])
def test_faiss_embedding_search_finds_exactly_the_brute_force_pairs(
    monkeypatch: pytest.MonkeyPatch, exhaustive_up_to: int
) -> None:
    monkeypatch.setattr(embedding_judge, "EXHAUSTIVE_UP_TO", exhaustive_up_to)
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(20, 64))[rng.integers(20, size=500)] + rng.normal(size=(500, 64))
    vectors[::7] = vectors[1::7][: len(vectors[::7])] + 0.1 * rng.normal(size=(len(vectors[::7]), 64))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    similarity = vectors @ vectors.T
    for threshold in (0.94, 0.8):
        expected = {(int(i), int(j), 0) for i, j in zip(*np.nonzero(np.triu(similarity >= threshold, 1)))}
        assert len(expected) > 50
        assert set(similar_pairs(vectors, threshold)) == expected


def test_the_embedding_judge_is_on_by_default(tmp_path: Path, train_config) -> None:
    _monarch_files(tmp_path / "data" / "MONARCH")
    (tmp_path / "data" / "FISH").mkdir()
    for photo in range(6):
        cv2.imwrite(str(tmp_path / "data" / "FISH" / f"p{photo}.png"), _fish_like(photo))
    default = compose_config("train", ["data=image_folder"], tmp_path)
    assert default.data.split.embedding_threshold is not None
    overrides = [o for o in cfg_overrides(tmp_path, "x") if "embedding_threshold" not in o]
    cfg = train_config(*overrides, f"data.split.embedding_threshold={default.data.split.embedding_threshold}")
    table = instantiate(cfg.data).make_splits()
    monarch = [g for p, g in zip(table.paths, table.groups) if "MONARCH" in p]
    assert _partition(monarch) == {frozenset(range(3))} | {frozenset([i]) for i in range(3, 7)}
