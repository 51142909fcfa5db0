"""Data layer: find images in each published layout, check and split them, load them."""

from fgclass.data.datamodule import (
    ButterflyDataModule,
    FishDataModule,
    ImageClassificationDataModule,
    ImageFolderDataModule,
    SyntheticFishDataModule,
)
from fgclass.data.splits import SplitConfig, SplitTable

__all__ = [
    "ButterflyDataModule",
    "FishDataModule",
    "ImageClassificationDataModule",
    "ImageFolderDataModule",
    "SplitConfig",
    "SplitTable",
    "SyntheticFishDataModule",
]
