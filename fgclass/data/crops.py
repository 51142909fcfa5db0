"""The part of each decoded image that the model sees, before any transform: the photo without a
publisher's banner (:attr:`Layout.bottom_trim <fgclass.data.sources.Layout.bottom_trim>`) and, with
``data.crop=bbox``, the object's box from the publisher's files grown by ``data.crop_margin``.
Training and evaluation read images through the same crop (:class:`fgclass.data.dataset.ImageDataset`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fgclass.data.sources import Layout
from fgclass.errors import ConfigError, DataError
from fgclass.text import listing

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels; (0, 0) is the top-left corner
CROPS = ("none", "bbox")


@dataclass(frozen=True)
class ImageCrop:
    """Cut ``bottom_trim`` rows off each image, then (where ``boxes`` are given) cut it to its box
    in ``boxes[path]``, each side moved out by ``margin`` times the box's width or height and
    clipped to the image."""

    boxes: Mapping[str, Box] | None = None
    margin: float = 0.0
    bottom_trim: int = 0

    def __call__(self, image: np.ndarray, path: str) -> np.ndarray:
        height, width = image.shape[0] - self.bottom_trim, image.shape[1]
        if height < 1:
            raise DataError(
                f"'{path}' is {image.shape[0]} pixels high, no taller than the {self.bottom_trim}-pixel "
                "banner its dataset has at the bottom: restore the original file."
            )
        x0, y0, x1, y1 = 0, 0, width, height
        if self.boxes is not None:
            bx0, by0, bx1, by1 = self.boxes[path]
            dx, dy = (bx1 - bx0) * self.margin, (by1 - by0) * self.margin
            x0, y0 = max(0, math.floor(bx0 - dx)), max(0, math.floor(by0 - dy))
            x1, y1 = min(width, math.ceil(bx1 + dx)), min(height, math.ceil(by1 + dy))
            if x1 <= x0 or y1 <= y0:
                raise DataError(
                    f"The bounding box {self.boxes[path]} of '{path}' lies outside its {width}x{height} "
                    "image: fix its entry in the dataset's box file, or set data.crop=none."
                )
        return np.ascontiguousarray(image[y0:y1, x0:x1])


def check_crop(crop: str, margin: float) -> None:
    """Refuse an unknown ``data.crop`` or a negative ``data.crop_margin``."""
    if crop not in CROPS:
        raise ConfigError(f"data.crop={crop}: use none (whole images) or bbox (the publisher's boxes).")
    if margin < 0:
        raise ConfigError(f"data.crop_margin={margin}: a share of the box's size, 0 or more (e.g. 0.1).")


def layout_crop(layout: Layout, crop: str, margin: float, paths: Sequence[str]) -> ImageCrop | None:
    """The crop of the images ``paths`` of ``layout`` (``None`` where images are used whole): its
    banner trim and, for ``crop="bbox"``, the boxes it ships, one for every path."""
    check_crop(crop, margin)
    boxes = None
    if crop == "bbox":
        shipped = layout.boxes()
        missing = [p for p in paths if p not in shipped]
        if missing:
            raise DataError(
                f"data.crop=bbox: the dataset's box file has no box for {len(missing)} images:\n"
                f"{listing(missing)}\nRestore the box file, or set data.crop=none."
            )
        boxes = {p: shipped[p] for p in paths}
    if boxes is None and not layout.bottom_trim:
        return None
    return ImageCrop(boxes, margin, layout.bottom_trim)
