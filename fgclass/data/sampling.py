"""Training randomness as a function of ``(seed, epoch, index)``.

Data order comes from :class:`SeededSampler` (``DistributedSampler``'s ``seed + epoch`` shuffle,
sharded across ranks under DDP), and each training image's augmentation from its own seed, which
the sampler hands to the dataset with the index. Nothing depends on how many epochs this process
has run, so a run resumed from an epoch's checkpoint sees exactly the images and augmentations the
uninterrupted run would have.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch.distributed as dist
from torch.utils.data import Dataset, DistributedSampler


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
        for index in super().__iter__():
            yield index, derived_seed(self.seed, self.epoch, index)
