"""A torch ``Dataset`` of image files with labels, optionally decoded once into memory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset

from fgclass.data.images import load_rgb
from fgclass.data.transforms import reseed


class ImageDataset(Dataset):
    """Items are ``(image, label, index)``: a ``uint8`` CHW tensor, the class index, the row index.

    ``crop(image, path)``, where given, picks the part of each decoded image that is used
    (:mod:`fgclass.data.crops`)."""

    def __init__(
        self,
        root: str | Path,
        paths: Sequence[str],
        targets: Sequence[int],
        transform: A.BaseCompose,
        in_memory: bool = False,
        crop: Callable[[np.ndarray, str], np.ndarray] | None = None,
    ) -> None:
        self.root = Path(root)
        self.paths = list(paths)
        self.targets = list(targets)
        self.transform = transform
        self.crop = crop
        self._images: list[np.ndarray] | None = None
        if in_memory:
            with ThreadPoolExecutor() as pool:  # OpenCV decodes without holding the GIL
                self._images = list(pool.map(self._decode, self.paths))

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, index: int) -> np.ndarray:
        """The decoded, cropped, untransformed image."""
        if self._images is not None:
            return self._images[index]
        return self._decode(self.paths[index])

    def _decode(self, path: str) -> np.ndarray:
        image = load_rgb(self.root / path)
        return self.crop(image, path) if self.crop is not None else image

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, int, int]:
        """``key``: a row index, or ``(index, seed)`` to draw this item's augmentation from ``seed``
        (see :mod:`fgclass.data.sampling`)."""
        if isinstance(key, tuple):
            index, seed = key
            reseed(self.transform, seed)
        else:
            index = key
        image = self.transform(image=self.image(index))["image"]
        return image, self.targets[index], index
