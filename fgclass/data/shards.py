"""Streaming shards: a dataset and its split packed into LitData chunk files, which every rank of a
multi-node run streams from local disk or object storage instead of reading one file at a time.

A packed folder ``DIR`` (written by ``python -m fgclass.pack``, read by ``data=shards``) holds:

- ``DIR/splits.csv``: the split the data config made, the same file a training run writes;
- ``DIR/classes.json``: the class names in index order (and the layout's banner trim);
- ``DIR/<split>/``: LitData's ``index.json`` and ``chunk-*.bin`` files (``litdata.optimize``), one
  sample per image of the split in ``splits.csv`` order: the image file's bytes as stored on disk
  (never re-encoded), its class index, its row in the split and its path.

Images are decoded by the one decoder (:func:`fgclass.data.images.load_rgb`) and cropped and
transformed as the image-folder datasets do. A chunk or index that is missing, truncated or does
not match ``splits.csv`` is a :class:`~fgclass.errors.DataError` naming the file, found before any
training step, and a sample that cannot be read later names its chunk.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import albumentations as A
import numpy as np
import torch
from litdata import StreamingDataset, optimize

from fgclass.data.dataset import ImageDataset
from fgclass.data.images import ImageError, load_rgb, read_file
from fgclass.data.sampling import derived_seed
from fgclass.data.splits import SPLITS, SPLITS_FILE, SplitTable
from fgclass.data.transforms import reseed
from fgclass.errors import DataError
from fgclass.files import atomic_write

CLASSES_FILE = "classes.json"
INDEX_FILE = "index.json"  # LitData's
Crop = Callable[[np.ndarray, str], np.ndarray]
logging.getLogger("litdata").setLevel(logging.WARNING)  # its INFO lines (cache sizes, mmap) are noise here


def repack_hint(folder: Path) -> str:
    """The fix for a packed folder that cannot be read."""
    return (
        f"Pack the dataset again: python -m fgclass.pack data=<its data config> data.root=<its images> "
        f"pack.output={folder}"
    )


def _sample(row: tuple[int, str, int], root: Path) -> dict[str, Any]:
    """One image's sample: its file's bytes, class index, row in the split and path."""
    position, path, label = row
    return {"image": read_file(root / path), "label": label, "index": position, "path": path}


def pack_dataset(
    table: SplitTable,
    root: Path,
    output: Path,
    chunk_bytes: str | int = "64MB",
    num_workers: int = 1,
    bottom_trim: int = 0,
) -> dict[str, int]:
    """Write the images of ``table`` (paths relative to ``root``) into ``output`` as described in the
    module docstring; returns the number of images per split. ``splits.csv`` is written last, so a
    pack cut short is no packed folder."""
    output.mkdir(parents=True, exist_ok=True)
    (output / SPLITS_FILE).unlink(missing_ok=True)
    index = {name: i for i, name in enumerate(table.class_names)}
    counts = {}
    for split in SPLITS:
        paths, labels = table.select(split)
        counts[split] = len(paths)
        if not paths:
            continue
        optimize(
            partial(_sample, root=root),
            [(row, path, index[label]) for row, (path, label) in enumerate(zip(paths, labels))],
            output_dir=str(output / split),
            chunk_bytes=chunk_bytes,
            num_workers=max(1, min(num_workers, len(paths))),
            keep_data_ordered=True,  # each worker writes a slice in order: chunks follow splits.csv
            reorder_files=False,
            mode="overwrite",
            verbose=False,
            # the platform's start method: spawn would import torch anew in every worker (seconds each)
            start_method=multiprocessing.get_all_start_methods()[0],
        )
    meta = {"class_names": table.class_names, "bottom_trim": bottom_trim, "images": counts}
    atomic_write(output / CLASSES_FILE, json.dumps(meta, indent=1))
    table.write(output / SPLITS_FILE)
    return counts


def check_packed(folder: Path) -> dict[str, Any]:
    """The contents of ``folder/classes.json``; a :class:`DataError` with the fix where ``folder`` is
    not a packed folder."""
    missing = [name for name in (SPLITS_FILE, CLASSES_FILE) if not (folder / name).is_file()]
    if missing:
        raise DataError(
            f"'{folder}' is not a folder of packed shards (it lacks {', '.join(missing)}). Point "
            f"data.root at the pack.output of a finished python -m fgclass.pack, or: {repack_hint(folder)}"
        )
    try:
        return json.loads((folder / CLASSES_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"Cannot read '{folder / CLASSES_FILE}' ({exc}). {repack_hint(folder)}") from None


def check_shards(folder: Path, split: str, expected: int) -> None:
    """A :class:`DataError` naming the file where the shards of ``split`` in the packed ``folder`` are
    missing, truncated or altered, or hold another number of images than ``splits.csv`` lists."""
    if expected == 0:
        return
    index_file = folder / split / INDEX_FILE
    try:
        chunks = json.loads(index_file.read_text())["chunks"]
        sizes = {chunk["filename"]: (chunk["chunk_bytes"], chunk["chunk_size"]) for chunk in chunks}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else f"not LitData's index ({exc!r})"
        raise DataError(
            f"Cannot read the shard index '{index_file}': {reason}. {repack_hint(folder)}"
        ) from None
    for name, (size, _) in sizes.items():
        chunk = folder / split / name
        found = chunk.stat().st_size if chunk.is_file() else None
        if found != size:
            what = (
                "is missing"
                if found is None
                else f"is {found} bytes, its index says {size}: truncated or altered"
            )
            raise DataError(f"Shard '{chunk}' {what}. {repack_hint(folder)}")
    packed = sum(count for _, count in sizes.values())
    if packed != expected:
        raise DataError(
            f"The shards in '{folder / split}' hold {packed} images, but '{folder / SPLITS_FILE}' lists "
            f"{expected} {split} images. {repack_hint(folder)}"
        )


def read_sample(read: Callable[[Any], dict[str, Any]], key: Any, folder: Path) -> dict[str, Any]:
    """``read(key)``, LitData's read of one sample of the shards in ``folder``; anything it raises
    becomes a :class:`DataError` naming the chunk (or the folder) and the fix."""
    try:
        return read(key)
    except Exception as exc:
        where = getattr(exc, "filename", None) or folder
        raise DataError(
            f"Cannot read a sample from the shards '{where}' ({type(exc).__name__}: {exc}). "
            f"{repack_hint(folder.parent)}"
        ) from None


def decode_sample(sample: dict[str, Any], folder: Path, crop: Crop | None) -> np.ndarray:
    """The decoded, cropped image of a sample read from the shards in ``folder``."""
    name = f"{folder}::{sample['path']}"  # where the bytes are, for the decoder's messages
    try:
        image = load_rgb(name, data=sample["image"])
    except ImageError as exc:
        raise DataError(f"{exc} The shards may be corrupt. {repack_hint(folder.parent)}") from None
    return crop(image, sample["path"]) if crop is not None else image


class ShardImages(ImageDataset):
    """One split of a packed folder (the shards of ``folder``), read image by image: items as
    :class:`~fgclass.data.dataset.ImageDataset`'s; ``positions[i]`` is the sample of ``paths[i]``."""

    def __init__(
        self,
        folder: Path,
        paths: Sequence[str],
        targets: Sequence[int],
        positions: Sequence[int],
        transform: A.BaseCompose,
        crop: Crop | None = None,
    ) -> None:
        super().__init__(folder, paths, targets, transform, crop=crop)
        self.positions = list(positions)
        self._reader: StreamingDataset | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_reader": None}  # each process opens its own reader

    def image(self, index: int) -> np.ndarray:
        if self._reader is None:  # opened where it is first read (each loader worker its own)
            self._reader = StreamingDataset(str(self.root))
        sample = read_sample(self._reader.__getitem__, self.positions[index], self.root)
        if sample["path"] != self.paths[index]:
            raise DataError(
                f"The shards in '{self.root}' hold '{sample['path']}' where '{self.paths[index]}' should "
                f"be: they were packed from another split. {repack_hint(self.root.parent)}"
            )
        return decode_sample(sample, self.root, self.crop)


class ShardStream(StreamingDataset):
    """The training split of a packed folder, streamed: LitData shuffles the order of the chunks
    and of the images inside each from ``seed`` and the epoch, and gives every rank and loader worker
    its own images, the same number of whole batches on every rank (``drop_last``: up to one batch
    per rank of the epoch's order sits that epoch out). Items are ``(image, label, index)`` as
    :class:`ShardImages`' are, each image augmented from its own seed ``(seed, epoch, index)``."""

    def __init__(
        self,
        folder: Path,
        pipeline: A.BaseCompose,
        seed: int,
        crop: Crop | None = None,
        drop_last: bool = True,
    ) -> None:
        super().__init__(str(folder), shuffle=True, seed=seed, drop_last=drop_last)
        self.folder, self.pipeline, self.crop = folder, pipeline, crop

    def __getitem__(self, index: Any) -> tuple[torch.Tensor, int, int]:
        sample = read_sample(super().__getitem__, index, self.folder)
        image = decode_sample(sample, self.folder, self.crop)
        reseed(
            self.pipeline, derived_seed(self.seed, self.current_epoch - 1, sample["index"])
        )  # epochs from 1
        return self.pipeline(image=image)["image"], sample["label"], sample["index"]
