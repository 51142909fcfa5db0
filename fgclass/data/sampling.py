"""Training randomness as a function of ``(seed, epoch, index)``.

Data order comes from :class:`SeededSampler` (``DistributedSampler``'s ``seed + epoch`` shuffle,
sharded across ranks under DDP), and each training image's augmentation from its own seed, which
the sampler hands to the dataset with the index. Nothing depends on how many epochs this process
has run, so a run resumed from an epoch's checkpoint sees exactly the images and augmentations the
uninterrupted run would have.

On long-tailed data (iNaturalist: a few images for most classes, hundreds for some), ``data.sampling``
draws the classes more evenly (:func:`training_sampler`): ``sqrt`` in proportion to the square root of
their image counts, ``balanced`` equally (Kang et al. 2020, "Decoupling representation and classifier").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Dataset, DistributedSampler, WeightedRandomSampler

from fgclass.errors import ConfigError

# data.sampling -> the power of a class's image count that its share of the draws follows
SAMPLING_POWERS = {"natural": 1.0, "sqrt": 0.5, "balanced": 0.0}


def derived_seed(*keys: int) -> int:
    """A 32-bit seed that depends on every key (``numpy.random.SeedSequence``: no collisions by sum)."""
    return int(np.random.SeedSequence([k & 0xFFFFFFFF for k in keys]).generate_state(1)[0])


class SeededSampler(DistributedSampler):
    """Shuffles every epoch from ``seed + epoch`` and yields ``(index, augmentation_seed)`` pairs.

    Lightning calls :meth:`set_epoch` before each training epoch and, being a ``DistributedSampler``,
    keeps it under DDP instead of substituting its own (each rank then reads its shard). A loop
    that never calls it still gets a new epoch per pass.
    """

    def __init__(self, dataset: Dataset, seed: int) -> None:
        distributed = dist.is_available() and dist.is_initialized()
        super().__init__(
            dataset,
            num_replicas=dist.get_world_size() if distributed else 1,
            rank=dist.get_rank() if distributed else 0,
            shuffle=True,
            seed=seed,
        )
        self._passes_this_epoch = 0

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self._passes_this_epoch = 0

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        if self._passes_this_epoch:  # iterated again without set_epoch: the next epoch
            self.epoch += 1
        self._passes_this_epoch += 1
        yield from self._draws()

    def _draws(self) -> Iterator[tuple[int, int]]:
        for index in super().__iter__():
            yield index, derived_seed(self.seed, self.epoch, index)


class ClassSampler(SeededSampler):
    """Draws an epoch of ``len(dataset)`` images with replacement, a class coming up in proportion to
    its image count to the power ``power`` (0.5: square-root sampling, 0: class-balanced), images
    uniformly within their class; from ``seed + epoch`` and sharded across ranks like
    :class:`SeededSampler`. An image drawn twice gets two augmentation seeds."""

    def __init__(self, dataset: Dataset, seed: int, targets: Sequence[int], power: float) -> None:
        super().__init__(dataset, seed)
        labels = torch.as_tensor(targets)
        counts = torch.bincount(labels).double()
        self.weights = counts[labels] ** (power - 1.0)  # a class's images share count ** power

    def _draws(self) -> Iterator[tuple[int, int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        drawn = list(WeightedRandomSampler(self.weights, self.total_size, generator=generator))
        for position in range(self.rank, self.total_size, self.num_replicas):  # this rank's share
            yield drawn[position], derived_seed(self.seed, self.epoch, drawn[position], position)


def check_sampling(sampling: str) -> str:
    """``sampling`` if it names a way to draw training images, else a :class:`ConfigError`."""
    if sampling not in SAMPLING_POWERS:
        choices = ", ".join(SAMPLING_POWERS)
        raise ConfigError(f"data.sampling={sampling}: use one of {choices} (how training draws the classes).")
    return sampling


def training_sampler(dataset: Dataset, seed: int, sampling: str = "natural") -> SeededSampler:
    """The training sampler of ``data.sampling``: ``natural`` shuffles every image once per epoch;
    ``sqrt`` and ``balanced`` draw classes in proportion to the square root of their counts or equally
    (:class:`ClassSampler`; ``dataset.targets`` are the labels)."""
    if check_sampling(sampling) == "natural":
        return SeededSampler(dataset, seed)
    return ClassSampler(dataset, seed, dataset.targets, SAMPLING_POWERS[sampling])
