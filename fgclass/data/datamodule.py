"""The LightningDataModule of every dataset; its on-disk layout (:mod:`fgclass.data.sources`) is
given to it, as is the embedding judge's feature extractor.

``prepare_data`` finds the images, checks every file, groups near-duplicates, splits and writes
``splits.csv`` into the run's output folder (:mod:`fgclass.data.split_pipeline`); ``setup`` builds the
datasets from that file, so a run trains on exactly what ``splits.csv`` says (``fgclass.eval`` re-uses it).
"""

from __future__ import annotations

import inspect
import logging
import os
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import albumentations as A
import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset

from fgclass.data.crops import check_crop, layout_crop
from fgclass.data.dataset import ImageDataset
from fgclass.data.embeddings import ImageFeatures
from fgclass.data.framing import (
    DEFAULT_CROP_PCT,
    check_crop_pct,
    derived_resize_size,
    warn_if_framing_differs,
)
from fgclass.data.loaders import default_num_workers, make_loader
from fgclass.data.sampling import check_sampling, training_sampler
from fgclass.data.sources import Layout
from fgclass.data.split_pipeline import split_dataset
from fgclass.data.splits import SPLITS, SPLITS_FILE, SplitConfig, SplitTable
from fgclass.data.transforms import check_output_size, eval_transform, reseed, train_transform
from fgclass.errors import ConfigError, DataError
from fgclass.text import listing

log = logging.getLogger(__name__)


class ImageClassificationDataModule(L.LightningDataModule):
    """Find, check, split and load a labelled image dataset.

    Args:
        root: dataset folder, laid out as ``layout`` expects.
        layout: the :class:`~fgclass.data.sources.Layout` class (or a partial of it) of the dataset's
            on-disk layout, called with ``root`` and ``layout_options``.
        output_dir: where ``splits.csv`` is written (the run's output folder).
        splits_file: re-use this ``splits.csv`` as it is instead of splitting (re-evaluation);
            it is copied into ``output_dir``.
        image_size: side of the square images the model is validated and tested on.
        train_image_size: side of the training crops (``None``: ``image_size``); smaller crops train
            faster and, tested at a larger ``image_size``, lose little (Touvron et al., FixRes).
        resize_size: shorter side before the centre crop of the eval pipeline (``None``:
            ``round(image_size / crop_pct)``, :func:`~fgclass.data.framing.derived_resize_size`).
        crop_pct: the share of the resized image's shorter side that the eval centre crop keeps
            (timm's convention; the config's default is the backbone's own).
        augment: Albumentations training pipeline ending at ``image_size``; ``None`` trains on
            the eval pipeline.
        split: :class:`~fgclass.data.splits.SplitConfig` fields (``val``, ``test``, ``seed``,
            ``group_near_duplicates``, ``threshold``, ``mode``), or a ``mode`` alone
            (``official``/``random``) with the other fields at their defaults.
        crop: ``none`` (whole images) or ``bbox``: train and evaluate on the object's box from the
            publisher's files (:meth:`Layout.boxes <fgclass.data.sources.Layout.boxes>`), each side
            moved out by ``crop_margin`` times the box's width or height.
        train_fraction: share of each class's training split to use (val/test unchanged).
        sampling: how training draws images: ``natural``, ``sqrt`` or ``balanced`` over the classes
            (:func:`~fgclass.data.sampling.training_sampler`).
        batch_size / eval_batch_size / num_workers / pin_memory / persistent_workers: loaders.
            ``num_workers=None`` picks one per core; ``pin_memory=None`` pins when CUDA is present.
        in_memory: decode every image once into RAM before training.
        cache_dir: where per-file scan results (validity, hashes) are cached.
        seed: training randomness: the data order and each image's augmentation are functions of
            (seed, epoch, index), so a resumed run replays what an uninterrupted one would.
        embedder: the feature extractor of the embedding judge (``split.embedding_threshold``),
            e.g. :func:`fgclass.models.features.packaged_lite0_features`.
        layout_options: the layout's own settings (e.g. ``csv_file`` of the butterfly layout).
    """

    def __init__(
        self,
        root: str | Path,
        layout: Callable[..., Layout],
        output_dir: str | Path | None = None,
        splits_file: str | Path | None = None,
        image_size: int = 224,
        train_image_size: int | None = None,
        resize_size: int | None = None,
        crop_pct: float = DEFAULT_CROP_PCT,
        augment: A.BasicTransform | A.BaseCompose | None = None,
        split: Mapping[str, Any] | SplitConfig | str | None = None,
        crop: str = "none",
        crop_margin: float = 0.0,
        train_fraction: float = 1.0,
        sampling: str = "natural",
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        num_workers: int | None = None,
        pin_memory: bool | None = None,
        persistent_workers: bool = True,
        in_memory: bool = False,
        cache_dir: str | Path | None = None,
        seed: int = 0,
        embedder: ImageFeatures | None = None,
        **layout_options: Any,
    ) -> None:
        super().__init__()
        self.layout = _build_layout(layout, Path(root).expanduser(), layout_options)
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.splits_file = Path(splits_file) if splits_file is not None else None
        if self.output_dir is None and self.splits_file is None:
            raise ConfigError("Give the data module an output_dir (for splits.csv) or a splits_file.")
        check_crop_pct(crop_pct)
        self.image_size = image_size
        self.crop_pct = crop_pct
        self.resize_size = resize_size or derived_resize_size(image_size, crop_pct)
        self.train_image_size = train_image_size or image_size
        self.eval_pipeline = eval_transform(image_size, self.resize_size)
        self.train_pipeline = train_transform(augment, self.eval_pipeline)
        check_output_size(
            self.train_pipeline, self.train_image_size, "training (augment)", "data.train_image_size"
        )
        self.augmented = augment is not None
        warn_if_framing_differs(augment, image_size, self.resize_size, crop_pct)
        if isinstance(split, str):
            split = {"mode": split}
        self.split = split if isinstance(split, SplitConfig) else SplitConfig(**(split or {}))
        check_crop(crop, crop_margin)
        self.crop, self.crop_margin = crop, crop_margin
        self.train_fraction = train_fraction
        self.sampling = check_sampling(sampling)
        for name, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size or 1)):
            if value < 1:
                raise ConfigError(f"data.{name}={value}: use a positive number of images per batch.")
        if num_workers is not None and num_workers < 0:
            raise ConfigError(f"data.num_workers={num_workers}: use 0 (load in the main process) or more.")
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = default_num_workers() if num_workers is None else num_workers
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        self.persistent_workers = persistent_workers
        self.in_memory = in_memory
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.seed = seed
        self.embedder = embedder
        self.table: SplitTable | None = None
        self.datasets: dict[str, ImageDataset] = {}

    # --- splitting ---------------------------------------------------------------------------
    @property
    def splits_path(self) -> Path:
        """The ``splits.csv`` this module trains and evaluates on."""
        return self.splits_file or self.output_dir / SPLITS_FILE

    def make_splits(self) -> SplitTable:
        """Find and check every image, group near-duplicates, split. Raises on any bad file."""
        images = self.layout.find()
        return split_dataset(images, self.split, self.train_fraction, self.cache_dir, self.embedder)

    def prepare_data(self) -> None:
        """Make the images available (:meth:`Layout.prepare <fgclass.data.sources.Layout.prepare>`), then
        write ``splits.csv`` into ``output_dir`` (once): a new split, or a copy of ``splits_file``."""
        self.layout.prepare()
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
        make_dataset = self.dataset_maker(table)
        index = {name: i for i, name in enumerate(table.class_names)}
        for split in SPLITS:
            paths, labels = table.select(split)
            if split != "train":  # a fixed random order: limit_val/test_batches then sample every class
                order = np.random.default_rng(self.split.seed).permutation(len(paths))
                paths, labels = [paths[i] for i in order], [labels[i] for i in order]
            pipeline = self.train_pipeline if split == "train" else self.eval_pipeline
            self.datasets[split] = make_dataset(split, paths, [index[label] for label in labels], pipeline)
        reseed(self.train_pipeline, self.seed)  # items read without a seed (e.g. the sample grid)
        self.table = table

    def dataset_maker(self, table: SplitTable) -> Callable[..., ImageDataset]:
        """``make(split, paths, targets, pipeline)``, one split's dataset: the image files under the
        layout's root (checked to be there for every row of ``table``), cropped as ``data.crop`` says."""
        root = self.layout.images_root()
        missing = [p for p in table.paths if not os.path.isfile(os.path.join(root, p))]  # str: 100 k files
        if missing:
            raise DataError(
                f"{len(missing)} files listed in {self.splits_path} are missing under '{root}':\n"
                f"{listing(missing)}\nPoint data.root at the dataset this split was made from."
            )
        crop = layout_crop(self.layout, self.crop, self.crop_margin, table.paths)
        return lambda _, paths, labels, pipe: ImageDataset(root, paths, labels, pipe, self.in_memory, crop)

    @property
    def class_names(self) -> list[str]:
        """Class names in index order (available after :meth:`setup`)."""
        if self.table is None:
            raise RuntimeError("Call setup() before reading class_names.")
        return self.table.class_names

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def class_counts(self) -> torch.Tensor:
        """Training images per class, in index order (after :meth:`setup`): re-weighted losses read it."""
        return torch.bincount(torch.tensor(self.datasets["train"].targets), minlength=self.num_classes)

    # --- loaders -----------------------------------------------------------------------------
    def _loader(self, split: str, batch_size: int) -> DataLoader:
        dataset = self.datasets[split]
        train = split == "train"
        return make_loader(
            dataset,
            batch_size,
            self.num_workers,
            sampler=training_sampler(dataset, self.seed, self.sampling) if train else None,
            drop_last=train and len(dataset) > batch_size,  # no size-1 batch for BatchNorm
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
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
        return make_loader(dataset, self.eval_batch_size, self.num_workers, pin_memory=self.pin_memory)


def _build_layout(layout: Callable[..., Layout], root: Path, options: Mapping[str, Any]) -> Layout:
    """``layout(root, **options)``, with unknown options named as the ``data.*`` keys to fix."""
    accepted = [name for name in inspect.signature(layout).parameters if name != "root"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        name = getattr(getattr(layout, "func", layout), "__name__", layout)  # a class, or Hydra's partial
        raise ConfigError(
            f"{', '.join(f'data.{key}' for key in unknown)}: not a setting of the data module or of its "
            f"layout {name} (whose settings are: {', '.join(f'data.{key}' for key in accepted) or 'none'}). "
            "Remove it, or pick the data config it belongs to."
        )
    return layout(root=root, **options)


# Data module classes of run folders written before the layouts were injected (run_config.yaml)
_OLD_MODULES = {
    "FishDataModule": "fgclass.data.sources.FishLayout",
    "ButterflyDataModule": "fgclass.data.sources.ButterflyLayout",
    "ImageFolderDataModule": "fgclass.data.sources.ImageFolderLayout",
    "SyntheticFishDataModule": "fgclass.data.synthetic.SyntheticFishLayout",
}


def upgrade_config(cfg: DictConfig) -> DictConfig:
    """A data config as today's :class:`ImageClassificationDataModule` reads it.

    Configs saved before the layout was injected name one data module class per layout
    (``_target_: fgclass.data.FishDataModule``, ...): they become ``ImageClassificationDataModule``
    with that ``layout``, every other key kept (the butterfly and synthetic settings are layout
    options). Other configs are returned unchanged.
    """
    module, _, name = str(cfg.get("_target_", "")).rpartition(".")
    if module not in ("fgclass.data", "fgclass.data.datamodule") or name not in _OLD_MODULES:
        return cfg
    upgraded = cfg.copy()
    upgraded._target_ = "fgclass.data.ImageClassificationDataModule"
    upgraded.layout = {"_target_": _OLD_MODULES[name], "_partial_": True}
    return upgraded
