"""``data=shards``: the data module of a folder packed by ``python -m fgclass.pack``
(:mod:`fgclass.data.shards`).

It is the image-folder data module (:class:`~fgclass.data.datamodule.ImageClassificationDataModule`:
the same transforms, batches, metrics and report files) on the packed ``splits.csv``, with two
differences: each split's images come from the shards, and training streams them through LitData,
which gives every rank and loader worker its own images (no ``DistributedSampler``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from torch.utils.data import DataLoader

from fgclass.data.crops import layout_crop
from fgclass.data.datamodule import ImageClassificationDataModule
from fgclass.data.dataset import ImageDataset
from fgclass.data.loaders import make_stream_loader
from fgclass.data.shards import ShardImages, ShardStream, check_packed, check_shards, repack_hint
from fgclass.data.sources import LabelledImages, Layout
from fgclass.data.splits import SPLITS, SPLITS_FILE, SplitTable
from fgclass.errors import ConfigError, DataError
from fgclass.text import listing

# Lightning's caution about an iterable dataset with a length: LitData gives each worker its own share
warnings.filterwarnings("ignore", message=r"Your `IterableDataset` has `__len__` defined")


@dataclass(frozen=True)
class ShardLayout(Layout):
    """A packed folder: ``splits.csv``, ``classes.json`` and one folder of shards per split."""

    def prepare(self) -> None:
        check_packed(self.root)

    @property
    def bottom_trim(self) -> int:  # type: ignore[override]
        """The banner trim of the layout the images were packed from."""
        return int(check_packed(self.root).get("bottom_trim", 0))

    def find(self) -> LabelledImages:
        raise DataError(
            f"'{self.root}' holds packed shards, not image files: run this command on the dataset they "
            "were packed from (its data config and data.root)."
        )


class ShardDataModule(ImageClassificationDataModule):
    """:class:`~fgclass.data.datamodule.ImageClassificationDataModule` on a packed folder
    (``data.root``): its arguments, with ``layout`` a :class:`ShardLayout` and ``splits_file`` the
    packed ``splits.csv`` (or a run's copy of it)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        fixed = {"sampling": ("natural", self.sampling), "in_memory": (False, self.in_memory)}
        fixed["crop"] = ("none", self.crop)
        wrong = [f"data.{key}={value}" for key, (default, value) in fixed.items() if value != default]
        if wrong:
            raise ConfigError(
                f"{', '.join(wrong)}: not available with data=shards (training streams each image once per "
                "epoch, whole); keep the default, or train on the image folder the shards were packed from."
            )

    def dataset_maker(self, table: SplitTable) -> Any:
        """``make(split, paths, targets, pipeline)``: a :class:`~fgclass.data.shards.ShardImages` of the
        split's shards, after checking every shard file and that the packed split holds ``table``'s."""
        folder = self.layout.root
        packed = SplitTable.read(folder / SPLITS_FILE)
        positions: dict[str, dict[str, int]] = {}
        for split in SPLITS:
            paths, _ = packed.select(split)
            check_shards(folder, split, len(paths))
            positions[split] = {path: i for i, path in enumerate(paths)}
        if table.select("train") != packed.select("train") or table.class_names != packed.class_names:
            raise DataError(
                f"'{self.splits_path}' is not the split packed in '{folder}' (its training images or classes "
                f"differ). Train on the packed split (data.splits_file=null), or {repack_hint(folder)} "
                f"data.splits_file={self.splits_path}"
            )
        crop = layout_crop(self.layout, self.crop, self.crop_margin, table.paths)  # the banner trim

        def make(split: str, paths: list[str], targets: list[int], pipeline: Any) -> ImageDataset:
            absent = [path for path in paths if path not in positions[split]]
            if absent:
                raise DataError(
                    f"{len(absent)} {split} images of '{self.splits_path}' are not in the {split} shards of "
                    f"'{folder}':\n{listing(absent)}\n"
                    f"{repack_hint(folder)} data.splits_file={self.splits_path}"
                )
            where = [positions[split][path] for path in paths]
            return ShardImages(folder / split, paths, targets, where, pipeline, crop)

        return make

    def train_dataloader(self) -> DataLoader:
        """The training split streamed by LitData, the same number of whole batches on every rank."""
        ranks = self.trainer.world_size if self.trainer is not None else 1
        images = len(self.datasets["train"])
        if images < self.batch_size * ranks:
            raise ConfigError(
                f"data.batch_size={self.batch_size}: the {images} training images of '{self.layout.root}' "
                f"are fewer than one batch for each of the {ranks} ranks; lower data.batch_size."
            )
        stream = ShardStream(
            self.layout.root / "train", self.train_pipeline, self.seed, self.datasets["train"].crop
        )
        done = self.trainer.fit_loop.epoch_progress.current.processed if self.trainer is not None else 0
        return make_stream_loader(
            stream,
            self.batch_size,
            self.num_workers,
            epoch=done,  # a resumed fit goes on with the next epoch's order and augmentations
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
        )
