"""Test helper: a plain ``<Class>/<file>`` dataset whose near-duplicates the test knows for sure.

Every "photo" is saved as several copies named ``p<photo>_<variant>.<ext>``, so the ground truth
(which files show the same photo) comes from the file names, never from fgclass's grouping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from fgclass.data.synthetic import draw_image


def _rotate(degrees: float) -> Callable[[np.ndarray], np.ndarray]:
    def rotate(image: np.ndarray) -> np.ndarray:
        centre = ((image.shape[1] - 1) / 2, (image.shape[0] - 1) / 2)
        matrix = cv2.getRotationMatrix2D(centre, degrees, 1.0)
        return cv2.warpAffine(image, matrix, image.shape[1::-1], borderMode=cv2.BORDER_REFLECT)

    return rotate


# variant name -> (transform, file extension); "jpeg" is the photo re-encoded lossily
VARIANTS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], str]] = {
    "orig": (lambda a: a, "png"),
    "fliplr": (lambda a: a[:, ::-1], "png"),
    "flipud": (lambda a: a[::-1], "png"),
    "rot90": (lambda a: np.rot90(a, 1), "png"),
    "rot180": (lambda a: np.rot90(a, 2), "png"),
    "rot270": (lambda a: np.rot90(a, 3), "png"),
    "transpose": (lambda a: a.transpose(1, 0, 2), "png"),
    "jpeg": (lambda a: a, "jpg"),
    "rot1deg": (_rotate(1.0), "png"),
    "rot90jpeg": (lambda a: np.rot90(a, 1), "jpg"),
}


def write_photo_copies(
    root: Path,
    classes: Sequence[str],
    photos_per_class: int | Sequence[int],
    variants: Sequence[str],
    size: int = 64,
    seed: int = 0,
) -> Path:
    """Write ``root/<class>/p<k>_<variant>.<ext>`` for each photo and variant; returns ``root``.

    ``photos_per_class`` may give one count per class.
    """
    rng = np.random.default_rng(seed)
    counts = [photos_per_class] * len(classes) if isinstance(photos_per_class, int) else photos_per_class
    for k, (name, count) in enumerate(zip(classes, counts)):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for photo in range(count):
            image = draw_image(k, len(classes), size, rng)
            for variant in variants:
                transform, ext = VARIANTS[variant]
                copy = np.ascontiguousarray(transform(image))
                params = [cv2.IMWRITE_JPEG_QUALITY, 70] if ext == "jpg" else []
                cv2.imwrite(str(folder / f"p{photo:03d}_{variant}.{ext}"), copy, params)
    return root


def photo_of(path: str) -> str:
    """Ground truth: ``<class>/p<k>`` for a file written by :func:`write_photo_copies`."""
    folder, name = path.rsplit("/", 1)
    return f"{folder}/{name.split('_', 1)[0]}"
