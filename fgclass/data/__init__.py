"""Data layer: find images in each published layout, check and split them, load them."""

from fgclass.data.datamodule import ImageClassificationDataModule
from fgclass.data.sources import ButterflyLayout, FishLayout, ImageFolderLayout, Layout
from fgclass.data.splits import SplitConfig, SplitTable
from fgclass.data.synthetic import SyntheticFishLayout

__all__ = [
    "ButterflyLayout",
    "FishLayout",
    "ImageClassificationDataModule",
    "ImageFolderLayout",
    "Layout",
    "SplitConfig",
    "SplitTable",
    "SyntheticFishLayout",
]
