"""The fine-grained benchmarks, read exactly as their publishers ship them, with their official
splits (docs/datasets.md): one layout per publisher's file family."""

from fgclass.data.benchmarks.aircraft import AircraftLayout
from fgclass.data.benchmarks.cars import CarsLayout
from fgclass.data.benchmarks.cub_family import CubLayout, NABirdsLayout
from fgclass.data.benchmarks.dogs import DogsLayout
from fgclass.data.benchmarks.flowers import FlowersLayout
from fgclass.data.benchmarks.inat import INat2021Layout
from fgclass.data.benchmarks.pets import PetsLayout

__all__ = [
    "AircraftLayout",
    "CarsLayout",
    "CubLayout",
    "DogsLayout",
    "FlowersLayout",
    "INat2021Layout",
    "NABirdsLayout",
    "PetsLayout",
]
