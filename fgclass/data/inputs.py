"""The images to predict: one file, a folder (recursively) or a CSV of paths; each file checked as it
is read, so broken ones are reported with a reason instead of stopping the run."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset

from fgclass.data.images import ImageError, broken_link, load_rgb
from fgclass.data.listing import IMAGE_EXTENSIONS, has_image_extension
from fgclass.errors import DataError

CSV_COLUMNS = ("path", "filename", "file", "image")  # a CSV's path column, by the first name found


def find_inputs(inputs: str | Path | None, key: str = "inputs") -> list[Path]:
    """Every file to predict: ``inputs`` itself, every non-hidden file under a folder, or the rows of a
    CSV (its ``path``/``filename`` column, else the first; relative paths are taken from the CSV's folder).

    Files that are not images, and symbolic links that lead nowhere, stay in the list: they are
    reported as skipped, not silently left out. Links to files are followed (sub-folder links are not).
    ``key``: the setting ``inputs`` came from, named in the messages.
    """
    if not inputs:
        raise DataError(
            f"{key} is not set: pass {key}=PATH (an image, a folder of images or a CSV of paths)."
        )
    path = Path(inputs).expanduser()
    if not path.exists():
        raise DataError(f"{key}: '{path}' does not exist.")
    if path.is_dir():
        files = sorted(  # hidden files and folders below ``path`` are left out (not ``..`` above it)
            p
            for p in path.rglob("*")
            if (p.is_file() or broken_link(p))  # a broken link is reported, not silently left out
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        if not any(has_image_extension(p.name) for p in files):
            raise DataError(
                f"{key}: '{path}' holds no image files ({', '.join(sorted(IMAGE_EXTENSIONS))}), "
                "in any sub-folder."
            )
        return files
    if path.suffix.lower() == ".csv":
        return _csv_paths(path, key)
    return [path]


def _csv_paths(path: Path, key: str) -> list[Path]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except UnicodeDecodeError as exc:
        raise DataError(f"{key}: '{path}' is not a UTF-8 CSV file ({exc}).") from exc
    if not rows:
        raise DataError(f"{key}: '{path}' is empty; give one image path per row.")
    header = [cell.strip().lower() for cell in rows[0]]
    column = next((header.index(name) for name in CSV_COLUMNS if name in header), None)
    body = rows[1:] if column is not None else rows  # no known header: every row is a path
    paths = [row[column or 0].strip() for row in body if row and row[column or 0].strip()]
    if not paths:
        raise DataError(
            f"{key}: '{path}' lists no paths (expected a column named {' or '.join(CSV_COLUMNS)})."
        )
    return [p if p.is_absolute() else path.parent / p for p in map(Path, paths)]


def read_image(path: Path) -> np.ndarray:
    """Decode an image file to RGB ``uint8`` (H, W, 3), or raise :class:`~fgclass.data.images.ImageError`
    whose ``reason`` says why it cannot be.

    The file is decoded completely first, so truncated files are caught (OpenCV alone would return
    their readable part); the pixels come from OpenCV, as in training.
    """
    if not has_image_extension(path.name):
        raise ImageError(path, f"not an image file (extension '{path.suffix}')")
    return load_rgb(path, verify=True)


class PredictDataset(Dataset):
    """Items are ``(image, index, problem)``: a ``uint8`` CHW tensor through ``transform``, the row,
    and ``""`` or why the file could not be read (then the image is blank and is not predicted)."""

    def __init__(self, paths: Sequence[Path], transform: A.BaseCompose, image_size: int) -> None:
        self.paths = list(paths)
        self.transform = transform
        self.blank = torch.zeros(3, image_size, image_size, dtype=torch.uint8)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, str]:
        try:
            image = read_image(self.paths[index])
        except ImageError as exc:
            return self.blank, index, exc.reason
        return self.transform(image=image)["image"], index, ""
