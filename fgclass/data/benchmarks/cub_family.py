"""CUB-200-2011 and NABirds, which ship one family of id-keyed text files beside ``images/``:

``images.txt`` (``<id> <path under images/>``), ``image_class_labels.txt`` (``<id> <class id>``),
``train_test_split.txt`` (``<id> <1: train, 0: test>``), ``classes.txt`` (``<class id> <name>``)
and ``bounding_boxes.txt`` (``<id> <x> <y> <width> <height>``, pixels). NABirds also ships
``hierarchy.txt``, which the 555-class task does not need: its classes are the ids images carry.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from fgclass.data.benchmarks.publisher_files import (
    BOXES_FIX,
    check_images_exist,
    check_same_ids,
    check_values,
    dataset_base,
    read_id_map,
    read_rows,
    require_file,
)
from fgclass.data.sources import LabelledImages, Layout
from fgclass.errors import DataError
from fgclass.text import listing

IMAGES = "images"
OFFICIAL = {"1": "train", "0": "test"}  # train_test_split.txt's is_training_image
BOX_LINE = "<image id> <x> <y> <width> <height>"


@dataclass(frozen=True)
class CubFamilyLayout(Layout):
    """A dataset in the CUB file family; ``data.root`` is the unpacked archive's folder
    (``folder``) or the folder that holds it."""

    folder = "CUB_200_2011"
    name = "CUB-200-2011"

    @cached_property
    def base(self) -> Path:
        return dataset_base(self.root, self.folder, "images.txt", self.name)

    def class_name(self, class_id: str, name: str) -> str:
        """The label of a class: CUB's names already sort in its order (``001.Black_footed_Albatross``)."""
        return name

    def images_root(self) -> Path:
        return self.base / IMAGES

    def find(self) -> LabelledImages:
        base = self.base
        files = {
            n: base / f"{n}.txt" for n in ("images", "image_class_labels", "train_test_split", "classes")
        }
        images = read_id_map(files["images"], "<image id> <path under images/>")
        labels = read_id_map(files["image_class_labels"], "<image id> <class id>")
        official = read_id_map(files["train_test_split"], "<image id> <1 for training, 0 for test>")
        classes = read_id_map(files["classes"], "<class id> <class name>")
        check_same_ids(images, files["images"], labels, files["image_class_labels"])
        check_same_ids(images, files["images"], official, files["train_test_split"])
        check_values(official, OFFICIAL, files["train_test_split"], "the split is 1 (train) or 0 (test)")
        check_values(
            labels, classes, files["image_class_labels"], f"class ids are those of {files['classes']}"
        )
        check_values(
            {i: i for i in classes}, set(filter(str.isdigit, classes)), files["classes"], "ids are numbers"
        )
        ids = list(images)
        paths = [images[i] for i in ids]
        check_images_exist(self.images_root(), paths, files["images"])
        return LabelledImages(
            self.images_root(),
            paths,
            [self.class_name(labels[i], classes[labels[i]]) for i in ids],
            [OFFICIAL[official[i]] for i in ids],
        )

    def boxes(self) -> dict[str, tuple[float, float, float, float]]:
        path = require_file(self.base / "bounding_boxes.txt", f"one '{BOX_LINE}' line per image", BOXES_FIX)
        images = read_id_map(self.base / "images.txt", "<image id> <path under images/>")
        boxes, bad = {}, []
        for number, row in enumerate(read_rows(path, 5, BOX_LINE), start=1):
            try:
                x, y, width, height = map(float, row[1:])
            except ValueError:
                bad.append(f"entry {number}: '{' '.join(row)}'")
                continue
            if row[0] not in images or width <= 0 or height <= 0:
                bad.append(f"entry {number}: '{' '.join(row)}'")
                continue
            boxes[images[row[0]]] = (x, y, x + width, y + height)
        if bad:
            raise DataError(
                f"{path}: these boxes are not '<image id of images.txt> <x> <y> <width> <height>' with a "
                f"positive width and height:\n{listing(bad)}\nRestore it from the dataset's archive."
            )
        return boxes


@dataclass(frozen=True)
class CubLayout(CubFamilyLayout):
    """CUB-200-2011: 200 bird species, 5,994 official training and 5,794 test images."""


@dataclass(frozen=True)
class NABirdsLayout(CubFamilyLayout):
    """NABirds: 555 visual categories of North American birds, 23,929 training and 24,633 test images;
    its class ids are not contiguous, so labels are ``NNNN.name`` (publisher's order)."""

    folder = "nabirds"
    name = "NABirds"

    def class_name(self, class_id: str, name: str) -> str:
        return f"{int(class_id):04d}.{name}"
