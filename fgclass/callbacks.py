"""fgclass's own Lightning callbacks."""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torchvision.utils import make_grid

from fgclass.evaluation.tensorboard import tensorboard_logger


class SampleGrid(Callback):
    """Log a grid of augmented training images to TensorBoard when training starts.

    Shows exactly what the model is fed (after augmentation), so a broken pipeline is seen at once.
    """

    def __init__(self, num_images: int = 32, seed: int = 0) -> None:
        self.num_images = num_images
        self.seed = seed

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        logger = tensorboard_logger(trainer)
        dataset = getattr(trainer.datamodule, "datasets", {}).get("train")
        if logger is None or dataset is None or len(dataset) == 0:
            return
        generator = torch.Generator().manual_seed(self.seed)
        picks = torch.randperm(len(dataset), generator=generator)[: self.num_images].tolist()
        images = [dataset[i][0] for i in picks]
        if images[0].ndim != 3:  # cached features, not images
            return
        grid = make_grid(torch.stack(images), nrow=8, padding=2)
        logger.experiment.add_image("train/augmented_samples", grid, global_step=0)
