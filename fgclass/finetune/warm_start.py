"""Warm start: the head fitted on frozen backbone features before fine-tuning begins.

A fine-tune that starts from a random head spends its first epochs pushing large, noisy gradients
from that head into pretrained layers. :class:`WarmStartHead` first runs the frozen backbone once
over the training split as training reads it (one augmented crop of each image at the training size,
in eval mode: the cost of about a third of a training epoch), fits the head on those features for a
few epochs (seconds), and then lets training start from that head.
"""

from __future__ import annotations

import logging
import time

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from fgclass.errors import ConfigError
from fgclass.finetune.feature_cache import backbone_features
from fgclass.models.classifier import Classifier

log = logging.getLogger(__name__)


def fit_head(
    model: Classifier,
    features: torch.Tensor,
    labels: torch.Tensor,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
) -> float:
    """Trains ``model.head`` with Adam on ``features`` under the model's own loss; ``seed`` fixes
    the batch order and the head's dropout, and the global random state is left as it was. Returns
    the head's accuracy on the features afterwards."""
    generator = torch.Generator().manual_seed(seed)
    features, labels = features.to(model.device), labels.to(model.device)
    optimizer = torch.optim.Adam(model.head.parameters(), lr=lr)
    model.head.train()
    cuda = [model.device] if model.device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda), torch.enable_grad():
        torch.manual_seed(seed)
        for _ in range(epochs):
            for batch in torch.randperm(len(labels), generator=generator).split(batch_size):
                loss = model.criterion(model.head(features[batch]), labels[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    model.head.eval()
    with torch.no_grad():
        accuracy = (model.head(features).argmax(1) == labels).float().mean().item()
    model.head.train()
    return accuracy


class WarmStartHead(Callback):
    """Fits the head on frozen features of the training split when a run starts (not on resume).

    Args:
        epochs: passes over the training features.
        lr: Adam learning rate for the head.
        seed: the order of the feature batches.
    """

    def __init__(self, epochs: int = 10, lr: float = 1e-3, seed: int = 0) -> None:
        if epochs < 1 or lr <= 0:
            raise ConfigError(f"callbacks.warm_start: epochs={epochs}, lr={lr}; use epochs >= 1 and lr > 0.")
        self.epochs = epochs
        self.lr = lr
        self.seed = seed

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_step > 0 or not isinstance(pl_module, Classifier):
            return  # resumed: the checkpoint's head is already trained
        images = trainer.datamodule  # a FeatureDataModule hands on its image module's attributes
        start = time.monotonic()
        context = trainer.precision_plugin.forward_context
        with torch.inference_mode(False):
            features, labels = (t.clone() for t in backbone_features(pl_module, images, "train", context))
            accuracy = fit_head(
                pl_module, features.float(), labels, self.epochs, self.lr, images.batch_size, self.seed
            )
        log.info(
            "Warm start: head fitted on frozen features of %d training images, %d epochs, in %.1f s "
            "(training accuracy %.4f)",
            len(labels),
            self.epochs,
            time.monotonic() - start,
            accuracy,
        )
