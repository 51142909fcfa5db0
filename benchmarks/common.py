"""Helpers shared by the benchmarks: real config composition, side-by-side timing, tables."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import logging
import os
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

import lightning as L
import numpy as np
import torch
from PIL import Image

from fgclass.provenance import cpu_name
from fgclass.text import markdown_table

K = TypeVar("K")
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def checkout_cache() -> str:
    """The override that keeps a composed config on the checkout's cache (``$FGCLASS_CACHE_DIR`` if
    set): ``compose_config(..., output_dir)`` roots ``paths`` in ``output_dir``, so a benchmark would
    otherwise start from an empty cache and scan and embed its whole dataset again, unmeasured."""
    cache = os.environ.get("FGCLASS_CACHE_DIR", Path(__file__).resolve().parents[1] / ".cache" / "fgclass")
    return f"paths.cache_dir={cache}"


def step_args(description: str, batch_size: int = 16, reps: int = 3) -> argparse.ArgumentParser:
    """An argument parser with the options of the benchmarks that time training steps."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--reps", type=int, default=reps, help="alternating repetitions")
    return parser


def machine() -> str:
    """One line naming the CPU, its cores, torch/Lightning versions and any GPU."""
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu_name()}, {len(_affinity())} cores, {torch.get_num_threads()} "
        f"torch threads; torch {torch.__version__}, lightning {L.__version__}; {gpu}"
    )


def _affinity() -> set[int]:
    return os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))


def quiet_lightning() -> None:
    """Keep Lightning's info messages (GPU available, model summary...) out of the tables."""
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)


def autocast(precision: str, device: torch.device) -> AbstractContextManager:
    """The autocast context a Lightning ``precision`` string stands for."""
    if precision in ("bf16-mixed", "16-mixed"):
        dtype = torch.bfloat16 if precision.startswith("bf16") else torch.float16
        return torch.autocast(device.type, dtype=dtype)
    if precision not in ("32-true", "32"):
        raise ValueError(f"benchmarks handle 32-true, bf16-mixed and 16-mixed, not {precision!r}")
    return nullcontext()


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so wall-clock times are the work's."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def random_batch(
    batch_size: int, image_size: int, num_classes: int, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """An fgclass batch: ``uint8`` NCHW images, labels, indices."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (batch_size, 3, image_size, image_size), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, num_classes, (batch_size,), generator=gen)
    return images, labels, torch.arange(batch_size)


class Repeat:
    """An in-memory loader: the same batch ``count`` times (no decoding, no collation)."""

    def __init__(self, batch: tuple[torch.Tensor, ...], count: int) -> None:
        self.batch = batch
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        return (self.batch for _ in range(self.count))


class PlainStep:
    """A minimal hand-written training step on a Classifier: forward, loss, backward, optimizer step.

    Uses the model's own optimizer (``configure_optimizers``: the same param groups Lightning gets)
    and the autocast of the Lightning ``precision`` string.
    """

    def __init__(self, model: torch.nn.Module, precision: str, device: torch.device) -> None:
        self.model = model
        self.precision = precision
        self.device = device
        model.to(device)
        optimizers, _ = model.configure_optimizers()
        self.optimizer = optimizers[0]

    def __call__(self, batch: Sequence[torch.Tensor]) -> None:
        x, y = batch[0].to(self.device, non_blocking=True), batch[1].to(self.device, non_blocking=True)
        with autocast(self.precision, self.device):
            loss = self.model.criterion(self.model(x), y)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad()

    def seconds(self, batches: Iterable[Sequence[torch.Tensor]]) -> float:
        """Wall-clock seconds of one step per batch (waiting for the batches included)."""
        self.model.to(self.device).train()
        sync(self.device)
        with Stopwatch() as watch:
            for batch in batches:
                self(batch)
            sync(self.device)
        return watch.seconds


def interleave(runs: dict[K, Callable[[], float]], reps: int, warmup_reps: int = 1) -> dict[K, list[float]]:
    """Call each run once per repetition, alternating the order (ABC, CBA, ...); the results of
    the ``reps`` repetitions after ``warmup_reps`` discarded ones."""
    results: dict[K, list[float]] = {name: [] for name in runs}
    for rep in range(warmup_reps + reps):
        order = list(runs) if rep % 2 == 0 else list(reversed(runs))  # no run always goes first
        for name in order:
            value = runs[name]()
            if rep >= warmup_reps:
                results[name].append(value)
    return results


def paired_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> float:
    """Median of the ratios of measurements taken side by side (slow load changes cancel)."""
    return statistics.median(a / b for a, b in zip(numerators, denominators))


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _anon_mb(pid: int | str) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss_Anon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _children() -> list[int]:
    tasks = Path("/proc/self/task")
    return [int(c) for task in tasks.iterdir() for c in (task / "children").read_text().split()]


def reset_peak() -> float:
    """This process's resident MiB now, which also becomes its peak (``VmHWM``) from here on, so
    ``memory_mb()["peak"] - reset_peak()`` is what the code in between added at most. Linux only."""
    memory_mb(trim=True)  # freed heap handed back first
    Path("/proc/self/clear_refs").write_text("5")
    return _status_mb("VmRSS")


def memory_mb(trim: bool = False) -> dict[str, float]:
    """In MiB: this process's peak resident memory (``peak``), and the anonymous memory (heap,
    tensors) of it and its children, the loader workers, with pages they share after ``fork``
    counted once (``anon``; unlike RSS or PSS, not moved by shared libraries that other processes
    map too). ``trim`` first hands freed heap back to the OS (``gc.collect``, glibc
    ``malloc_trim``), so ``anon`` is memory in use rather than the allocator's free lists.
    Linux only, else NaN."""
    if trim:
        gc.collect()
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)
    try:
        anon = _anon_mb("self") + sum(_anon_mb(c) for c in _children())
        return {"peak": _status_mb("VmHWM"), "anon": anon}
    except OSError:
        return {"peak": float("nan"), "anon": float("nan")}


class EpochStats(L.Callback):
    """Per epoch: duration (start to next start, so validation and checkpointing count), the parts
    spent on training batches and on validation, and with ``memory`` the memory in use at its end
    (:func:`memory_mb` with ``trim``). Add it to a composed config with
    ``+callbacks.epoch_stats._target_=benchmarks.common.EpochStats``; the latest is ``last``."""

    last: EpochStats | None = None

    def __init__(self, memory: bool = False) -> None:
        self.track_memory = memory
        self.setup = 0.0  # fit start to first epoch: sanity check, building a feature cache
        self.epochs: list[float] = []
        self.train_parts: list[float] = []
        self.val_parts: list[float] = []
        self.memory: list[dict[str, float]] = []
        self._fit_start = self._epoch_start = self._last_batch = self._val_start = 0.0
        EpochStats.last = self

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._fit_start = time.perf_counter()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        now = time.perf_counter()
        if self._epoch_start:
            self.epochs.append(now - self._epoch_start)
        else:
            self.setup = now - self._fit_start
        self._epoch_start = now

    def on_train_batch_end(self, *args: Any) -> None:
        self._last_batch = time.perf_counter()

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._val_start = time.perf_counter()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.val_parts.append(time.perf_counter() - self._val_start)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.train_parts.append(self._last_batch - self._epoch_start)
        if self.track_memory:
            self.memory.append(memory_mb(trim=True))

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.epochs.append(time.perf_counter() - self._epoch_start)


class Stopwatch:
    """Times a block: ``with Stopwatch() as sw: ...``, then ``sw.seconds``."""

    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (pasteable into RESULTS.md)."""

    def cell(value: object) -> str:
        if not isinstance(value, float):
            return str(value)
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"

    return "\n".join(markdown_table(headers, ([cell(v) for v in row] for row in rows)))


def verdict(name: str, value: float, goal: float, higher_is_better: bool = True) -> str:
    """``name: value (goal >= x): PASS/FAIL`` line."""
    ok = value >= goal if higher_is_better else value <= goal
    sign = ">=" if higher_is_better else "<="
    return f"{name}: {value:.3f} (goal {sign} {goal}): {'PASS' if ok else 'FAIL'}"


def as_png(root: Path, paths: list[str], size: tuple[int, int], copies: int, out: Path) -> list[str]:
    """``paths`` (under ``root``) re-saved ``copies`` times as PNGs of ``size`` (width, height) in ``out``,
    each with faint noise so that no two files are equal: names relative to ``out``. The Kaggle fish
    download is 590x445 PNG, whose decoding is a large share of its cost."""
    rng = np.random.default_rng(0)
    written = []
    for k in range(copies):
        for i, path in enumerate(paths):
            with Image.open(root / path) as image:
                resized = image.convert("RGB").resize(size, Image.Resampling.BICUBIC)
            pixels = np.asarray(resized, dtype=np.int16)
            noisy = np.clip(pixels + rng.integers(-2, 3, pixels.shape), 0, 255).astype(np.uint8)
            name = f"{k}_{i:05d}.png"
            Image.fromarray(noisy).save(out / name)
            written.append(name)
    return written
