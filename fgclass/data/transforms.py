"""Image pipelines. Augmentations come from ``conf/augment/*.yaml`` as Albumentations objects;
every pipeline ends in a ``uint8`` CHW tensor.

Normalisation (ImageNet mean/std) is not done here but in the model's first layer
(:class:`fgclass.models.classifier.Classifier`), so batches travel as compact ``uint8`` and a
checkpoint carries its own preprocessing. Noise for robustness tests is added in [0, 1] pixel
space between the two (see :mod:`fgclass.evaluation.noise`).
"""

from __future__ import annotations

import random

import albumentations as A
import numpy as np
import torch
from albumentations.pytorch import ToTensorV2

from fgclass.errors import ConfigError


def eval_transform(image_size: int, resize_size: int) -> A.Compose:
    """Deterministic: shorter side to ``resize_size``, centre crop ``image_size``."""
    if resize_size < image_size:
        raise ConfigError(
            f"data.resize_size={resize_size} is smaller than data.image_size={image_size}; "
            "the centre crop needs resize_size >= image_size."
        )
    return A.Compose(
        [
            A.SmallestMaxSize(max_size=resize_size),
            A.CenterCrop(image_size, image_size),
            ToTensorV2(),
        ]
    )


def train_transform(augment: A.BasicTransform | A.BaseCompose | None, eval_pipeline: A.Compose) -> A.Compose:
    """The augmentation pipeline followed by tensor conversion; without one, the eval pipeline."""
    if augment is None:
        return eval_pipeline
    return A.Compose([augment, ToTensorV2()])


def check_output_size(
    pipeline: A.Compose, image_size: int, name: str, setting: str = "data.image_size"
) -> None:
    """Fail early, with the config to fix, unless ``pipeline`` produces square ``image_size`` uint8 images
    (``setting``: the config key that sets that size)."""
    probe = np.zeros((image_size + 37, image_size + 91, 3), dtype=np.uint8)
    image = pipeline(image=probe)["image"]
    shape = tuple(image.shape)
    if shape != (3, image_size, image_size):
        raise ConfigError(
            f"The {name} pipeline produces images of shape {shape}, expected "
            f"(3, {image_size}, {image_size}) ({setting}={image_size}). "
            f"Make its last resize/crop use {setting}."
        )
    if image.dtype != torch.uint8:
        raise ConfigError(
            f"The {name} pipeline produces {image.dtype} images, expected uint8: remove Normalize/ToFloat "
            "from it (the model normalises its input)."
        )


def reseed(pipeline: A.BaseCompose, seed: int) -> None:
    """Draw every transform of ``pipeline`` from one random stream started at ``seed``.

    Not Albumentations' ``set_random_seed``: it (and ``Compose(seed=...)``) gives each transform its
    own generator *with the same seed*, so transforms with equal ``p`` fire together (a horizontal
    and a vertical flip at p=0.5 always both or neither, measured with 2.0.8).
    """
    seed %= 2**32
    pipeline.set_random_state(np.random.default_rng(seed), random.Random(seed))
