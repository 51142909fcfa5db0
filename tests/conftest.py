"""Shared fixtures: tiny datasets in the real on-disk layouts, and real Hydra composition."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from fgclass.config import CONF_DIR, compose_config

os.environ["FGCLASS_OFFLINE"] = "1"  # tests never download weights; a missing file is an error
# One scan cache for the whole session (its entries are keyed by file): the runs on the shared tiny
# datasets scan them once, not once per test. Made by the main pytest process before pytest-xdist
# starts its workers, which inherit it, as do the processes tests start.
MAKES_CACHE_DIR = "PYTEST_XDIST_WORKER" not in os.environ
if MAKES_CACHE_DIR:
    os.environ["FGCLASS_CACHE_DIR"] = tempfile.mkdtemp(prefix="fgclass-test-cache-")
# Near-duplicates by the perceptual hashes alone, the embedding judge (a Lite0 pass, on by default)
# off: the drawn test images of a class are one shape in one colour, which it rightly calls all alike
# (too coarse to split them), and its pass is slow. On only where a test is about it.
HASHES_ONLY = "data.split.embedding_threshold=null"
FAST = [  # tiny, quick and offline: every composed test run starts from these
    "model=tiny",  # a later model=X in a test's overrides wins
    "model.weights=null",
    "data.image_size=32",
    "data.resize_size=36",
    "data.batch_size=16",
    "data.num_workers=0",
    "trainer.accelerator=cpu",
    "trainer.enable_model_summary=false",
    "callbacks.progress_bar=null",
    "eval.noise_sigmas=[0,0.2]",  # clean and one noise level: each level is a pass over the test set
    "eval.gradcam.enabled=false",  # on where a test looks at it: trained_run, each experiment's run
    "eval.figures=false",  # the same: drawing them took 1.9 of a tiny run's 3 s (benchmarks)
    HASHES_ONLY,
]


def pytest_unconfigure(config: pytest.Config) -> None:
    if MAKES_CACHE_DIR:
        shutil.rmtree(os.environ["FGCLASS_CACHE_DIR"], ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that start processes of their own go first (each of them spends seconds importing
    lightning): with one test per core they then overlap the rest instead of finishing alone."""
    items.sort(key=lambda item: item.get_closest_marker("processes") is None)


@pytest.fixture(scope="session")
def fish_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Kaggle fish layout (outer ``Fish_Dataset``), 9 classes x 4 photos x 3 flipped copies, 32 px."""
    from fgclass.data.synthetic import write_fish_dataset

    return write_fish_dataset(tmp_path_factory.mktemp("fish"), photos_per_class=4, image_size=32)


@pytest.fixture(scope="session")
def butterfly_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Butterfly layout: Training_set.csv + train/, 6 classes x 12 images, 32 px."""
    from fgclass.data.synthetic import write_butterfly_dataset

    return write_butterfly_dataset(tmp_path_factory.mktemp("butterfly"), images_per_class=12, image_size=32)


@pytest.fixture(scope="session")
def benchmark_roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny copy of each fine-grained benchmark in its publisher's format, by data config name."""
    from tests.benchmark_files import write_benchmarks

    return write_benchmarks(tmp_path_factory.mktemp("benchmarks"))


@pytest.fixture
def run_main(capfd: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[int, str]]:
    """``run_main(main, *args)``: a command's Hydra ``main`` run in this process as ``python -m`` would
    run it with ``args``; its exit status and everything it printed."""

    def run(main: Callable[[], object], *args: str) -> tuple[int, str]:
        # imported, a main's module is not __main__: Hydra is pointed at conf/ by path
        monkeypatch.setattr(sys, "argv", [main.__module__, f"--config-path={CONF_DIR}", *args])
        GlobalHydra.instance().clear()
        capfd.readouterr()
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        code: int | str | None = 0
        try:
            main()
        except SystemExit as stop:
            code = stop.code
        finally:  # Hydra configured logging for the run: later tests must not log into its streams
            for handler in set(root.handlers) - set(handlers):
                handler.close()
            root.handlers[:], root.level = handlers, level
        output = capfd.readouterr()
        text = output.out + output.err
        if isinstance(code, str):  # as the interpreter does: the message to stderr, exit status 1
            return 1, f"{text}{code}\n"
        return code or 0, text

    return run


@pytest.fixture
def train_config(tmp_path: Path) -> Callable[..., DictConfig]:
    """``train_config(*overrides)``: the composed train config with the FAST settings."""

    def make(*overrides: str) -> DictConfig:
        return compose_config("train", [*FAST, *overrides], tmp_path)

    return make


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory, fish_root: Path) -> Path:
    """The output folder of one short, real training run on the synthetic fish data."""
    from fgclass.train import train

    tmp = tmp_path_factory.mktemp("trained")
    cfg = compose_config(
        "train",
        [
            *FAST,
            f"data.root={fish_root}",
            "trainer.max_epochs=2",
            "trainer.limit_train_batches=3",
            "eval.gradcam.enabled=true",
            "eval.figures=true",
        ],
        tmp,
    )
    train(cfg)
    return tmp / "run"
