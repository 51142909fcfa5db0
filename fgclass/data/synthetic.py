"""Tiny datasets in the exact on-disk layouts of the real ones, for tests and the demo.

Each class draws one shape in one colour family on a textured background, so a small network
learns it in a few epochs. Like the real fish set, every "photo" is saved several times as a
flipped/rotated copy, which makes near-duplicate groups.
"""

from __future__ import annotations

import colorsys
import csv
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fgclass.data.sources import FishLayout

log = logging.getLogger(__name__)

FISH_CLASSES = (
    "Black Sea Sprat",
    "Gilt-Head Bream",
    "Hourse Mackerel",
    "Red Mullet",
    "Red Sea Bream",
    "Sea Bass",
    "Shrimp",
    "Striped Red Mullet",
    "Trout",
)
BUTTERFLY_CLASSES = (
    "ADONIS",
    "BLACK HAIRSTREAK",
    "BROWN SIPROETA",
    "MONARCH",
    "RED ADMIRAL",
    "SOUTHERN DOGFACE",
)
_SHAPES = ("ellipse", "rectangle", "triangle", "cross", "ring", "stripes")


def _colour(index: int, count: int, rng: np.random.Generator) -> tuple[int, int, int]:
    hue = (index / max(count, 1) + rng.uniform(-0.03, 0.03)) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, rng.uniform(0.6, 1.0), rng.uniform(0.7, 1.0))
    return int(b * 255), int(g * 255), int(r * 255)  # OpenCV draws BGR


def draw_image(class_index: int, num_classes: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """One BGR ``uint8`` picture of class ``class_index``: its shape, in its colour, anywhere."""
    base = rng.integers(60, 160)
    image = np.clip(rng.normal(base, 25, (size, size, 3)), 0, 255).astype(np.uint8)
    image = cv2.GaussianBlur(image, (3, 3), 0)
    colour = _colour(class_index, num_classes, rng)
    shape = _SHAPES[class_index % len(_SHAPES)]
    c = rng.integers(size // 3, 2 * size // 3, 2)
    r = int(rng.integers(size // 6, size // 3))
    cx, cy = int(c[0]), int(c[1])
    if shape == "ellipse":
        cv2.ellipse(image, (cx, cy), (r, r // 2), float(rng.uniform(0, 180)), 0, 360, colour, -1)
    elif shape == "rectangle":
        cv2.rectangle(image, (cx - r, cy - r // 2), (cx + r, cy + r // 2), colour, -1)
    elif shape == "triangle":
        pts = np.array([[cx, cy - r], [cx - r, cy + r], [cx + r, cy + r]], dtype=np.int32)
        cv2.fillPoly(image, [pts], colour)
    elif shape == "cross":
        t = max(2, r // 3)
        cv2.rectangle(image, (cx - r, cy - t), (cx + r, cy + t), colour, -1)
        cv2.rectangle(image, (cx - t, cy - r), (cx + t, cy + r), colour, -1)
    elif shape == "ring":
        cv2.circle(image, (cx, cy), r, colour, max(2, r // 3))
    else:
        for x in range(cx - r, cx + r, max(3, r // 2)):
            cv2.line(image, (x, cy - r), (x, cy + r), colour, max(1, r // 5))
    return image


def _copies(photo: np.ndarray, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The photo and ``count - 1`` distinct flips/90° rotations of it."""
    variants = [np.rot90(photo, k) for k in range(4)] + [np.rot90(photo[:, ::-1], k) for k in range(4)]
    picks = [0, *rng.choice(np.arange(1, 8), size=min(count, 8) - 1, replace=False)]
    return [np.ascontiguousarray(variants[i]) for i in picks]


def write_fish_dataset(
    root: str | Path,
    classes: Sequence[str] = FISH_CLASSES,
    photos_per_class: int = 6,
    copies_per_photo: int = 3,
    image_size: int = 64,
    seed: int = 0,
    kaggle_layout: bool = True,
) -> Path:
    """Write a fish dataset; returns the folder to use as ``data.root``.

    ``kaggle_layout`` writes ``Fish_Dataset/Fish_Dataset/<Class>/<Class>/00001.png`` with
    ``<Class> GT/`` masks, the publisher's extra files and ``NA_Fish_Dataset/``; otherwise
    ``<root>/<Class>/<n>.jpg``.
    """
    rng = np.random.default_rng(seed)
    root = Path(root)
    outer = root / "Fish_Dataset" if kaggle_layout else root
    inner = outer / "Fish_Dataset" if kaggle_layout else root
    for k, name in enumerate(classes):
        if kaggle_layout:
            images_dir, masks_dir = inner / name / name, inner / name / f"{name} GT"
            masks_dir.mkdir(parents=True, exist_ok=True)
            (outer / "NA_Fish_Dataset" / name).mkdir(parents=True, exist_ok=True)
        else:
            images_dir = inner / name
        images_dir.mkdir(parents=True, exist_ok=True)
        number = 0
        for photo_index in range(photos_per_class):
            photo = draw_image(k, len(classes), image_size, rng)
            if kaggle_layout and photo_index == 0:
                cv2.imwrite(str(outer / "NA_Fish_Dataset" / name / "original.png"), photo)
            for copy in _copies(photo, copies_per_photo, rng):
                number += 1
                if kaggle_layout:
                    cv2.imwrite(str(images_dir / f"{number:05d}.png"), copy)
                    mask = (np.abs(copy.astype(int) - np.median(copy)).sum(2) > 120) * 255
                    cv2.imwrite(str(masks_dir / f"{number:05d}.png"), mask.astype(np.uint8))
                else:
                    cv2.imwrite(str(images_dir / f"{number:05d}.jpg"), copy)
    if kaggle_layout:
        (inner / "README.txt").write_text("Synthetic stand-in for A Large-Scale Fish Dataset.\n")
        (inner / "license.txt").write_text("Test data.\n")
        (inner / "Segmentation_example_script.m").write_text("% not an image\n")
    return outer


def write_butterfly_dataset(
    root: str | Path,
    classes: Sequence[str] = BUTTERFLY_CLASSES,
    images_per_class: int = 12,
    image_size: int = 64,
    seed: int = 0,
) -> Path:
    """Write ``Training_set.csv`` + ``train/Image_N.jpg`` (and an unlabelled ``Testing_set.csv`` +
    ``test/``, as in the Kaggle download); returns ``root``."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    (root / "train").mkdir(parents=True, exist_ok=True)
    (root / "test").mkdir(parents=True, exist_ok=True)
    rows = []
    for k, name in enumerate(classes):
        for _ in range(images_per_class):
            filename = f"Image_{len(rows) + 1}.jpg"
            cv2.imwrite(str(root / "train" / filename), draw_image(k, len(classes), image_size, rng))
            rows.append((filename, name))
    order = rng.permutation(len(rows))
    with (root / "Training_set.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["filename", "label"])
        writer.writerows(rows[i] for i in order)
    with (root / "Testing_set.csv").open("w", newline="") as handle:
        handle.write("filename\n")
        for i in range(3):
            cv2.imwrite(str(root / "test" / f"Image_{i + 1}.jpg"), draw_image(0, 1, image_size, rng))
            handle.write(f"Image_{i + 1}.jpg\n")
    return root


def write_image_folder(
    root: str | Path,
    classes: Sequence[str] = ("cat", "dog", "fox"),
    images_per_class: int = 10,
    image_size: int = 64,
    seed: int = 0,
) -> Path:
    """Write ``<root>/<class>/<n>.jpg``; returns ``root``."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(images_per_class):
            cv2.imwrite(str(root / name / f"{i:04d}.jpg"), draw_image(k, len(classes), image_size, rng))
    return root


def write_noise_images(root: str | Path, count: int, side: int = 96, classes: int = 3) -> list[str]:
    """Write ``count`` different noise images ``<root>/c<k>/i<n>.png`` (``k = n mod classes``), for
    tests and benchmarks of the scan and its cache; their paths relative to ``root``, in order."""
    rng = np.random.default_rng(0)
    root = Path(root)
    paths = [f"c{n % classes}/i{n}.png" for n in range(count)]
    for path in paths:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / path), rng.integers(0, 256, (side, side, 3), dtype=np.uint8))
    return paths


@dataclass(frozen=True)
class SyntheticFishLayout(FishLayout):
    """The fish layout, generated under ``root`` on first use (:func:`write_fish_dataset` with these
    settings): the demo and tests need no download."""

    photos_per_class: int = 8
    copies_per_photo: int = 3
    source_image_size: int = 64
    generator_seed: int = 0

    def prepare(self) -> None:
        if not (self.root / "Fish_Dataset").is_dir():
            write_fish_dataset(
                self.root,
                photos_per_class=self.photos_per_class,
                copies_per_photo=self.copies_per_photo,
                image_size=self.source_image_size,
                seed=self.generator_seed,
            )
            log.info("Generated a synthetic fish dataset in %s", self.root)
