"""Every conf/data option and every conf/augment option, composed by Hydra, instantiated and set up."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import albumentations as A
import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from fgclass.data import ButterflyLayout, FishLayout, ImageClassificationDataModule, ImageFolderLayout
from fgclass.data.splits import SplitTable
from fgclass.data.synthetic import SyntheticFishLayout, write_image_folder
from fgclass.errors import ConfigError
from fgclass.inference.runs import run_datamodule

DATA = {
    "fish": FishLayout,
    "butterfly": ButterflyLayout,
    "image_folder": ImageFolderLayout,
    "synthetic": SyntheticFishLayout,
}
AUGMENTS = ["none", "basic", "fish_paper", "butterfly_paper", "strong", "randaugment"]


@pytest.fixture(scope="module")
def folder_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_image_folder(tmp_path_factory.mktemp("pets"), images_per_class=6, image_size=32)


@pytest.fixture
def data_overrides(fish_root: Path, butterfly_root: Path, folder_root: Path) -> Callable[[str], list[str]]:
    """Overrides pointing each data option at a tiny dataset (synthetic: generated under paths)."""

    def overrides(data: str) -> list[str]:
        roots = {"fish": fish_root, "butterfly": butterfly_root, "image_folder": folder_root}
        if data == "synthetic":
            return ["data=synthetic", "data.photos_per_class=3", "data.source_image_size=32"]
        return [f"data={data}", f"data.root={roots[data]}"]

    return overrides


# the two axes are independent (the pipeline does not depend on the layout): each data option
# unaugmented, and each augment option on one layout
PAIRS = [(data, "none") for data in DATA] + [("butterfly", a) for a in AUGMENTS if a != "none"]


@pytest.mark.parametrize(("data", "augment"), PAIRS)
def test_data_and_augment_options_compose_instantiate_and_load(
    train_config: Callable[..., DictConfig], data_overrides, data: str, augment: str
) -> None:
    cfg = train_config(*data_overrides(data), f"augment={augment}")
    module = instantiate(cfg.data)
    assert type(module) is ImageClassificationDataModule and type(module.layout) is DATA[data]
    assert module.augmented == (augment != "none")
    module.prepare_data()
    module.setup("fit")
    assert Path(cfg.paths.output_dir, "splits.csv").is_file()
    assert module.num_classes == {"fish": 9, "butterfly": 6, "image_folder": 3, "synthetic": 9}[data]
    images, targets, _ = next(iter(module.train_dataloader()))
    assert images.dtype == torch.uint8 and images.shape[1:] == (3, 32, 32) and len(images) <= 16
    assert int(targets.max()) < module.num_classes


def test_loader_options_come_from_the_config(
    train_config: Callable[..., DictConfig], fish_root: Path
) -> None:
    cfg = train_config(
        f"data.root={fish_root}", "data.batch_size=5", "data.eval_batch_size=7", "data.pin_memory=false"
    )
    module = instantiate(cfg.data)
    module.setup("fit")
    train, val = module.train_dataloader(), module.val_dataloader()
    assert (train.batch_size, val.batch_size, train.num_workers) == (5, 7, 0)
    assert train.drop_last and not val.drop_last and not train.pin_memory
    assert len(next(iter(val))[0]) == 7


def test_scan_cache_folder_is_the_project_one_or_fgclass_cache_dir(
    train_config: Callable[..., DictConfig],
    butterfly_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FGCLASS_CACHE_DIR")  # the tests' own shared one (conftest)
    instantiate(train_config("data=butterfly", f"data.root={butterfly_root}").data).prepare_data()
    assert list((tmp_path / ".cache" / "fgclass").glob("scan-*.npz"))  # under paths.root_dir
    monkeypatch.setenv("FGCLASS_CACHE_DIR", str(tmp_path / "shared"))
    (tmp_path / "run" / "splits.csv").unlink()  # else the run's split is read back, nothing scanned
    instantiate(train_config("data=butterfly", f"data.root={butterfly_root}").data).prepare_data()
    assert list((tmp_path / "shared").glob("scan-*.npz"))


def test_image_size_is_a_config_value(train_config: Callable[..., DictConfig], fish_root: Path) -> None:
    cfg = train_config(
        f"data.root={fish_root}", "augment=strong", "data.image_size=24", "data.resize_size=28"
    )
    module = instantiate(cfg.data)
    module.setup("fit")
    assert next(iter(module.train_dataloader()))[0].shape[2:] == (24, 24)
    assert next(iter(module.test_dataloader()))[0].shape[2:] == (24, 24)


def test_training_crops_can_be_smaller_than_the_test_images(
    train_config: Callable[..., DictConfig], fish_root: Path
) -> None:
    cfg = train_config(f"data.root={fish_root}", "augment=butterfly_paper", "data.train_image_size=24")
    module = instantiate(cfg.data)
    module.setup("fit")
    assert next(iter(module.train_dataloader()))[0].shape[2:] == (24, 24)  # faster steps
    assert next(iter(module.val_dataloader()))[0].shape[2:] == (32, 32)  # judged at image_size
    framed = train_config(f"data.root={fish_root}", "augment=basic", "data.train_image_size=24")
    with pytest.raises(InstantiationException) as error:  # basic crops at image_size: refused, not ignored
        instantiate(framed.data)
    assert "use data.train_image_size" in str(error.value.__cause__)


def test_augment_pipeline_of_the_wrong_size_is_a_config_error(
    train_config: Callable[..., DictConfig], fish_root: Path
) -> None:
    cfg = train_config(f"data.root={fish_root}", "augment=basic", "data.augment.transforms.1.height=20")
    assert isinstance(instantiate(cfg.data.augment), A.Compose)  # a valid pipeline, of the wrong size
    with pytest.raises(InstantiationException) as error:  # Hydra wraps errors raised by the target
        instantiate(cfg.data)
    assert isinstance(error.value.__cause__, ConfigError)
    message = "(3, 20, 32), expected (3, 32, 32) (data.train_image_size=32). Make its last resize/crop"
    assert message in str(error.value.__cause__)


def test_image_folder_needs_a_root(train_config: Callable[..., DictConfig]) -> None:
    cfg = train_config("data=image_folder")
    with pytest.raises(MissingMandatoryValue, match=r"data\.root"):
        instantiate(cfg.data)


def test_layout_settings_are_data_keys(
    train_config: Callable[..., DictConfig], butterfly_root: Path, tmp_path: Path
) -> None:
    root = Path(shutil.copytree(butterfly_root, tmp_path / "butterfly"))
    (root / "Training_set.csv").rename(root / "labels.csv")
    (root / "train").rename(root / "pictures")
    cfg = train_config(
        "data=butterfly", f"data.root={root}", "data.csv_file=labels.csv", "data.image_dir=pictures"
    )
    module = instantiate(cfg.data)
    module.setup("fit")
    assert module.layout == ButterflyLayout(root, csv_file="labels.csv", image_dir="pictures")
    assert all(path.startswith("pictures/") for path in module.table.paths)
    with pytest.raises(InstantiationException) as error:  # a setting of another layout
        instantiate(train_config(f"data.root={root}", "+data.csv_file=labels.csv").data)
    assert "data.csv_file: not a setting of the data module or of its layout FishLayout" in str(
        error.value.__cause__
    )


def test_embedding_judge_without_a_feature_extractor_is_a_config_error(
    train_config: Callable[..., DictConfig], folder_root: Path
) -> None:
    cfg = train_config(
        "data=image_folder",
        f"data.root={folder_root}",
        "data.split.embedding_threshold=0.94",
        "data.embedder=null",
    )
    with pytest.raises(ConfigError, match=r"data\.embedder is null"):
        instantiate(cfg.data).prepare_data()


@pytest.mark.parametrize(
    ("data", "old_target"), [("butterfly", "ButterflyDataModule"), ("synthetic", "SyntheticFishDataModule")]
)
def test_a_run_folder_of_the_per_layout_data_modules_still_loads(
    train_config: Callable[..., DictConfig], data_overrides, tmp_path: Path, data: str, old_target: str
) -> None:
    cfg = train_config(*data_overrides(data))
    run = Path(cfg.paths.output_dir)
    instantiate(cfg.data).prepare_data()  # the run's splits.csv
    # run_config.yaml as fgclass wrote it before the layouts were injected: one class per layout,
    # its settings (csv_file, photos_per_class, ...) beside the common ones, no embedder
    old = OmegaConf.to_container(cfg.data, resolve=True)
    del old["layout"], old["embedder"]
    old["_target_"] = f"fgclass.data.{old_target}"
    OmegaConf.save({"data": old}, run / "run_config.yaml")

    module = run_datamodule(run, tmp_path / "eval")
    assert (
        type(module.layout) is DATA[data] and module.layout == instantiate(cfg.data).layout
    )  # same settings
    assert sorted(module.datasets["test"].paths) == sorted(
        SplitTable.read(run / "splits.csv").select("test")[0]
    )
