"""Pack a dataset and its split into streaming shards, for training runs that read them from any
node's disk or from object storage.

    python -m fgclass.pack data=butterfly data.root=/data/butterfly pack.output=/data/butterfly_shards
    python -m fgclass.train data=shards data.root=/data/butterfly_shards [trainer=ddp_multinode ...]

Finds, checks and splits the images as a training run with the same data config would (the same
``splits.csv``, written into the run folder and into ``pack.output``; ``data.splits_file=...`` packs
an existing split), then writes each split into LitData shards (:mod:`fgclass.data.shards`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig

import fgclass.config  # noqa: F401  (registers the fgclass.* config resolvers)
from fgclass.app import run_task
from fgclass.data.loaders import default_num_workers
from fgclass.data.shards import pack_dataset
from fgclass.data.splits import SplitTable
from fgclass.errors import ConfigError
from fgclass.setting_checks import check_settings
from fgclass.settings import PACK

log = logging.getLogger(__name__)


def pack(cfg: DictConfig) -> dict[str, int]:
    """Pack the dataset of ``cfg.data`` into ``cfg.pack.output``; the number of images per split."""
    check_settings(cfg, PACK)
    if not cfg.pack.output:
        raise ConfigError(
            "pack.output is not set: name the folder to write the shards into (pack.output=DIR)."
        )
    output = Path(cfg.pack.output).expanduser().resolve()
    datamodule = instantiate(cfg.data)  # its layout, split settings, cache and feature extractor
    datamodule.prepare_data()  # splits.csv in the run folder, as a training run makes it
    table = SplitTable.read(datamodule.splits_path)
    counts = pack_dataset(
        table,
        datamodule.layout.images_root(),
        output,
        cfg.pack.chunk_bytes,
        cfg.pack.num_workers or default_num_workers(),
        datamodule.layout.bottom_trim,
    )
    log.info("Packed %s into %s; train from it with data=shards data.root=%s", counts, output, output)
    return counts


@hydra.main(version_base="1.3", config_path="../conf", config_name="pack")
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns the number of images packed."""
    return run_task(lambda c: float(sum(pack(c).values())), cfg, cfg.paths.output_dir)


if __name__ == "__main__":
    main()
