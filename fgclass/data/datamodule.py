"""LightningDataModules: one shared base, one subclass per on-disk layout.

``prepare_data`` finds the images, checks every file, groups near-duplicates, splits and writes
``splits.csv`` into the run's output folder; ``setup`` builds the datasets from that file, so a run
trains on exactly what ``splits.csv`` says (and ``fgclass.eval`` can re-use it).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import albumentations as A
import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from fgclass.data.dataset import ImageDataset
from fgclass.data.duplicates import group_near_duplicates_cached, join_groups
from fgclass.data.embeddings import image_embeddings, similar_pairs
from fgclass.data.sampling import SeededSampler
from fgclass.data.scan import cache_file_for, scan_images
from fgclass.data.sources import (
    LabelledImages,
    find_butterfly_images,
    find_fish_images,
    find_folder_images,
    listing,
    resolve_fish_root,
)
from fgclass.data.splits import (
    SPLITS,
    SPLITS_FILE,
    SplitConfig,
    SplitTable,
    assign_splits,
    subsample_train,
)
from fgclass.data.synthetic import write_fish_dataset
from fgclass.data.transforms import check_output_size, eval_transform, reseed, train_transform
from fgclass.errors import ConfigError, DataError

log = logging.getLogger(__name__)


def default_num_workers() -> int:
    """One loader worker per available core, at most 8."""
    return min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def worker_context(num_workers: int) -> multiprocessing.context.BaseContext | None:
    """The platform's own start method for loader workers. Named explicitly: inside a job of
    ``hydra/launcher=joblib`` the default context is loky's, whose processes a DataLoader cannot
    start (``'Process' object has no attribute 'env'``)."""
    return multiprocessing.get_context(multiprocessing.get_all_start_methods()[0]) if num_workers else None


class ImageClassificationDataModule(L.LightningDataModule):
    """Find, check, split and load a labelled image dataset.

    Args:
        root: dataset folder, laid out as the subclass expects.
        output_dir: where ``splits.csv`` is written (the run's output folder).
        splits_file: re-use this ``splits.csv`` as it is instead of splitting (re-evaluation);
            it is copied into ``output_dir``.
        image_size: side of the square images the model is validated and tested on.
        train_image_size: side of the training crops (``None``: ``image_size``); smaller crops train
            faster and, tested at a larger ``image_size``, lose little (Touvron et al., FixRes).
        resize_size: shorter side before the centre crop of the eval pipeline.
        augment: Albumentations training pipeline ending at ``image_size``; ``None`` trains on
            the eval pipeline.
        split: :class:`~fgclass.data.splits.SplitConfig` fields (``val``, ``test``, ``seed``,
            ``group_near_duplicates``, ``threshold``).
        train_fraction: share of each class's training split to use (val/test unchanged).
        batch_size / eval_batch_size / num_workers / pin_memory / persistent_workers: loaders.
            ``num_workers=None`` picks one per core; ``pin_memory=None`` pins when CUDA is present.
        in_memory: decode every image once into RAM before training.
        cache_dir: where per-file scan results (validity, hashes) are cached.
        seed: training randomness: the data order and each image's augmentation are functions of
            (seed, epoch, index), so a resumed run replays what an uninterrupted one would.
    """

    def __init__(
        self,
        root: str | Path,
        output_dir: str | Path | None = None,
        splits_file: str | Path | None = None,
        image_size: int = 224,
        train_image_size: int | None = None,
        resize_size: int = 256,
        augment: A.BasicTransform | A.BaseCompose | None = None,
        split: Mapping[str, Any] | SplitConfig | None = None,
        train_fraction: float = 1.0,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        num_workers: int | None = None,
        pin_memory: bool | None = None,
        persistent_workers: bool = True,
        in_memory: bool = False,
        cache_dir: str | Path | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.root = Path(root).expanduser()
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.splits_file = Path(splits_file) if splits_file is not None else None
        if self.output_dir is None and self.splits_file is None:
            raise ConfigError("Give the data module an output_dir (for splits.csv) or a splits_file.")
        self.image_size = image_size
        self.resize_size = resize_size
        self.train_image_size = train_image_size or image_size
        self.eval_pipeline = eval_transform(image_size, resize_size)
        self.train_pipeline = train_transform(augment, self.eval_pipeline)
        check_output_size(
            self.train_pipeline, self.train_image_size, "training (augment)", "data.train_image_size"
        )
        self.augmented = augment is not None
        self.split = split if isinstance(split, SplitConfig) else SplitConfig(**(split or {}))
        self.train_fraction = train_fraction
        for name, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size or 1)):
            if value < 1:
                raise ConfigError(f"data.{name}={value}: use a positive number of images per batch.")
        if num_workers is not None and num_workers < 0:
            raise ConfigError(f"data.num_workers={num_workers}: use 0 (load in the main process) or more.")
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = default_num_workers() if num_workers is None else num_workers
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        self.persistent_workers = persistent_workers and self.num_workers > 0
        self.in_memory = in_memory
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.seed = seed
        self.table: SplitTable | None = None
        self.datasets: dict[str, ImageDataset] = {}

    # --- layout-specific -------------------------------------------------------------------
    def find_images(self) -> LabelledImages:
        """All labelled images of the dataset (subclasses read their layout)."""
        raise NotImplementedError

    def dataset_root(self) -> Path:
        """The folder that paths in ``splits.csv`` are relative to."""
        return self.root

    # --- splitting ---------------------------------------------------------------------------
    @property
    def splits_path(self) -> Path:
        """The ``splits.csv`` this module trains and evaluates on."""
        return self.splits_file or self.output_dir / SPLITS_FILE

    def make_splits(self) -> SplitTable:
        """Find and check every image, group near-duplicates, split. Raises on any bad file."""
        images = self.find_images()
        cache = cache_file_for(self.cache_dir, images.root) if self.cache_dir else None
        scan = scan_images(images.root, images.paths, cache)
        if scan.errors:
            bad = [f"{images.root / p}: {why}" for p, why in sorted(scan.errors.items())]
            raise DataError(
                f"{len(bad)} image files cannot be decoded (corrupt or truncated):\n"
                f"{listing(bad)}\nRe-download or delete these files, then run again."
            )
        groups = None
        if self.split.group_near_duplicates:
            groups = group_near_duplicates_cached(scan.hashes, self.split.threshold, self.cache_dir)
            if self.split.embedding_threshold is not None:
                digests = [r.digest for r in scan.records]
                embeddings = image_embeddings(images.root, images.paths, digests, self.cache_dir)
                groups = join_groups(groups, similar_pairs(embeddings, self.split.embedding_threshold))
        splits = assign_splits(images.labels, groups, self.split, where=str(images.root))
        splits = subsample_train(images.labels, splits, self.train_fraction, self.split.seed)
        group_col = groups.tolist() if groups is not None else list(range(len(images.paths)))
        return SplitTable(images.paths, images.labels, splits.tolist(), group_col)

    def prepare_data(self) -> None:
        """Write ``splits.csv`` into ``output_dir`` (once): a new split, or a copy of ``splits_file``."""
        if self.splits_file is not None:
            if self.output_dir is not None:
                copy = self.output_dir / SPLITS_FILE
                if copy.resolve() != self.splits_file.resolve():
                    SplitTable.read(self.splits_file).write(copy)
            return
        if self.splits_path.is_file():
            return
        table = self.make_splits()
        table.write(self.splits_path)
        counts = Counter(table.splits)
        log.info("Wrote %s: %s", self.splits_path, ", ".join(f"{s} {counts[s]}" for s in sorted(counts)))

    def setup(self, stage: str | None = None) -> None:
        """Build train/val/test datasets from ``splits.csv``."""
        if self.table is not None:
            return
        self.prepare_data()
        table = SplitTable.read(self.splits_path)
        root = self.dataset_root()
        missing = [p for p in table.paths if not (root / p).is_file()]
        if missing:
            raise DataError(
                f"{len(missing)} files listed in {self.splits_path} are missing under '{root}':\n"
                f"{listing(missing)}\nPoint data.root at the dataset this split was made from."
            )
        index = {name: i for i, name in enumerate(table.class_names)}
        for split in SPLITS:
            paths, labels = table.select(split)
            if split != "train":  # a fixed random order: limit_val/test_batches then sample every class
                order = np.random.default_rng(self.split.seed).permutation(len(paths))
                paths, labels = [paths[i] for i in order], [labels[i] for i in order]
            pipeline = self.train_pipeline if split == "train" else self.eval_pipeline
            self.datasets[split] = ImageDataset(
                root, paths, [index[label] for label in labels], pipeline, self.in_memory
            )
        reseed(self.train_pipeline, self.seed)  # items read without a seed (e.g. the sample grid)
        self.table = table

    @property
    def class_names(self) -> list[str]:
        """Class names in index order (available after :meth:`setup`)."""
        if self.table is None:
            raise RuntimeError("Call setup() before reading class_names.")
        return self.table.class_names

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    # --- loaders -----------------------------------------------------------------------------
    def _loader(self, split: str, batch_size: int) -> DataLoader:
        dataset = self.datasets[split]
        train = split == "train"
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=SeededSampler(dataset, self.seed) if train else None,
            drop_last=train and len(dataset) > batch_size,  # no size-1 batch for BatchNorm
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
            multiprocessing_context=worker_context(self.num_workers),
        )

    def train_dataloader(self) -> DataLoader:
        loader = self._loader("train", self.batch_size)
        if self.trainer is not None:  # a resumed fit reads its first batches before it calls set_epoch:
            # set the epoch Lightning will set (its count of processed epochs) now
            loader.sampler.set_epoch(self.trainer.fit_loop.epoch_progress.current.processed)
        return loader

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size)

    def eval_loader(self, dataset: Dataset) -> DataLoader:
        """A one-pass loader over any eval-time ``dataset`` (e.g. a split wrapped with noise),
        in order, with this module's eval batch size and worker settings."""
        return DataLoader(
            dataset,
            batch_size=self.eval_batch_size,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            multiprocessing_context=worker_context(self.num_workers),
        )


class FishDataModule(ImageClassificationDataModule):
    """Kaggle 'A Large-Scale Fish Dataset' as downloaded (or one folder per class)."""

    def find_images(self) -> LabelledImages:
        return find_fish_images(self.root)

    def dataset_root(self) -> Path:
        return resolve_fish_root(self.root)


class ButterflyDataModule(ImageClassificationDataModule):
    """Kaggle 75-class butterfly set: ``Training_set.csv`` + ``train/``."""

    def __init__(
        self,
        *args: Any,
        csv_file: str = "Training_set.csv",
        image_dir: str = "train",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.csv_file = csv_file
        self.image_dir = image_dir

    def find_images(self) -> LabelledImages:
        return find_butterfly_images(self.root, self.csv_file, self.image_dir)


class ImageFolderDataModule(ImageClassificationDataModule):
    """Any ``<root>/<class>/<images>`` tree: bring your own dataset."""

    def find_images(self) -> LabelledImages:
        return find_folder_images(self.root)


class SyntheticFishDataModule(FishDataModule):
    """The fish layout, generated under ``root`` on first use: the demo and tests need no download."""

    def __init__(
        self,
        *args: Any,
        photos_per_class: int = 8,
        copies_per_photo: int = 3,
        source_image_size: int = 64,
        generator_seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.generator = {
            "photos_per_class": photos_per_class,
            "copies_per_photo": copies_per_photo,
            "image_size": source_image_size,
            "seed": generator_seed,
        }

    def prepare_data(self) -> None:
        if not (self.root / "Fish_Dataset").is_dir():
            write_fish_dataset(self.root, **self.generator)
            log.info("Generated a synthetic fish dataset in %s", self.root)
        super().prepare_data()
