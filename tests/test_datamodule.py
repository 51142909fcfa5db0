"""The data modules on real files: splits.csv, datasets and loaders, bad data, augmentation seeding."""

from __future__ import annotations

import csv
import shutil
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import albumentations as A
import cv2
import numpy as np
import pytest
import torch

from fgclass.data import (
    ButterflyLayout,
    FishLayout,
    ImageClassificationDataModule,
    ImageFolderLayout,
    Layout,
    SyntheticFishLayout,
)
from fgclass.data.splits import SPLITS, UNUSED
from fgclass.data.synthetic import BUTTERFLY_CLASSES, FISH_CLASSES, write_fish_dataset
from fgclass.data.transforms import reseed
from fgclass.errors import ConfigError, DataError


def make(
    layout: type[Layout], root: Path, output_dir: Path | None = None, **options: Any
) -> ImageClassificationDataModule:
    """A small, single-process data module on ``layout`` writing into ``output_dir``."""
    defaults = {"image_size": 32, "resize_size": 36, "batch_size": 8, "num_workers": 0}
    return ImageClassificationDataModule(root, layout, output_dir=output_dir, **{**defaults, **options})


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def truncate(path: Path) -> None:
    """Cut a real image file short, as an interrupted download leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.fixture(scope="module")
def fish_run(fish_root: Path, tmp_path_factory: pytest.TempPathFactory) -> ImageClassificationDataModule:
    """A fish module, set up, on the Kaggle layout (9 classes x 4 photos x 3 copies)."""
    module = make(FishLayout, fish_root, tmp_path_factory.mktemp("fish_run"))
    module.setup("fit")
    return module


# --- splits.csv and the datasets built from it -----------------------------------------------
def test_fish_splits_csv_lists_every_image_once(
    fish_run: ImageClassificationDataModule, fish_root: Path
) -> None:
    rows = read_rows(fish_run.output_dir / "splits.csv")
    assert list(rows[0])[:3] == ["path", "label", "split"]
    on_disk = sorted(
        p.relative_to(fish_root / "Fish_Dataset").as_posix()
        for name in FISH_CLASSES
        for p in (fish_root / "Fish_Dataset" / name / name).iterdir()
    )
    assert sorted(r["path"] for r in rows) == on_disk  # no masks, no NA_Fish_Dataset, no duplicates
    assert all(r["label"] == r["path"].split("/")[0] for r in rows)
    assert {r["split"] for r in rows} == set(SPLITS)
    per_class = Counter((r["label"], r["split"]) for r in rows)
    assert all(per_class[name, split] >= 1 for name in FISH_CLASSES for split in SPLITS)


def test_copies_of_one_photo_land_in_one_split(fish_run: ImageClassificationDataModule) -> None:
    # the synthetic writer saves each photo as 3 flipped/rotated copies, numbered consecutively
    photo_splits = defaultdict(set)
    for row in read_rows(fish_run.output_dir / "splits.csv"):
        number = int(Path(row["path"]).stem)
        photo_splits[row["label"], (number - 1) // 3].add(row["split"])
    assert len(photo_splits) == len(FISH_CLASSES) * 4
    assert all(len(splits) == 1 for splits in photo_splits.values())


def test_datasets_and_loaders_follow_splits_csv(fish_run: ImageClassificationDataModule) -> None:
    rows = read_rows(fish_run.output_dir / "splits.csv")
    assert fish_run.class_names == sorted(FISH_CLASSES) and fish_run.num_classes == 9
    for split in SPLITS:
        dataset = fish_run.datasets[split]
        expected = [(r["path"], r["label"]) for r in rows if r["split"] == split]
        items = list(zip(dataset.paths, [fish_run.class_names[t] for t in dataset.targets]))
        if split == "train":
            assert items == expected
        else:  # a fixed shuffled order, so the first batches (limit_test_batches) hold several classes
            assert sorted(items) == sorted(expected) and items != expected
            first_batch = [label for _, label in items[:8]]
            assert len(set(first_batch)) >= 4
    loaders = {
        "train": fish_run.train_dataloader(),
        "val": fish_run.val_dataloader(),
        "test": fish_run.test_dataloader(),
    }
    for split, loader in loaders.items():
        dataset, seen = fish_run.datasets[split], []
        for images, targets, index in loader:
            assert images.dtype == torch.uint8 and images.shape[1:] == (3, 32, 32)
            assert targets.tolist() == [dataset.targets[i] for i in index.tolist()]
            seen += index.tolist()
        if split == "train":  # shuffled, and the last partial batch is dropped (BatchNorm)
            assert len(set(seen)) == len(seen) == len(dataset) // 8 * 8
        else:
            assert seen == list(range(len(dataset)))


def test_butterfly_module(butterfly_root: Path, tmp_path: Path) -> None:
    module = make(ButterflyLayout, butterfly_root, tmp_path)
    module.setup()
    assert module.class_names == sorted(BUTTERFLY_CLASSES)
    rows = read_rows(tmp_path / "splits.csv")
    assert len(rows) == 12 * len(BUTTERFLY_CLASSES)
    assert all(r["path"].startswith("train/Image_") for r in rows)
    sizes = {split: len(module.datasets[split]) for split in SPLITS}
    assert sizes == Counter(r["split"] for r in rows) and sum(sizes.values()) == len(rows)
    per_class = Counter((r["label"], r["split"]) for r in rows)
    assert all(per_class[name, split] >= 1 for name in BUTTERFLY_CLASSES for split in SPLITS)
    images, targets, _ = next(iter(module.val_dataloader()))
    assert images.shape[1:] == (3, 32, 32) and int(targets.max()) < len(BUTTERFLY_CLASSES)


def test_synthetic_module_writes_its_dataset_once(tmp_path: Path) -> None:
    root = tmp_path / "synthetic_fish"
    options = {"photos_per_class": 3, "source_image_size": 24, "split": {"group_near_duplicates": False}}
    first = make(SyntheticFishLayout, root, tmp_path / "a", **options)
    first.setup()
    assert (root / "Fish_Dataset" / "Fish_Dataset" / "Trout" / "Trout GT").is_dir()
    assert first.class_names == sorted(FISH_CLASSES) and len(first.table.paths) == 9 * 3 * 3
    stamp = (root / "Fish_Dataset" / "Fish_Dataset" / "Trout" / "Trout" / "00001.png").stat().st_mtime_ns
    make(SyntheticFishLayout, root, tmp_path / "b", **options).setup()
    assert (
        root / "Fish_Dataset" / "Fish_Dataset" / "Trout" / "Trout" / "00001.png"
    ).stat().st_mtime_ns == stamp


def test_in_memory_dataset_matches_reading_from_disk(fish_root: Path, tmp_path: Path) -> None:
    splits = {"split": {"group_near_duplicates": False}}
    disk = make(FishLayout, fish_root, tmp_path / "disk", **splits)
    memory = make(FishLayout, fish_root, tmp_path / "memory", in_memory=True, **splits)
    disk.setup()
    memory.setup()
    for a, b in zip(disk.val_dataloader(), memory.val_dataloader()):
        assert all(torch.equal(x, y) for x, y in zip(a, b))


# --- train_fraction and re-used splits --------------------------------------------------------
def test_train_fraction_changes_only_train_and_nests(fish_root: Path, tmp_path: Path) -> None:
    rows = {}
    for fraction in (1.0, 0.5, 0.25):
        module = make(FishLayout, fish_root, tmp_path / str(fraction), train_fraction=fraction)
        module.setup()
        rows[fraction] = read_rows(tmp_path / str(fraction) / "splits.csv")
        assert len(module.datasets["train"]) == sum(r["split"] == "train" for r in rows[fraction])
        assert module.class_names == sorted(FISH_CLASSES)
    used = {f: {r["path"] for r in table if r["split"] == "train"} for f, table in rows.items()}
    assert used[0.25] < used[0.5] < used[1.0]
    for fraction in (0.5, 0.25):
        assert [r["path"] for r in rows[fraction]] == [r["path"] for r in rows[1.0]]  # one row per image
        unused = {r["path"] for r in rows[fraction] if r["split"] == UNUSED}
        assert unused == used[1.0] - used[fraction]
        for split in ("val", "test"):
            assert [r for r in rows[fraction] if r["split"] == split] == [
                r for r in rows[1.0] if r["split"] == split
            ]
    counts = Counter(r["label"] for r in rows[0.25] if r["split"] == "train")
    full = Counter(r["label"] for r in rows[1.0] if r["split"] == "train")
    assert all(counts[name] == max(1, round(full[name] * 0.25)) for name in FISH_CLASSES)


def test_splits_file_is_reused_and_copied_into_the_new_run(
    fish_run: ImageClassificationDataModule, tmp_path: Path
) -> None:
    original = fish_run.output_dir / "splits.csv"
    again = make(FishLayout, fish_run.layout.root, tmp_path / "eval", splits_file=original)
    again.setup("test")
    assert (tmp_path / "eval" / "splits.csv").read_text() == original.read_text()
    for split in SPLITS:
        assert again.datasets[split].paths == fish_run.datasets[split].paths


def test_splits_file_naming_missing_images(
    fish_run: ImageClassificationDataModule, plain_copy: Path, tmp_path: Path
) -> None:
    with pytest.raises(
        DataError, match=r"(?s)108 files listed in .*splits\.csv are missing under .*Point data\.root"
    ):
        make(FishLayout, plain_copy, tmp_path, splits_file=fish_run.output_dir / "splits.csv").setup()


@pytest.fixture
def plain_copy(tmp_path: Path) -> Path:
    return write_fish_dataset(tmp_path / "plain", photos_per_class=1, image_size=16, kaggle_layout=False)


def test_an_unwritable_cache_folder_only_warns(
    butterfly_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a_file").touch()
    module = make(ButterflyLayout, butterfly_root, tmp_path / "run", cache_dir=tmp_path / "a_file" / "cache")
    module.setup("fit")  # the run goes on
    assert len(module.datasets["train"]) > 0
    warnings = [r.getMessage() for r in caplog.records if "Cannot write the cache folder" in r.getMessage()]
    assert len(warnings) == 1 and "paths.cache_dir" in warnings[0]  # once, not per cache file


# --- bad data: one error listing everything, and no splits.csv -------------------------------
def test_all_truncated_or_corrupt_images_are_reported_together(butterfly_root: Path, tmp_path: Path) -> None:
    root = Path(shutil.copytree(butterfly_root, tmp_path / "butterfly"))
    cache = tmp_path / "cache"
    make(ButterflyLayout, root, tmp_path / "good", cache_dir=cache).prepare_data()  # scans are cached
    for name in ("Image_3.jpg", "Image_40.jpg"):
        truncate(root / "train" / name)
    (root / "train" / "Image_7.jpg").write_bytes(b"")
    (root / "train" / "Image_9.jpg").write_bytes(b"<html>Not Found</html>")
    module = make(ButterflyLayout, root, tmp_path / "bad", cache_dir=cache)
    with pytest.raises(
        DataError, match=r"(?s)4 image files cannot be decoded .*Re-download or delete"
    ) as error:
        module.prepare_data()
    for name in ("Image_3.jpg", "Image_40.jpg", "Image_7.jpg", "Image_9.jpg"):
        assert str(root / "train" / name) in str(error.value)
    assert "Image_1.jpg" not in str(error.value)
    assert not (tmp_path / "bad").exists()  # no partial run


def test_truncated_png_in_the_kaggle_fish_layout(fish_root: Path, tmp_path: Path) -> None:
    root = Path(shutil.copytree(fish_root, tmp_path / "Fish_Dataset"))
    bad = [root / "Fish_Dataset" / name / name / "00002.png" for name in ("Shrimp", "Trout")]
    for path in bad:
        truncate(path)
    with pytest.raises(DataError, match=r"2 image files cannot be decoded") as error:
        make(FishLayout, root, tmp_path / "run").setup()
    assert all(str(path) in str(error.value) for path in bad)
    assert not (tmp_path / "run" / "splits.csv").exists()


@pytest.mark.parametrize("case", ["missing root", "escaping filename", "class too small"])
def test_bad_data_stops_before_splits_csv(butterfly_root: Path, tmp_path: Path, case: str) -> None:
    root = Path(shutil.copytree(butterfly_root, tmp_path / "butterfly"))
    lines = (root / "Training_set.csv").read_text().splitlines()
    if case == "missing root":
        root, message = tmp_path / "nowhere", r"does not exist"
    elif case == "escaping filename":
        (root / "Training_set.csv").write_text("\n".join([*lines, "../Training_set.csv,MONARCH"]))
        message = r"line \d+: '\.\./Training_set\.csv'"
    else:
        kept = [line for line in lines[1:] if not line.endswith(",ADONIS")] + ["Image_1.jpg,ADONIS"]
        (root / "Training_set.csv").write_text("\n".join([lines[0], *kept]))
        message = r"(?s)too few images .*'ADONIS': 1 image\n"
    module = make(ButterflyLayout, root, tmp_path / "run")
    with pytest.raises(DataError, match=message):
        module.setup()
    assert not (tmp_path / "run" / "splits.csv").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"split": {"val": 0.6, "test": 0.5}}, r"must leave a training share"),
        ({"resize_size": 30}, r"data\.resize_size=30 is smaller than data\.image_size=32"),
        ({"crop_pct": 1.2}, r"data\.crop_pct=1\.2: .* must lie in \(0, 1\]"),
        ({"resize_size": None, "crop_pct": 0}, r"data\.crop_pct=0: .* must lie in \(0, 1\]"),
        ({"augment": A.Compose([A.Resize(height=24, width=24)])}, r"\(3, 24, 24\), expected \(3, 32, 32\)"),
        ({"output_dir": None}, r"output_dir \(for splits\.csv\) or a splits_file"),
        ({"batch_size": 0}, r"data\.batch_size=0: use a positive number"),
        ({"eval_batch_size": -4}, r"data\.eval_batch_size=-4: use a positive number"),
        ({"num_workers": -1}, r"data\.num_workers=-1: use 0"),
    ],
)
def test_bad_options_fail_at_construction(
    fish_root: Path, tmp_path: Path, options: dict, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        make(FishLayout, fish_root, **{"output_dir": tmp_path / "run", **options})


def test_resize_size_follows_image_size_and_crop_pct(fish_root: Path, tmp_path: Path) -> None:
    assert make(FishLayout, fish_root, tmp_path, image_size=128, resize_size=None).resize_size == 146
    module = make(FishLayout, fish_root, tmp_path, image_size=32, resize_size=None, crop_pct=0.5)
    assert module.resize_size == 64
    assert make(FishLayout, fish_root, tmp_path, image_size=32, resize_size=40).resize_size == 40


def test_bad_train_fraction_stops_before_splits_csv(fish_root: Path, tmp_path: Path) -> None:
    module = make(FishLayout, fish_root, tmp_path / "run", train_fraction=7)
    with pytest.raises(ConfigError, match=r"data\.train_fraction=7: must be in \(0, 1\]"):
        module.prepare_data()
    assert not (tmp_path / "run" / "splits.csv").exists()


# --- augmentation randomness across loader workers and epochs --------------------------------
@pytest.fixture(scope="module")
def identical_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two classes of 12 copies of one picture: any difference between outputs is augmentation."""
    root = tmp_path_factory.mktemp("identical")
    image = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    for name in ("a", "b"):
        (root / name).mkdir()
        for i in range(12):
            cv2.imwrite(str(root / name / f"{i}.png"), image)
    return root


def augmented_module(root: Path, output_dir: Path, **options: Any) -> ImageClassificationDataModule:
    module = make(
        ImageFolderLayout,
        root,
        output_dir,
        image_size=8,
        resize_size=8,
        batch_size=4,
        augment=A.Compose([A.RandomResizedCrop(size=(8, 8), scale=(0.1, 1.0)), A.HorizontalFlip()]),
        split={"group_near_duplicates": False},
        **options,
    )
    module.setup("fit")
    return module


@pytest.mark.parametrize("persistent", [True, False])
def test_workers_and_epochs_draw_different_augmentations(
    identical_images: Path, tmp_path: Path, persistent: bool
) -> None:
    module = augmented_module(identical_images, tmp_path, num_workers=2, persistent_workers=persistent)
    loader = module.train_dataloader()
    epoch1, epoch2 = [[images for images, _, _ in loader] for _ in range(2)]
    assert len(epoch1) >= 2  # batches alternate between worker 0 and worker 1
    assert not torch.equal(epoch1[0], epoch1[1]), "both workers replayed one random stream"
    assert not torch.equal(epoch1[0], epoch2[0]) and not torch.equal(epoch1[1], epoch2[1]), "epochs repeat"


def test_augmentation_depends_on_seed_epoch_and_image_only(identical_images: Path, tmp_path: Path) -> None:
    def epochs(seed: int, name: str, **options: Any) -> list[list[torch.Tensor]]:
        torch.manual_seed(123)  # the global RNG plays no part
        loader = augmented_module(identical_images, tmp_path / name, seed=seed, **options).train_dataloader()
        return [[images for images, _, _ in loader] for _ in range(2)]

    a, b = epochs(1, "a"), epochs(1, "b", num_workers=2)  # the worker count changes nothing
    assert all(torch.equal(x, y) for ea, eb in zip(a, b) for x, y in zip(ea, eb))
    assert not torch.equal(a[0][0], epochs(2, "c")[0][0])


def test_transforms_of_one_pipeline_draw_independently() -> None:
    # Albumentations' own set_random_seed gives both flips one seed: they would fire together
    pipeline = A.Compose([A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)])
    image = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    variants = {"none": image, "h": image[:, ::-1], "v": image[::-1], "hv": image[::-1, ::-1]}
    seen = Counter()
    for seed in range(200):
        reseed(pipeline, seed)
        out = pipeline(image=image)["image"]
        seen.update(k for k, v in variants.items() if np.array_equal(out, v))
    assert set(seen) == set(variants) and min(seen.values()) > 25


def test_eval_loaders_are_deterministic(fish_run: ImageClassificationDataModule) -> None:
    first = [batch for batch in fish_run.val_dataloader()]
    second = [batch for batch in fish_run.val_dataloader()]
    assert all(torch.equal(x, y) for a, b in zip(first, second) for x, y in zip(a, b))
    assert torch.cat([index for _, _, index in first]).tolist() == list(range(len(fish_run.datasets["val"])))
