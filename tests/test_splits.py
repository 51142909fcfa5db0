"""Seeded, stratified, group-aware splits, train-fraction subsets and the splits.csv table."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from fgclass.data.placement import assign_splits, subsample_train
from fgclass.data.splits import SPLITS, UNUSED, SplitConfig, SplitTable
from fgclass.errors import ConfigError, DataError

COUNTS = {"ant": 50, "bee": 23, "cicada": 7, "dragonfly": 3}


def shuffled_labels(counts: dict[str, int], seed: int = 0) -> list[str]:
    labels = [name for name, n in counts.items() for _ in range(n)]
    return list(np.random.default_rng(seed).permutation(labels))


def per_class(labels: list[str], splits: np.ndarray) -> Counter:
    return Counter(zip(labels, splits))


def test_split_is_stratified_per_class() -> None:
    labels = shuffled_labels(COUNTS)
    config = SplitConfig(val=0.15, test=0.1, seed=3)
    splits = assign_splits(labels, None, config)
    assert len(splits) == len(labels) and set(splits) == set(SPLITS)
    counts = per_class(labels, splits)
    for name, n in COUNTS.items():
        if n == len(SPLITS):  # too small for the fractions: one image in each split
            assert [counts[name, split] for split in SPLITS] == [1, 1, 1]
            continue
        for split, fraction in zip(SPLITS, config.fractions):
            assert abs(counts[name, split] - n * fraction) < 1, (name, split)


def test_split_is_deterministic_for_a_seed_and_differs_across_seeds() -> None:
    labels = shuffled_labels(COUNTS)
    first = assign_splits(labels, None, SplitConfig(seed=7))
    assert np.array_equal(first, assign_splits(labels, None, SplitConfig(seed=7)))
    others = [assign_splits(labels, None, SplitConfig(seed=s)) for s in (8, 9)]
    assert all(not np.array_equal(first, other) for other in others)
    # a different seed reshuffles which samples go where, not how many
    assert all(per_class(labels, first) == per_class(labels, other) for other in others)


def random_groups(labels: list[str], seed: int) -> np.ndarray:
    """Group ids as near-duplicate detection makes them: runs of 1-6 same-class images, plus one
    group that mixes two classes (a mislabelled copy)."""
    rng = np.random.default_rng(seed)
    order = np.argsort(labels, kind="stable")
    groups = np.empty(len(labels), dtype=int)
    start, group = 0, 0
    while start < len(order):
        size = int(rng.integers(1, 7))
        run = order[start : start + size]
        run = run[[labels[i] == labels[run[0]] for i in run]]
        groups[run] = group
        start, group = start + len(run), group + 1
    groups[order[-1]] = groups[order[0]]  # the mixed group
    return groups


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_groups_stay_whole_and_every_class_reaches_every_split(seed: int) -> None:
    counts = {"ant": 120, "bee": 90, "cicada": 60, "dragonfly": 40}
    labels = shuffled_labels(counts, seed)
    groups = random_groups(labels, seed)
    splits = assign_splits(labels, groups, SplitConfig(seed=seed))
    for group in np.unique(groups):
        assert len(set(splits[groups == group])) == 1, f"group {group} straddles splits"
    got = per_class(labels, splits)
    for name, n in counts.items():
        assert got[name, "train"] / n == pytest.approx(0.8, abs=0.1)
        for split in ("val", "test"):
            assert got[name, split] / n == pytest.approx(0.1, abs=0.07)
    assert np.array_equal(splits, assign_splits(labels, groups, SplitConfig(seed=seed)))


def test_four_groups_per_class_still_fill_every_split() -> None:
    # like the synthetic fish fixture: 4 photos x 3 flipped copies; 80/10/10 cannot hold exactly,
    # but every class can and must appear in train, val and test
    labels = [name for name in ("a", "b", "c") for _ in range(12)]
    groups = np.arange(len(labels)) // 3
    splits = assign_splits(labels, groups, SplitConfig())
    got = per_class(labels, splits)
    assert all(got[name, split] >= 3 for name in "abc" for split in SPLITS)
    assert all(len(set(splits[groups == g])) == 1 for g in np.unique(groups))


def test_class_with_too_few_images_names_it() -> None:
    labels = ["ant"] * 10 + ["bee"] * 2 + ["cicada"] * 1
    with pytest.raises(DataError, match=r"In /data/bugs, .*too few images") as error:
        assign_splits(labels, None, SplitConfig(), where="/data/bugs")
    assert "'bee': 2 images" in str(error.value) and "'cicada': 1 image\n" in str(error.value)
    assert "'ant'" not in str(error.value)


def test_groups_too_large_for_every_split_name_the_class_and_the_way_out() -> None:
    labels = ["ant"] * 10 + ["bee"] * 6
    groups = np.r_[np.arange(10), [100] * 3, [101] * 3]  # bee: 2 groups cannot fill 3 splits
    with pytest.raises(DataError, match=r"(?s)'bee' has no images in .*group_near_duplicates=false"):
        assign_splits(labels, groups, SplitConfig())
    assert set(assign_splits(labels, None, SplitConfig())) == set(SPLITS)  # ungrouped, it fits


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"val": 0}, r"data\.split\.val=0"),
        ({"test": 1.0}, r"data\.split\.test=1\.0"),
        ({"val": -0.1}, r"data\.split\.val=-0\.1"),
        ({"val": 0.5, "test": 0.5}, r"must leave a training share"),
    ],
)
def test_bad_split_fractions(fields: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SplitConfig(**fields)


# --- train_fraction --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def split_labels() -> tuple[list[str], np.ndarray]:
    labels = shuffled_labels({"ant": 80, "bee": 41, "cicada": 12})
    return labels, assign_splits(labels, None, SplitConfig())


def test_train_fraction_changes_only_train_and_stays_stratified(split_labels) -> None:
    labels, splits = split_labels
    half = subsample_train(labels, splits, 0.5, seed=0)
    assert set(half) == {*SPLITS, UNUSED}
    assert np.array_equal(half == "val", splits == "val") and np.array_equal(half == "test", splits == "test")
    assert np.array_equal((half == "train") | (half == UNUSED), splits == "train")
    before, after = per_class(labels, splits), per_class(labels, half)
    for name in ("ant", "bee", "cicada"):
        assert after[name, "train"] == max(1, round(before[name, "train"] * 0.5))


def test_train_fraction_subsets_are_nested_and_seeded(split_labels) -> None:
    labels, splits = split_labels
    used = {f: subsample_train(labels, splits, f, seed=5) == "train" for f in (1.0, 0.5, 0.25, 0.1)}
    assert np.array_equal(used[1.0], splits == "train")
    assert used[0.1].sum() < used[0.25].sum() < used[0.5].sum() < used[1.0].sum()
    for small, large in ((0.1, 0.25), (0.25, 0.5), (0.5, 1.0)):
        assert not (used[small] & ~used[large]).any(), f"{small} not inside {large}"
    assert np.array_equal(used[0.25], subsample_train(labels, splits, 0.25, seed=5) == "train")
    assert not np.array_equal(used[0.25], subsample_train(labels, splits, 0.25, seed=6) == "train")
    every_class = {lab for lab, s in zip(labels, subsample_train(labels, splits, 0.01, 5)) if s == "train"}
    assert every_class == {"ant", "bee", "cicada"}  # at least one training image per class


@pytest.mark.parametrize("fraction", [0, -0.5, 1.5])
def test_bad_train_fraction(split_labels, fraction: float) -> None:
    labels, splits = split_labels
    with pytest.raises(ConfigError, match=rf"data\.train_fraction={fraction}: must be in \(0, 1\]"):
        subsample_train(labels, splits, fraction, seed=0)


# --- splits.csv ------------------------------------------------------------------------------
def test_split_table_round_trip(tmp_path: Path) -> None:
    table = SplitTable(
        ["a/1.png", "a/2.png", "b/1.png", "b/x y,z.png"],
        ["a", "a", "b", "b"],
        ["train", "val", "test", UNUSED],
        [0, 0, 2, 3],
    )
    path = table.write(tmp_path / "run" / "splits.csv")
    assert path.read_text().splitlines()[:2] == ["path,label,split,group", "a/1.png,a,train,0"]
    assert SplitTable.read(path) == table
    assert table.select("train") == (["a/1.png"], ["a"])
    assert table.select(UNUSED) == (["b/x y,z.png"], ["b"])
    assert table.class_names == ["a", "b"]


def test_split_table_without_group_column(tmp_path: Path) -> None:
    (tmp_path / "splits.csv").write_text("path,label,split\na/1.png,a,train\nb/1.png,b,test\n")
    assert SplitTable.read(tmp_path / "splits.csv").groups == [0, 1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, r"Splits file '.*splits\.csv' not found"),
        ("file,label\na.png,a\n", r"expected columns path,label,split"),
        ("path,label,split\n", r"expected columns path,label,split\[,group\] and at least one row"),
        ("path,label,split\na.png,a,training\n", r"unknown split names \['training'\]"),
    ],
)
def test_bad_split_table(tmp_path: Path, text: str | None, message: str) -> None:
    if text is not None:
        (tmp_path / "splits.csv").write_text(text)
    with pytest.raises(DataError, match=message):
        SplitTable.read(tmp_path / "splits.csv")
