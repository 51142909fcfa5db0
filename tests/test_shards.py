"""Streaming shards: ``python -m fgclass.pack`` writes a dataset and its split into LitData shards,
``data=shards`` trains from them (one process, and two-process CPU DDP where every training image is
seen once per epoch), and a damaged shard is one message naming it."""

from __future__ import annotations

import csv
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from litdata import StreamingDataset
from omegaconf import DictConfig

from fgclass.config import compose_config
from fgclass.data.shard_module import ShardDataModule
from fgclass.data.sources import resolve_fish_root
from fgclass.errors import DataError
from fgclass.pack import main as pack_main
from fgclass.pack import pack
from fgclass.train import train

from .conftest import HASHES_ONLY
from .processes import run_process_group

PACK = ["data=fish", HASHES_ONLY, "pack.num_workers=2", "pack.chunk_bytes=8KB"]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory, fish_root: Path) -> Path:
    """The tiny fish set packed in several chunks per split (8 KB each), by two packing processes."""
    tmp = tmp_path_factory.mktemp("pack")
    output = tmp / "shards"
    counts = pack(compose_config("pack", [*PACK, f"data.root={fish_root}", f"pack.output={output}"], tmp))
    assert counts == {s: sum(r["split"] == s for r in read_csv(output / "splits.csv")) for s in counts}
    assert (tmp / "run" / "splits.csv").read_text() == (output / "splits.csv").read_text()  # the run's split
    return output


def test_pack_stores_each_image_file_as_it_is_with_its_label_and_row(packed: Path, fish_root: Path) -> None:
    rows = read_csv(packed / "splits.csv")
    classes = json.loads((packed / "classes.json").read_text())["class_names"]
    assert classes == sorted({r["label"] for r in rows})
    root = resolve_fish_root(fish_root)
    for split in ("train", "test"):
        listed = [r for r in rows if r["split"] == split]
        assert len(list((packed / split).glob("chunk-*.bin"))) > 1  # the order survives chunks and workers
        shards = StreamingDataset(str(packed / split))
        assert len(shards) == len(listed)
        for position in (0, len(listed) // 2, len(listed) - 1):
            sample = shards[position]
            assert sample["index"] == position and sample["path"] == listed[position]["path"]
            assert sample["label"] == classes.index(listed[position]["label"])
            assert sample["image"] == (root / sample["path"]).read_bytes()  # no re-encoding


def test_one_batch_fit_from_shards_writes_the_reports(
    packed: Path, train_config: Callable[..., DictConfig]
) -> None:
    cfg = train_config(
        "data=shards",
        f"data.root={packed}",
        "data.batch_size=8",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=1",
        "trainer.limit_val_batches=1",
    )
    train(cfg)
    run = Path(cfg.paths.output_dir)
    assert (run / "splits.csv").read_text() == (packed / "splits.csv").read_text()
    test_split = {r["path"]: r["label"] for r in read_csv(packed / "splits.csv") if r["split"] == "test"}
    predictions = read_csv(run / "predictions.csv")
    assert sorted(r["path"] for r in predictions) == sorted(test_split)  # each test image once, by path
    assert all(test_split[r["path"]] == r["true_label"] for r in predictions)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["num_samples"] == len(test_split)


@pytest.mark.processes
def test_two_process_ddp_sees_every_training_image_once_per_epoch(packed: Path, tmp_path: Path) -> None:
    train_rows = sum(r["split"] == "train" for r in read_csv(packed / "splits.csv"))
    batch = next(b for b in (3, 4, 5, 2) if train_rows % (2 * b) == 0)  # the split fills whole batches
    script = Path(__file__).with_name("shard_ranks.py")
    command = [sys.executable, str(script), str(packed), str(tmp_path), str(batch), "2"]
    returncode, output = run_process_group(command, cwd=Path(__file__).resolve().parents[1], timeout=300)
    assert returncode == 0, output[-4000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for epoch in ("0", "1"):
        seen = [rank[epoch] for rank in ranks]
        assert len(seen[0]) == len(seen[1])  # the same number of steps on both ranks
        assert sorted(seen[0] + seen[1]) == list(range(train_rows))  # each image once, none left out
    assert ranks[0]["0"] != ranks[0]["1"]  # a new order every epoch


def damaged(packed: Path, tmp_path: Path, damage: Callable[[Path], None]) -> Path:
    copy = tmp_path / "shards"
    shutil.copytree(packed, copy)
    damage(sorted((copy / "train").glob("chunk-*.bin"))[0])
    return copy


def setup_shards(root: Path, tmp_path: Path, *overrides: str) -> ShardDataModule:
    cfg = compose_config(
        "train", ["data=shards", f"data.root={root}", "data.num_workers=0", *overrides], tmp_path
    )
    module = instantiate(cfg.data)
    module.setup("fit")
    return module


def test_a_truncated_shard_is_named_with_the_fix(packed: Path, tmp_path: Path) -> None:
    def truncate(chunk: Path) -> None:
        data = chunk.read_bytes()
        chunk.write_bytes(data[: len(data) // 2])

    root = damaged(packed, tmp_path, truncate)
    with pytest.raises(DataError, match=r"Shard '.*train/chunk-0-0\.bin' is \d+ bytes.*truncated") as error:
        setup_shards(root, tmp_path)
    assert f"python -m fgclass.pack data=<its data config> data.root=<its images> pack.output={root}" in str(
        error.value
    )


def test_a_shard_corrupted_inside_names_its_folder(packed: Path, tmp_path: Path) -> None:
    def scramble(chunk: Path) -> None:  # the same size, image bytes overwritten
        data = bytearray(chunk.read_bytes())
        data[len(data) // 4 :] = bytes(len(data) - len(data) // 4)
        chunk.write_bytes(bytes(data))

    module = setup_shards(damaged(packed, tmp_path, scramble), tmp_path)
    with pytest.raises(DataError, match=r"shards.*train.*fgclass\.pack"):
        for index in range(len(module.datasets["train"])):
            module.datasets["train"][index]


def test_a_folder_that_is_not_packed_is_one_message(
    fish_root: Path, tmp_path: Path, run_main: Callable[..., tuple[int, str]]
) -> None:
    with pytest.raises(DataError, match="not a folder of packed shards"):
        setup_shards(fish_root, tmp_path)
    with pytest.raises(InstantiationException, match=r"data\.sampling=sqrt: not available with data=shards"):
        setup_shards(fish_root, tmp_path, "data.sampling=sqrt")
    where = [*PACK, f"data.root={fish_root}", f"paths.root_dir={tmp_path}"]
    code, output = run_main(pack_main, *where)
    assert code == 1 and "pack.output is not set" in output and "Traceback" not in output
    code, output = run_main(pack_main, *where, f"pack.output={tmp_path}", "pack.num_workers=0")
    assert code == 1 and "pack.num_workers" in output and "Traceback" not in output
