"""Find the labelled images of each supported on-disk layout, exactly as publishers ship them.

Every finder returns a :class:`LabelledImages`: a dataset root plus image paths relative to it
(POSIX form, so ``splits.csv`` stays valid when the data moves) and their class names.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import ClassVar

from fgclass.data.images import broken_link
from fgclass.data.listing import IMAGE_EXTENSIONS, image_files, is_image_name
from fgclass.errors import DataError
from fgclass.text import listing

FISH_MASK_SUFFIX = " GT"
FISH_EXTRA_FOLDER = "NA_Fish_Dataset"
# folders of a dataset that is already divided into splits (or of the butterfly download), never classes
SPLIT_FOLDER_NAMES = frozenset({"train", "training", "val", "valid", "validation", "test", "testing"})


@dataclass(frozen=True)
class LabelledImages:
    """Images of a dataset: ``root / paths[i]`` shows an instance of class ``labels[i]``;
    ``official[i]`` is its split (``train``/``val``/``test``) where the publisher defines one."""

    root: Path
    paths: list[str]
    labels: list[str]
    official: list[str] | None = None

    @property
    def class_names(self) -> list[str]:
        """Sorted class names, so class indices are stable across runs and machines."""
        return sorted(set(self.labels))

    def subset(self, keep: Sequence[int]) -> LabelledImages:
        """The images at the indices ``keep``, with everything known about each."""
        official = None if self.official is None else [self.official[i] for i in keep]
        return LabelledImages(
            self.root, [self.paths[i] for i in keep], [self.labels[i] for i in keep], official
        )


def _require_dir(root: str | Path, what: str) -> Path:
    path = Path(root).expanduser()
    if not path.exists():
        raise DataError(
            f"{what} root '{path}' does not exist. Set data.root=/path/to/the/dataset "
            "(see README: 'Getting the datasets')."
        )
    if not path.is_dir():
        raise DataError(f"{what} root '{path}' is a file; data.root must be a folder.")
    return path


def _images_in(folder: Path) -> list[Path]:
    """Image files directly in ``folder``; hidden ones (macOS ``._*`` copies) are not images."""
    return sorted(p for p in folder.iterdir() if is_image_name(p.name) and p.is_file())


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _check_class_folders(base: Path, names: list[str]) -> None:
    """Reject roots whose sub-folders are splits rather than classes, or hold a single class."""
    split_like = sorted(n for n in names if n.lower() in SPLIT_FOLDER_NAMES)
    if split_like:
        raise DataError(
            f"'{base}' has folders named {', '.join(split_like)}: that is a dataset already divided "
            "into splits (or the butterfly download, which needs data=butterfly), not one folder per "
            "class. Point data.root at a folder whose sub-folders are the classes."
        )
    if len(names) < 2:
        raise DataError(
            f"'{base}' holds a single class folder {names}; a classifier needs at least two. Point "
            "data.root at the folder that holds all the class folders."
        )


def _fish_image_folder(class_dir: Path) -> Path:
    """Kaggle nests the images in ``<Class>/<Class>/`` beside a ``<Class> GT/`` mask folder."""
    nested = class_dir / class_dir.name
    return nested if nested.is_dir() else class_dir


def _has_fish_classes(folder: Path) -> bool:
    return folder.is_dir() and any(_images_in(_fish_image_folder(d)) for d in _subfolders(folder))


def resolve_fish_root(root: str | Path) -> Path:
    """The folder whose sub-folders are the fish classes.

    ``root`` may be that folder, or the download's outer ``Fish_Dataset`` or the folder above it.
    """
    path = _require_dir(root, "Fish dataset")
    for candidate in (path / "Fish_Dataset" / "Fish_Dataset", path / "Fish_Dataset"):
        if _has_fish_classes(candidate):
            return candidate
    return path


def find_fish_images(root: str | Path) -> LabelledImages:
    """Read the Kaggle 'A Large-Scale Fish Dataset' as downloaded, or a plain ``<Class>/<img>`` tree.

    Segmentation masks (``<Class> GT/``), ``NA_Fish_Dataset/`` and non-image files are never samples.
    """
    base = resolve_fish_root(root)
    class_dirs = [
        d for d in _subfolders(base) if d.name != FISH_EXTRA_FOLDER and not d.name.endswith(FISH_MASK_SUFFIX)
    ]
    with_images = {d: _images_in(_fish_image_folder(d)) for d in class_dirs}
    if not any(with_images.values()):
        raise DataError(
            f"'{base}' matches neither fish layout. Expected the Kaggle download "
            "(Fish_Dataset/Fish_Dataset/<Class>/<Class>/*.png) or one folder per class "
            "(<root>/<Class>/*.jpg). Point data.root at the folder that holds the class folders."
        )
    _check_class_folders(base, [d.name for d in class_dirs])
    empty = [str(_fish_image_folder(d)) for d, images in with_images.items() if not images]
    if empty:
        raise DataError(
            "These class folders contain no images "
            f"({', '.join(sorted(IMAGE_EXTENSIONS))}):\n{listing(empty)}\n"
            "Add the images or remove the folders."
        )
    paths, labels = [], []
    for class_dir, images in with_images.items():
        for image in images:
            paths.append(image.relative_to(base).as_posix())
            labels.append(class_dir.name)
    return LabelledImages(base, paths, labels)


def find_folder_images(root: str | Path) -> LabelledImages:
    """Any ``<root>/<class>/**/<image>`` tree (like torchvision's ImageFolder), hidden files skipped."""
    base = _require_dir(root, "Image folder")
    class_dirs = _subfolders(base)
    if not class_dirs:
        raise DataError(f"'{base}' has no class sub-folders. Expected <root>/<class name>/<image files>.")
    _check_class_folders(base, [d.name for d in class_dirs])
    paths, labels, empty = [], [], []
    for class_dir in class_dirs:
        images = image_files(class_dir, base)
        if not images:
            empty.append(str(class_dir))
        paths += images
        labels += [class_dir.name] * len(images)
    if empty:
        raise DataError(
            f"These class folders contain no images:\n{listing(empty)}\nAdd the images or remove the folders."
        )
    return LabelledImages(base, paths, labels)


def _safe_relative(filename: str) -> bool:
    pure = PurePosixPath(filename.replace("\\", "/"))
    return bool(filename) and not pure.is_absolute() and ".." not in pure.parts and ":" not in filename


def find_butterfly_images(
    root: str | Path, csv_file: str = "Training_set.csv", image_dir: str = "train"
) -> LabelledImages:
    """Read the Kaggle butterfly set: ``Training_set.csv`` (``filename,label``) + ``train/``.

    The unlabelled ``Testing_set.csv`` and ``test/`` are ignored: splits come from labelled rows.
    """
    base = _require_dir(root, "Butterfly dataset")
    csv_path, images = base / csv_file, base / image_dir
    if not csv_path.is_file():
        raise DataError(
            f"'{csv_path}' not found. The butterfly layout is <root>/{csv_file} (filename,label) "
            f"plus <root>/{image_dir}/; point data.root at that folder."
        )
    if not images.is_dir():
        raise DataError(f"Image folder '{images}' not found (listed files live there).")
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip() for c in reader.fieldnames or []]
            if "filename" not in columns or "label" not in columns:
                raise DataError(
                    f"{csv_path}: needs the columns 'filename' and 'label', found {columns}. "
                    "Fix the header line."
                )
            rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    except UnicodeDecodeError as exc:
        raise DataError(f"{csv_path} is not UTF-8 text ({exc.reason}). Save it as UTF-8 CSV.") from None
    if not rows:
        raise DataError(f"{csv_path} has a header but no rows.")

    problems: dict[str, list[str]] = {"escape": [], "missing": [], "label": []}
    for line, row in enumerate(rows, start=2):
        name, label = row["filename"], row["label"]
        where = f"line {line}: '{name}'"
        if not label:
            problems["label"].append(where)
        if not _safe_relative(name):
            problems["escape"].append(where)
        elif not (images / name).is_file():
            link = broken_link(images / name)
            problems["missing"].append(f"{where}: {link}" if link else where)
    if problems["escape"]:
        raise DataError(
            f"{csv_path}: filenames must be relative paths inside '{images}' "
            f"(no '..', no absolute paths):\n{listing(problems['escape'])}"
        )
    if problems["label"]:
        raise DataError(f"{csv_path}: rows with an empty label:\n{listing(problems['label'])}")
    if problems["missing"]:
        raise DataError(
            f"{csv_path}: {len(problems['missing'])} listed files are missing from "
            f"'{images}':\n{listing(problems['missing'])}\nRestore the files or remove their rows."
        )
    repeated = [name for name, n in Counter(r["filename"] for r in rows).items() if n > 1]
    if repeated:
        raise DataError(
            f"{csv_path}: these files are listed more than once (a file must be one sample, or it "
            f"could land in two splits):\n{listing(repeated)}"
        )
    labels = sorted({r["label"] for r in rows})
    if len(labels) < 2:
        raise DataError(f"{csv_path} has a single label {labels}; a classifier needs at least two.")
    paths = [(PurePosixPath(image_dir) / r["filename"].replace("\\", "/")).as_posix() for r in rows]
    return LabelledImages(base, paths, [r["label"] for r in rows])


# --- layouts: what the data module is given (conf/data/*.yaml: data.layout) ---------------------
@dataclass(frozen=True)
class Layout:
    """A dataset at ``root`` in one on-disk layout: how to make it available, find its labelled
    images, and which folder the paths of its ``splits.csv`` are relative to."""

    root: Path
    # rows at the bottom of every image that are not the photo (a publisher's banner), cut off
    bottom_trim: ClassVar[int] = 0

    def prepare(self) -> None:
        """Make the images available; data on disk needs nothing."""

    def find(self) -> LabelledImages:
        """Every labelled image of the dataset."""
        raise NotImplementedError

    def images_root(self) -> Path:
        """The folder that paths in ``splits.csv`` are relative to (read without listing the images)."""
        return self.root

    def boxes(self) -> dict[str, tuple[float, float, float, float]]:
        """The object's box ``(x0, y0, x1, y1)`` in pixels of each image path, where the publisher
        ships boxes (for ``data.crop=bbox``)."""
        raise DataError(
            f"data.crop=bbox: the {type(self).__name__} dataset ships no bounding boxes. Set data.crop=none."
        )


@dataclass(frozen=True)
class ImageFolderLayout(Layout):
    """Any ``<root>/<class>/<images>`` tree: bring your own dataset."""

    def find(self) -> LabelledImages:
        return find_folder_images(self.root)


@dataclass(frozen=True)
class FishLayout(Layout):
    """Kaggle 'A Large-Scale Fish Dataset' as downloaded (or one folder per class)."""

    def find(self) -> LabelledImages:
        return find_fish_images(self.root)

    def images_root(self) -> Path:
        return resolve_fish_root(self.root)


@dataclass(frozen=True)
class ButterflyLayout(Layout):
    """Kaggle 75-class butterfly set: ``<root>/<csv_file>`` (filename,label) + ``<root>/<image_dir>/``."""

    csv_file: str = "Training_set.csv"
    image_dir: str = "train"

    def find(self) -> LabelledImages:
        return find_butterfly_images(self.root, self.csv_file, self.image_dir)
