"""Image pipelines: the eval transform, every conf/augment option, and the output-size check."""

from __future__ import annotations

from collections.abc import Callable

import albumentations as A
import numpy as np
import pytest
import torch
from albumentations.pytorch import ToTensorV2
from hydra.utils import instantiate
from omegaconf import DictConfig

from fgclass.data.framing import training_share
from fgclass.data.synthetic import draw_image
from fgclass.data.transforms import check_output_size, eval_transform, reseed, train_transform
from fgclass.errors import ConfigError

AUGMENTS = ["none", "basic", "fish_paper", "butterfly_paper", "strong", "randaugment"]


def photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A real-looking, non-square RGB picture."""
    rng = np.random.default_rng(seed)
    return np.ascontiguousarray(draw_image(3, 9, max(height, width), rng)[:height, :width])


def test_eval_transform_resizes_the_shorter_side_and_crops_the_centre() -> None:
    image = photo(36, 60)
    out = eval_transform(image_size=32, resize_size=36)(image=image)["image"]
    assert out.dtype == torch.uint8 and tuple(out.shape) == (3, 32, 32)
    # the shorter side is already 36: no resize, then the central 32 x 32
    assert np.array_equal(out.permute(1, 2, 0).numpy(), image[2:34, 14:46])
    small = eval_transform(image_size=32, resize_size=40)(image=photo(20, 30))["image"]
    assert tuple(small.shape) == (3, 32, 32)  # small images are enlarged


def test_eval_transform_needs_resize_at_least_image_size() -> None:
    with pytest.raises(ConfigError, match=r"data\.resize_size=200 is smaller than data\.image_size=224"):
        eval_transform(image_size=224, resize_size=200)


@pytest.mark.parametrize("augment", AUGMENTS)
@pytest.mark.parametrize(("image_size", "resize_size"), [(32, 36), (224, 256)])
def test_every_augment_config_ends_at_image_size(
    train_config: Callable[..., DictConfig], augment: str, image_size: int, resize_size: int
) -> None:
    cfg = train_config(
        f"augment={augment}", f"data.image_size={image_size}", f"data.resize_size={resize_size}"
    )
    eval_pipeline = eval_transform(image_size, resize_size)
    pipeline = train_transform(instantiate(cfg.data.augment), eval_pipeline)
    assert (pipeline is eval_pipeline) == (augment == "none")
    check_output_size(pipeline, image_size, augment)
    for image in (photo(445, 590), photo(image_size, image_size), photo(20, 24)):
        out = pipeline(image=image)["image"]
        assert out.dtype == torch.uint8 and tuple(out.shape) == (3, image_size, image_size)


def flips(image: torch.Tensor) -> list[torch.Tensor]:
    return [image, image.flip(2), image.flip(1), image.flip(1).flip(2)]


@pytest.mark.parametrize(
    ("augment", "overrides"), [("basic", []), ("fish_paper", ["data.augment.transforms.1.p=0"])]
)
def test_flip_augments_keep_the_eval_framing(
    train_config: Callable[..., DictConfig], augment: str, overrides: list[str]
) -> None:
    # on a non-square image, training and test images must show the same part at the same scale;
    # only the flips may differ (fish_paper's rotation switched off to compare pixel by pixel)
    cfg = train_config(f"augment={augment}", *overrides)
    size, resize = cfg.data.image_size, cfg.data.resize_size
    pipeline = train_transform(instantiate(cfg.data.augment), eval_transform(size, resize))
    image = photo(45, 59)
    reference = eval_transform(size, resize)(image=image)["image"]
    seen = set()
    for _ in range(30):
        out = pipeline(image=image)["image"]
        matches = [i for i, flipped in enumerate(flips(reference)) if torch.equal(out, flipped)]
        assert matches, "training framing differs from the eval framing"
        seen.add(matches[0])
    assert len(seen) > 1  # and it does flip


def test_pipeline_of_the_wrong_size_is_a_config_error() -> None:
    pipeline = train_transform(A.Compose([A.Resize(height=32, width=40)]), eval_transform(32, 36))
    with pytest.raises(
        ConfigError, match=r"training pipeline produces .*\(3, 32, 40\), expected \(3, 32, 32\)"
    ):
        check_output_size(pipeline, 32, "training")


def test_pipeline_that_normalises_is_a_config_error() -> None:
    pipeline = train_transform(
        A.Compose([A.Resize(height=32, width=32), A.Normalize()]), eval_transform(32, 36)
    )
    with pytest.raises(ConfigError, match=r"torch\.float32 images, expected uint8: remove Normalize"):
        check_output_size(pipeline, 32, "training")


def test_reseed_fixes_the_random_stream() -> None:
    pipeline = A.Compose(
        [A.RandomResizedCrop(size=(16, 16), scale=(0.1, 1.0)), A.Rotate(limit=45), ToTensorV2()]
    )
    image = photo(40, 40)

    def draws(seed: int) -> list[torch.Tensor]:
        reseed(pipeline, seed)
        return [pipeline(image=image)["image"] for _ in range(3)]

    first = draws(2**40 + 1)  # torch seeds can exceed 32 bits
    assert all(torch.equal(a, b) for a, b in zip(first, draws(2**40 + 1)))
    assert not torch.equal(first[0], first[1])
    assert not any(torch.equal(a, b) for a, b in zip(first, draws(2)))


@pytest.mark.parametrize(
    ("transforms", "share"),
    [
        ([A.Resize(256, 256), A.RandomResizedCrop(size=(224, 224), scale=(0.25, 1.0))], (0.5, 1.0)),
        ([A.SmallestMaxSize(max_size=256), A.Rotate(limit=30), A.CenterCrop(192, 192)], (0.75, 0.75)),
        ([A.HorizontalFlip(), A.RandomResizedCrop(size=(32, 32), scale=(0.36, 0.64))], (0.6, 0.8)),
        ([A.Compose([A.Resize(100, 100), A.RandomCrop(50, 50)]), A.CenterCrop(25, 25)], (0.25, 0.25)),
        ([A.Resize(64, 64), A.SomeOf([A.Affine(rotate=10), A.Sharpen()], n=1)], (1.0, 1.0)),
        ([A.CenterCrop(32, 32)], None),  # a crop of a picture of unknown size
        ([A.Resize(64, 64), A.OneOf([A.CenterCrop(32, 32), A.RandomCrop(48, 48)])], None),
        ([A.Resize(64, 64), A.CenterCrop(32, 32, p=0.5)], None),
        ([A.LongestMaxSize(max_size=64), A.CenterCrop(32, 32)], None),
    ],
)
def test_training_share_reads_the_framing_transforms(
    transforms: list, share: tuple[float, float] | None
) -> None:
    found = training_share(A.Compose(transforms))
    assert found == (None if share is None else pytest.approx(share))
