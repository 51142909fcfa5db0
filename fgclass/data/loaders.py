"""DataLoaders, built in one place: training, evaluation and prediction start their workers alike."""

from __future__ import annotations

import multiprocessing
import os

from torch.utils.data import DataLoader, Dataset, IterableDataset, Sampler, default_collate


def default_num_workers() -> int:
    """One loader worker per available core, at most 8."""
    return min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def worker_context(num_workers: int) -> multiprocessing.context.BaseContext | None:
    """The platform's own start method for loader workers. Named explicitly: inside a job of
    ``hydra/launcher=joblib`` the default context is loky's, whose processes a DataLoader cannot
    start (``'Process' object has no attribute 'env'``)."""
    return multiprocessing.get_context(multiprocessing.get_all_start_methods()[0]) if num_workers else None


def make_loader(
    dataset: Dataset,
    batch_size: int,
    num_workers: int | None = None,
    *,
    sampler: Sampler | None = None,
    drop_last: bool = False,
    pin_memory: bool = False,
    persistent_workers: bool = False,
) -> DataLoader:
    """A loader over ``dataset`` in order (or in ``sampler``'s), its workers started by
    :func:`worker_context`; ``num_workers=None`` picks :func:`default_num_workers`, and
    ``persistent_workers`` applies only where there are workers."""
    workers = default_num_workers() if num_workers is None else num_workers
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        drop_last=drop_last,
        num_workers=workers,
        pin_memory=pin_memory,
        persistent_workers=persistent_workers and workers > 0,
        multiprocessing_context=worker_context(workers),
    )


def make_stream_loader(
    dataset: IterableDataset,
    batch_size: int,
    num_workers: int | None = None,
    *,
    epoch: int = 0,
    pin_memory: bool = False,
    persistent_workers: bool = False,
) -> DataLoader:
    """LitData's loader over a ``litdata.StreamingDataset`` (which shards it across ranks and workers
    itself; Lightning adds no sampler to an iterable dataset): it tells the dataset each pass's epoch,
    counting from ``epoch`` passes already done (a resumed run). Workers as in :func:`make_loader`."""
    from litdata import StreamingDataLoader  # imported where used: importing litdata takes seconds

    workers = default_num_workers() if num_workers is None else num_workers
    loader = StreamingDataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=workers,
        pin_memory=pin_memory,
        persistent_workers=persistent_workers and workers > 0,
        multiprocessing_context=worker_context(workers),
        collate_fn=default_collate,
    )
    loader.current_epoch = epoch
    return loader
