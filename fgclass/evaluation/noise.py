"""Accuracy under additive Gaussian noise (butterfly study, section 3.3.1).

Noise is zero-mean Gaussian with standard deviation ``sigma`` in [0, 1] pixel space, added after
the eval resize/crop and before normalisation, then clipped to [0, 1]. Each test image gets its own
fixed noise pattern (seeded by ``seed`` and its index), the same across sigmas, batch sizes and
loader workers, so results repeat exactly and sigmas compare on equal terms.
"""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from fgclass.metrics import ACCURACY, F1_MACRO, Results


def predict_results(trainer: L.Trainer, model: L.LightningModule, loader: DataLoader) -> Results:
    """Every test metric of ``model`` on the ``(image, label, index)`` batches of ``loader``: a pass
    of the test loop, which reduces each batch's logits as they leave the model (memory bounded in
    classes, :mod:`fgclass.outputs`) and gathers every rank's images; it logs nothing."""
    trainer.test(model, dataloaders=loader, verbose=False)
    return model.test_results


class NoisyDataset(Dataset):
    """Wraps a dataset of ``(uint8 image, label, index)``; yields float images in [0, 1] plus noise."""

    def __init__(self, base: Dataset, sigma: float, seed: int = 0) -> None:
        self.base = base
        self.sigma = float(sigma)
        self.seed = seed

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        image, label, row = self.base[index]
        x = image.float().div(255)
        if self.sigma > 0:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + int(row))
            x = (x + self.sigma * torch.randn(x.shape, generator=generator)).clamp_(0, 1)
        return x, label, row


def noise_robustness(
    trainer: L.Trainer,
    model: L.LightningModule,
    dataset: Dataset,
    sigmas: list[float],
    seed: int = 0,
    loader: Callable[[Dataset], DataLoader] = DataLoader,
) -> list[dict[str, float]]:
    """Accuracy and macro F1 on the image ``dataset`` for each noise ``sigma``; ``loader`` makes the
    loader of the noisy copy (e.g. the data module's ``eval_loader``). Under DDP, call it on every
    rank: each predicts part of the images, and every rank gets the results of all of them."""
    rows = []
    for sigma in sigmas:
        noisy = loader(NoisyDataset(dataset, sigma, seed))
        metrics = predict_results(trainer, model, noisy).summary
        rows.append({"sigma": float(sigma), ACCURACY: metrics[ACCURACY], F1_MACRO: metrics[F1_MACRO]})
    return rows
