"""Finding the labelled images of each layout, as publishers ship them, and refusing bad layouts."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from fgclass.data.listing import IMAGE_EXTENSIONS, image_files
from fgclass.data.sources import (
    find_butterfly_images,
    find_fish_images,
    find_folder_images,
    resolve_fish_root,
)
from fgclass.data.synthetic import (
    BUTTERFLY_CLASSES,
    FISH_CLASSES,
    write_fish_dataset,
    write_image_folder,
)
from fgclass.errors import DataError

PHOTOS, COPIES = 4, 3  # the session fish_root fixture: 12 images per class


@pytest.fixture(scope="module")
def plain_fish(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fish_dataset(
        tmp_path_factory.mktemp("plain"), photos_per_class=2, image_size=16, kaggle_layout=False
    )


def copy_of(root: Path, tmp_path: Path) -> Path:
    """A private copy of a shared dataset, for a test to damage."""
    return Path(shutil.copytree(root, tmp_path / root.name))


def write_csv(root: Path, text: str, name: str = "Training_set.csv") -> None:
    (root / name).write_text(text)


# --- fish ------------------------------------------------------------------------------------
def test_synthetic_fish_has_the_kaggle_layout(fish_root: Path) -> None:
    assert fish_root.name == "Fish_Dataset"
    inner = fish_root / "Fish_Dataset"
    assert {"README.txt", "license.txt", "Segmentation_example_script.m"} <= {p.name for p in inner.iterdir()}
    assert sorted(p.name for p in (fish_root / "NA_Fish_Dataset").iterdir()) == sorted(FISH_CLASSES)
    for name in FISH_CLASSES:
        images = sorted(p.name for p in (inner / name / name).iterdir())
        assert images[0] == "00001.png" and len(images) == PHOTOS * COPIES
        assert sorted(p.name for p in (inner / name / f"{name} GT").iterdir()) == images


@pytest.mark.parametrize("level", ["above", "outer", "inner"])
def test_fish_root_may_be_any_level_of_the_download(fish_root: Path, level: str) -> None:
    root = {"above": fish_root.parent, "outer": fish_root, "inner": fish_root / "Fish_Dataset"}[level]
    found = find_fish_images(root)
    assert found.root == fish_root / "Fish_Dataset" == resolve_fish_root(root)
    assert found.class_names == sorted(FISH_CLASSES)
    assert "Hourse Mackerel" in found.class_names  # the publisher's spelling
    assert Counter(found.labels) == dict.fromkeys(FISH_CLASSES, PHOTOS * COPIES)
    for path, label in zip(found.paths, found.labels):
        assert path.startswith(f"{label}/{label}/") and path.endswith(".png")
        assert (found.root / path).is_file()


def test_fish_masks_extras_and_hidden_files_are_never_samples(fish_root: Path, tmp_path: Path) -> None:
    root = copy_of(fish_root, tmp_path)
    inner = root / "Fish_Dataset"
    (inner / "Trout" / "Trout" / "._00001.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # macOS
    (inner / "Trout" / "Trout" / "notes.txt").write_text("not an image")
    found = find_fish_images(root)
    assert len(found.paths) == len(FISH_CLASSES) * PHOTOS * COPIES
    assert not [p for p in found.paths if " GT/" in p or "NA_Fish_Dataset" in p or "/." in p]
    assert all(p.endswith(".png") for p in found.paths)


def test_fish_plain_class_folder_layout(plain_fish: Path) -> None:
    found = find_fish_images(plain_fish)
    assert found.root == plain_fish
    assert found.class_names == sorted(FISH_CLASSES)
    assert all(p == f"{label}/{Path(p).name}" for p, label in zip(found.paths, found.labels))
    assert Counter(found.labels) == dict.fromkeys(FISH_CLASSES, 2 * COPIES)


def main_hue(path: Path) -> complex:
    """Circular mean hue of the strongly coloured pixels, as a unit vector in the complex plane."""
    hsv = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2HSV)
    hue = hsv[..., 0][(hsv[..., 1] > 150) & (hsv[..., 2] > 170)] * (2 * np.pi / 180)
    mean = np.exp(1j * hue).mean()
    return mean / abs(mean)


def test_synthetic_classes_are_learnable(fish_root: Path, tmp_path: Path) -> None:
    # each class has its own colour: class hues fitted on one dataset name the classes of a fresh one
    train = find_fish_images(fish_root)
    fresh = find_fish_images(write_fish_dataset(tmp_path, photos_per_class=2, image_size=32, seed=1))
    hues = np.array([main_hue(train.root / p) for p in train.paths])
    centres = np.array([hues[np.array(train.labels) == name].mean() for name in train.class_names])
    predicted = [
        train.class_names[int(np.argmax((centres.conj() * main_hue(fresh.root / p)).real))]
        for p in fresh.paths
    ]
    assert np.mean(np.array(predicted) == np.array(fresh.labels)) >= 0.95  # chance: 1/9


# --- butterfly -------------------------------------------------------------------------------
def test_synthetic_butterfly_has_the_kaggle_layout(butterfly_root: Path) -> None:
    lines = (butterfly_root / "Training_set.csv").read_text().splitlines()
    assert lines[0] == "filename,label" and len(lines) == 1 + 12 * len(BUTTERFLY_CLASSES)
    assert (butterfly_root / "Testing_set.csv").read_text().startswith("filename\n")
    assert any((butterfly_root / "test").iterdir())


def test_butterfly_reads_the_labelled_rows_only(butterfly_root: Path) -> None:
    found = find_butterfly_images(butterfly_root)
    rows = [line.split(",") for line in (butterfly_root / "Training_set.csv").read_text().splitlines()[1:]]
    assert found.paths == [f"train/{name}" for name, _ in rows]
    assert found.labels == [label for _, label in rows]
    assert found.class_names == sorted(BUTTERFLY_CLASSES)
    assert not [p for p in found.paths if not p.startswith("train/")]  # test/ is unlabelled


def test_butterfly_csv_tolerates_bom_spaces_extra_columns_and_subfolders(
    butterfly_root: Path, tmp_path: Path
) -> None:
    root = copy_of(butterfly_root, tmp_path)
    (root / "train" / "sub").mkdir()
    shutil.move(root / "train" / "Image_1.jpg", root / "train" / "sub" / "Image_1.jpg")
    write_csv(
        root, "\ufefffilename , label ,source\nsub/Image_1.jpg , MONARCH ,web\nImage_2.jpg,ADONIS,web\n"
    )
    found = find_butterfly_images(root)
    assert found.paths == ["train/sub/Image_1.jpg", "train/Image_2.jpg"]
    assert found.labels == ["MONARCH", "ADONIS"]


# --- any folder of class folders --------------------------------------------------------------
def test_image_folder_reads_nested_images_and_skips_hidden_ones(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "pets", classes=("dog", "cat"), images_per_class=3, image_size=16)
    (root / "cat" / "more").mkdir()
    shutil.copy(root / "cat" / "0000.jpg", root / "cat" / "more" / "extra.JPG")
    (root / "cat" / ".thumbs").mkdir()
    shutil.copy(root / "cat" / "0000.jpg", root / "cat" / ".thumbs" / "0000.jpg")
    (root / "dog" / "readme.md").write_text("not an image")
    found = find_folder_images(root)
    assert found.class_names == ["cat", "dog"]
    assert Counter(found.labels) == {"cat": 4, "dog": 3}
    assert "cat/more/extra.JPG" in found.paths
    assert not [p for p in found.paths if ".thumbs" in p or p.endswith(".md")]


def test_listing_gives_what_pathlib_gave_in_its_order(tmp_path: Path) -> None:
    # the fast listing must not change any split: same files, same order as sorted rglob paths
    base = tmp_path / "root"
    cls = base / "cls"
    names = ("a/x.jpg", "a.b/x.jpg", "a b/ü ber.PNG", "z.jpg", "a/deep/er/y.webp", ".h/x.jpg", "a/.x.jpg")
    for name in names:
        (cls / name).parent.mkdir(parents=True, exist_ok=True)
        (cls / name).write_bytes(b"not decoded here")
    (cls / "notes.txt").write_text("not an image")
    (cls / "loop").symlink_to(cls, target_is_directory=True)  # a linked folder: never entered
    (cls / "alias.jpg").symlink_to(cls / "z.jpg")  # a link to a file counts
    (cls / "broken.jpg").symlink_to(cls / "missing.jpg")  # a broken link does not
    expected = sorted(
        p
        for p in cls.rglob("*")
        if p.is_file()
        and p.suffix.lower() in IMAGE_EXTENSIONS
        and not any(part.startswith(".") for part in p.relative_to(base).parts)
    )
    found = image_files(cls, base)
    assert found == [p.relative_to(base).as_posix() for p in expected]
    assert found[:2] == ["cls/a/deep/er/y.webp", "cls/a/x.jpg"]  # part by part: "a" before "a b", "a.b"


# --- bad layouts: one clear error naming the place and the fix ---------------------------------
@pytest.mark.parametrize("finder", [find_fish_images, find_butterfly_images, find_folder_images])
def test_missing_root(finder, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=rf"'{tmp_path / 'nowhere'}' does not exist.*data\.root="):
        finder(tmp_path / "nowhere")


@pytest.mark.parametrize("finder", [find_fish_images, find_butterfly_images, find_folder_images])
def test_root_that_is_a_file(finder, tmp_path: Path) -> None:
    (tmp_path / "data.zip").write_bytes(b"PK")
    with pytest.raises(DataError, match=r"data\.zip' is a file; data\.root must be a folder"):
        finder(tmp_path / "data.zip")


def test_fish_root_matching_neither_layout(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match=rf"'{tmp_path}' matches neither fish layout.*Point data\.root"):
        find_fish_images(tmp_path)


@pytest.mark.parametrize("finder", [find_fish_images, find_folder_images])
def test_class_finders_refuse_the_butterfly_download(finder, butterfly_root: Path) -> None:
    # its train/ and test/ folders hold images, but they are splits, not classes
    with pytest.raises(DataError, match=r"folders named test, train.*data=butterfly"):
        finder(butterfly_root)


def test_image_folder_refuses_a_dataset_divided_into_split_folders(tmp_path: Path) -> None:
    for split in ("train", "val"):
        write_image_folder(tmp_path / split, images_per_class=1, image_size=16)
    with pytest.raises(DataError, match=r"folders named train, val: .*already divided into splits"):
        find_folder_images(tmp_path)
    assert find_folder_images(tmp_path / "train").class_names == ["cat", "dog", "fox"]


def test_a_single_class_is_refused(fish_root: Path) -> None:
    # data.root pointed one level too deep: at one class of the download
    with pytest.raises(DataError, match=r"single class folder \['Trout'\].*at least two"):
        find_fish_images(fish_root / "Fish_Dataset" / "Trout")


def test_image_folder_without_class_folders(tmp_path: Path) -> None:
    write_image_folder(tmp_path, images_per_class=1, image_size=16)
    for image in tmp_path.glob("*/*.jpg"):
        image.rename(tmp_path / f"{image.parent.name}-{image.name}")
        image.parent.rmdir()
    with pytest.raises(DataError, match=r"has no class sub-folders"):
        find_folder_images(tmp_path)


def test_empty_class_folders_are_all_named(fish_root: Path, plain_fish: Path, tmp_path: Path) -> None:
    kaggle = copy_of(fish_root, tmp_path / "kaggle")
    for name in ("Trout", "Shrimp"):
        for image in (kaggle / "Fish_Dataset" / name / name).iterdir():
            image.unlink()
    with pytest.raises(DataError, match=r"contain no images") as error:
        find_fish_images(kaggle)
    assert str(kaggle / "Fish_Dataset" / "Trout" / "Trout") in str(error.value)
    assert str(kaggle / "Fish_Dataset" / "Shrimp" / "Shrimp") in str(error.value)

    plain = copy_of(plain_fish, tmp_path / "plain")
    (plain / "Tuna").mkdir()
    (plain / "Tuna" / "Thumbs.db").write_bytes(b"\x00")
    for finder in (find_fish_images, find_folder_images):
        with pytest.raises(DataError, match=r"contain no images") as error:
            finder(plain)
        assert f"\n  - {plain / 'Tuna'}\n" in str(error.value) and "remove the folders" in str(error.value)


def test_butterfly_without_csv_or_image_folder(butterfly_root: Path, tmp_path: Path) -> None:
    root = copy_of(butterfly_root, tmp_path)
    shutil.rmtree(root / "train")
    with pytest.raises(DataError, match=r"Image folder '.*train' not found"):
        find_butterfly_images(root)
    (root / "Training_set.csv").unlink()
    with pytest.raises(DataError, match=r"Training_set\.csv' not found.*point data\.root"):
        find_butterfly_images(root)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("file,class\nImage_1.jpg,ADONIS\n", r"columns 'filename' and 'label', found \['file', 'class'\]"),
        ("filename\nImage_1.jpg\n", r"columns 'filename' and 'label', found \['filename'\]"),
        ("", r"columns 'filename' and 'label', found \[\]"),
        ("filename,label\n", r"has a header but no rows"),
        ("filename,label\nImage_1.jpg,ADONIS\nImage_2.jpg,\n", r"empty label:\n  - line 3: 'Image_2\.jpg'"),
        ("filename,label\nImage_1.jpg,ADONIS\nImage_2.jpg,ADONIS\n", r"single label \['ADONIS'\]"),
        (
            "filename,label\nImage_1.jpg,ADONIS\nImage_2.jpg,MONARCH\nImage_1.jpg,MONARCH\n",
            r"listed more than once.*\n  - Image_1\.jpg",
        ),
    ],
)
def test_bad_butterfly_csv(butterfly_root: Path, tmp_path: Path, text: str, message: str) -> None:
    root = copy_of(butterfly_root, tmp_path)
    write_csv(root, text)
    with pytest.raises(DataError, match=rf"{root / 'Training_set.csv'}.*{message}"):
        find_butterfly_images(root)


def test_butterfly_csv_that_is_not_utf8(butterfly_root: Path, tmp_path: Path) -> None:
    root = copy_of(butterfly_root, tmp_path)
    (root / "Training_set.csv").write_bytes("filename,label\nImage_1.jpg,CAF\xc9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"Training_set\.csv is not UTF-8 text.*Save it as UTF-8"):
        find_butterfly_images(root)


def test_every_missing_butterfly_file_is_reported_by_line(butterfly_root: Path, tmp_path: Path) -> None:
    root = copy_of(butterfly_root, tmp_path)
    rows = ["Image_1.jpg,ADONIS", "Image_0.jpg,ADONIS", "Image_2.jpg,MONARCH", "lost.jpg,MONARCH"]
    write_csv(root, "\n".join(["filename,label", *rows]))
    with pytest.raises(DataError, match=r"2 listed files are missing") as error:
        find_butterfly_images(root)
    assert "line 3: 'Image_0.jpg'" in str(error.value) and "line 5: 'lost.jpg'" in str(error.value)
    assert "Image_1.jpg" not in str(error.value)


@pytest.mark.parametrize(
    "filename",
    ["../Training_set.csv", "sub/../../Training_set.csv", "/etc/hostname", "..\\secret.jpg", "C:x.jpg"],
)
def test_butterfly_filenames_may_not_escape_the_image_folder(
    butterfly_root: Path, tmp_path: Path, filename: str
) -> None:
    root = copy_of(butterfly_root, tmp_path)
    write_csv(root, f"filename,label\nImage_1.jpg,ADONIS\n{filename},MONARCH\n")
    with pytest.raises(DataError, match=r"relative paths inside .*no '\.\.', no absolute paths") as error:
        find_butterfly_images(root)
    assert f"line 3: '{filename}'" in str(error.value)
