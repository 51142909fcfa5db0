"""Frozen-feature caching (``finetune.cache_features=true``).

When the backbone stays frozen for the whole run and every split goes through the deterministic
eval pipeline, the backbone's output for an image never changes. :class:`FeatureDataModule` then
runs the backbone once per split (eval mode, the Trainer's precision and device) and serves
batches of ``(features, label, index)``; the :class:`~fgclass.models.Classifier` sends 2-D
inputs straight to its head, so training, validation and testing see exactly the logits the full
forward pass would give, at the cost of the head alone.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from typing import Any

import lightning as L
import torch
from lightning.pytorch.strategies import ParallelStrategy
from torch.utils.data import DataLoader

from fgclass.data.datamodule import ImageClassificationDataModule
from fgclass.errors import ConfigError
from fgclass.finetune.strategy import Finetuning
from fgclass.models.classifier import Classifier

log = logging.getLogger(__name__)
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def check_cacheable(images: ImageClassificationDataModule, callbacks: Sequence[L.Callback]) -> None:
    """Raise :class:`ConfigError` unless the backbone is frozen throughout and training is deterministic."""
    finetuning = [cb for cb in callbacks if isinstance(cb, Finetuning)]
    if not finetuning or not all(cb.freeze_backbone and not cb.phases for cb in finetuning):
        raise ConfigError(
            "finetune.cache_features=true needs the backbone frozen for the whole run, but this "
            "finetune config trains it. Use finetune=head_only, or set finetune.cache_features=false."
        )
    if images.augmented:
        raise ConfigError(
            "finetune.cache_features=true needs a deterministic training pipeline (each image gives "
            "the same features every epoch), but data.augment is set. Use augment=none, or set "
            "finetune.cache_features=false."
        )


class FeatureBatches:
    """Batches sliced from in-memory tensors, like a ``DataLoader`` without per-item work.

    Shuffling draws from torch's global generator (seeded by ``seed_everything``).
    """

    def __init__(
        self, features: torch.Tensor, labels: torch.Tensor, batch_size: int, shuffle: bool, drop_last: bool
    ) -> None:
        self.features = features
        self.labels = labels
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        n = len(self.labels)
        order = torch.randperm(n) if self.shuffle else torch.arange(n)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            index = order[start : start + self.batch_size]
            yield self.features[index], self.labels[index], index


class FeatureDataModule(L.LightningDataModule):
    """Serves backbone features of an image data module's splits, computed once per split.

    Features are computed on first request of a split's loader (by then the Trainer has put the
    model on its device), in eval mode under the Trainer's precision context, with the image
    module's eval pipeline and loader settings. Batch sizes, shuffling and ``drop_last`` follow
    the image module. Other attributes (``class_names``, ``datasets``, ``table``, ...) are the
    image module's.

    Args:
        images: the image data module (set up), whose train pipeline is the eval pipeline.
        model: the classifier whose frozen backbone computes the features.
        callbacks: the run's callbacks; one :class:`Finetuning` must freeze the backbone throughout.
    """

    def __init__(
        self, images: ImageClassificationDataModule, model: Classifier, callbacks: Sequence[L.Callback]
    ) -> None:
        check_cacheable(images, callbacks)
        super().__init__()
        self.images = images
        self.model = model
        self.features: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def __getattr__(self, name: str) -> Any:
        if name == "images":  # not set yet: avoid recursing
            raise AttributeError(name)
        return getattr(self.images, name)

    def prepare_data(self) -> None:
        self.images.prepare_data()

    def setup(self, stage: str | None = None) -> None:
        self.images.setup(stage)
        if self.trainer is not None and isinstance(self.trainer.strategy, ParallelStrategy):
            raise ConfigError(
                "finetune.cache_features=true trains the head on one device (it is cheap); set "
                "trainer.devices=1 and a single-device trainer.strategy, or finetune.cache_features=false."
            )

    @torch.inference_mode()
    def _compute(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Backbone features and labels of every image of ``split``, in dataset order (CPU tensors)."""
        dataset = self.images.datasets[split]
        loader = DataLoader(
            dataset,
            batch_size=self.images.eval_batch_size,
            num_workers=self.images.num_workers,
            pin_memory=self.images.pin_memory,
        )
        context = self.trainer.precision_plugin.forward_context if self.trainer is not None else nullcontext
        was_training = self.model.training
        self.model.eval()
        chunks = []
        try:
            for images, _, _ in loader:
                with context():
                    chunks.append(self.model.features(images.to(self.model.device, non_blocking=True)).cpu())
        finally:
            self.model.train(was_training)
        return torch.cat(chunks), torch.as_tensor(dataset.targets)

    def _features(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        if split not in self.features:
            with torch.inference_mode(False):  # plain tensors: the head's autograd may save them
                features, labels = self._compute(split)
                self.features[split] = (features.clone(), labels.clone())
            log.info("Cached backbone features of %d %s images", len(labels), split)
        return self.features[split]

    def _loader(self, split: str, shuffle: bool, batch_size: int) -> FeatureBatches:
        features, labels = self._features(split)
        drop_last = shuffle and len(labels) > batch_size  # as the image loaders
        return FeatureBatches(features, labels, batch_size, shuffle, drop_last)

    def train_dataloader(self) -> FeatureBatches:
        return self._loader("train", True, self.images.batch_size)

    def val_dataloader(self) -> FeatureBatches:
        return self._loader("val", False, self.images.eval_batch_size)

    def test_dataloader(self) -> FeatureBatches:
        return self._loader("test", False, self.images.eval_batch_size)
