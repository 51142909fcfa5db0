"""Frozen-feature caching (``cache_features=true``).

While the backbone is frozen and every split goes through the deterministic eval pipeline, the
backbone's output for an image never changes. :class:`FeatureDataModule` then runs the backbone
once per split (eval mode, the Trainer's precision and device) and serves batches of
``(features, label, index)``; the :class:`~fgclass.models.Classifier` sends 2-D inputs straight
to its head, so the logits are exactly those of the full forward pass, at the cost of the head
alone. ``head_only`` runs train on features throughout; ``two_stage`` and ``gradual`` runs
during their first, frozen stage, then on images from the epoch that unfreezes the backbone.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import lightning as L
import torch
from lightning.pytorch.strategies import ParallelStrategy
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler, TensorDataset

from fgclass.data.datamodule import ImageClassificationDataModule
from fgclass.errors import ConfigError
from fgclass.finetune.strategy import Finetuning
from fgclass.models.classifier import Classifier
from fgclass.models.features import fast_inference

log = logging.getLogger(__name__)
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
# ONNX Runtime's export (15-19 s) pays for itself from 2,800-7,100 images: it saves 2.2-5.6 ms per image
# over TorchScript's copy for Lite0-Lite2 on 2 CPU cores (benchmarks/RESULTS.md, section 4)
ONNX_FROM_IMAGES = 10_000


def frozen_epochs(images: ImageClassificationDataModule, callbacks: Sequence[L.Callback]) -> float:
    """Number of epochs that start with the backbone frozen (``inf``: all of them).

    Raises :class:`ConfigError` where caching would change what the model learns: a backbone
    that trains from the first epoch, or a random training pipeline.
    """
    finetuning = [cb for cb in callbacks if isinstance(cb, Finetuning)]
    epochs = min((p.epoch for cb in finetuning for p in cb.phases), default=math.inf)
    if not finetuning or not all(cb.freeze_backbone for cb in finetuning) or epochs < 1:
        raise ConfigError(
            "cache_features=true needs the backbone frozen at the start, but this finetune "
            "config trains it from the first epoch. Use finetune=head_only (or two_stage/gradual), or "
            "set cache_features=false."
        )
    if images.augmented:
        raise ConfigError(
            "cache_features=true needs a deterministic training pipeline (each image gives "
            "the same features every epoch), but data.augment is set. Use augment=none, or set "
            "cache_features=false."
        )
    return epochs


@torch.inference_mode()
def backbone_features(
    model: Classifier,
    images: ImageClassificationDataModule,
    split: str,
    context: Callable[[], AbstractContextManager] = nullcontext,
    onnx_from: int = ONNX_FROM_IMAGES,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Backbone features and labels of every image of ``split`` through that split's pipeline (the
    training split's is the eval pipeline when features are cached), in dataset order (CPU tensors),
    with the model in eval mode and each batch under ``context`` (the Trainer's precision); on a CPU
    in fp32 the backbone runs by :func:`~fgclass.models.features.fast_inference`: ONNX Runtime for a
    split of ``onnx_from`` images or more (long enough to repay its export), else TorchScript's frozen
    copy, each only where it repeats the eager backbone."""
    dataset = images.datasets[split]
    was_training = model.training
    model.eval()
    chunks = []
    backbone = None  # the backbone frozen for inference where it repeats the eager one (fp32 CPU)
    try:
        for batch, _, _ in images.eval_loader(dataset):
            with context():
                x = model.normalize(batch.to(model.device, non_blocking=True))
                if backbone is None:
                    backbone = fast_inference(model.backbone, x, onnx=len(dataset) >= onnx_from)
                    how = getattr(backbone, "name", "PyTorch")
                    log.info("Features of the %d %s images by %s", len(dataset), split, how)
                chunks.append(backbone(x).cpu())
    finally:
        model.train(was_training)
    return torch.cat(chunks), torch.as_tensor(dataset.targets)


class FeaturesWhileFrozen:
    """A split's loader: cached features while the backbone is frozen, else the image loader's
    batches. Batch size, shuffling and ``drop_last`` (so the number of batches) are the same."""

    def __init__(self, source: FeatureDataModule, split: str, images: DataLoader, shuffle: bool) -> None:
        self.source = source
        self.split = split
        self.images = images
        self.shuffle = shuffle

    def __len__(self) -> int:
        return len(self.images)

    def __iter__(self) -> Iterator[Batch]:
        cached = self.source.cached(self.split)
        if cached is None:
            return iter(self.images)
        features, labels = cached
        dataset = TensorDataset(features, labels, torch.arange(len(labels)))
        order = RandomSampler(dataset) if self.shuffle else SequentialSampler(dataset)
        # whole batches sliced from the tensors: a batch sampler and no per-item collation
        batches = BatchSampler(order, self.images.batch_size, self.images.drop_last)
        return iter(DataLoader(dataset, sampler=batches, batch_size=None))


class FeatureDataModule(L.LightningDataModule):
    """An image data module whose loaders serve backbone features while the backbone is frozen.

    A split's features are computed when its loader is first iterated in a frozen epoch (the
    Trainer has put the model on its device by then), in eval mode under the Trainer's precision
    context, with the image module's eval pipeline and loader settings; they are reused only
    while the backbone's weights are those they were computed with. Other attributes
    (``class_names``, ``datasets``, ``table``, ...) are the image module's.

    Args:
        images: the image data module (set up); its train pipeline must be the eval pipeline.
        model: the classifier whose backbone computes the features.
        callbacks: the run's callbacks; a :class:`Finetuning` one must freeze the backbone first.
    """

    def __init__(
        self, images: ImageClassificationDataModule, model: Classifier, callbacks: Sequence[L.Callback]
    ) -> None:
        self.frozen_epochs = frozen_epochs(images, callbacks)
        super().__init__()
        self.images = images
        self.model = model
        self.features: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._fingerprints: dict[str, torch.Tensor] = {}

    def __getattr__(self, name: str) -> Any:
        if name == "images":  # not set yet: avoid recursing
            raise AttributeError(name)
        return getattr(self.images, name)

    def prepare_data(self) -> None:
        self.images.prepare_data()

    def setup(self, stage: str | None = None) -> None:
        self.images.setup(stage)
        if self.images.sampling != "natural":  # the cached epochs shuffle every feature once
            raise ConfigError(
                f"data.sampling={self.images.sampling} draws images by class, which cached features do not: "
                "set cache_features=false, or data.sampling=natural."
            )
        if self.trainer is not None and isinstance(self.trainer.strategy, ParallelStrategy):
            raise ConfigError(
                "cache_features=true runs on one device (training the head is cheap); set "
                "trainer.devices=1 and a single-device trainer.strategy, or cache_features=false."
            )

    def cached(self, split: str) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Features and labels of ``split`` if the backbone is frozen in this epoch, else ``None``."""
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        if epoch >= self.frozen_epochs:
            return None
        fingerprint = self._fingerprint()
        if split not in self.features or not torch.equal(self._fingerprints[split], fingerprint):
            with torch.inference_mode(False):  # plain tensors: the head's autograd may save them
                trainer = self.trainer
                context = trainer.precision_plugin.forward_context if trainer is not None else nullcontext
                features, labels = backbone_features(self.model, self.images, split, context)
                self.features[split] = (features.clone(), labels.clone())
            self._fingerprints[split] = fingerprint
            log.info("Cached backbone features of %d %s images", len(labels), split)
        return self.features[split]

    @torch.inference_mode()
    def _fingerprint(self) -> torch.Tensor:
        """Per-tensor sums of the backbone's weights and buffers: changes when they change."""
        tensors = itertools.chain(self.model.backbone.parameters(), self.model.backbone.buffers())
        return torch.stack([t.sum(dtype=torch.float64) for t in tensors]).cpu()

    def train_dataloader(self) -> FeaturesWhileFrozen:
        return FeaturesWhileFrozen(self, "train", self.images.train_dataloader(), shuffle=True)

    def val_dataloader(self) -> FeaturesWhileFrozen:
        return FeaturesWhileFrozen(self, "val", self.images.val_dataloader(), shuffle=False)

    def test_dataloader(self) -> FeaturesWhileFrozen:
        return FeaturesWhileFrozen(self, "test", self.images.test_dataloader(), shuffle=False)
