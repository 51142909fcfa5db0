"""How much of the picture the network sees: the eval framing derived from ``crop_pct`` (timm's
convention), and the check that it agrees with the framing of the training pipeline.

The eval pipeline resizes the shorter side to ``resize_size`` and keeps a centre crop of
``image_size``: its *share* is ``image_size / resize_size`` of the picture's shorter side (timm's
``crop_pct``). ``resize_size`` defaults to ``round(image_size / crop_pct)``, so a new ``image_size``
keeps the framing; at 224 px and crop_pct 0.875 that is the classic 256.
"""

from __future__ import annotations

import logging
import math

import albumentations as A

from fgclass.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_CROP_PCT = 0.875  # torchvision's and timm's classic 224 of 256
DEFAULT_IMAGE_SIZE = 224  # data.image_size where the backbone's weights state no native size
_TOLERANCE = 0.05  # relative: shares within 5 % of the training range count as agreeing


def check_crop_pct(crop_pct: float) -> None:
    """Fail unless ``crop_pct`` is a share of the picture, in (0, 1]."""
    if not 0 < crop_pct <= 1:
        raise ConfigError(
            f"data.crop_pct={crop_pct}: the share of the resized image's shorter side that the eval "
            f"centre crop keeps must lie in (0, 1] (e.g. {DEFAULT_CROP_PCT}, timm's default). Fix it, or "
            "set data.resize_size (>= data.image_size) directly."
        )


def derived_resize_size(image_size: int, crop_pct: float) -> int:
    """``round(image_size / crop_pct)``: the shorter side before the eval centre crop."""
    check_crop_pct(crop_pct)
    return round(image_size / crop_pct)


def training_share(augment: A.BaseCompose | A.BasicTransform) -> tuple[float, float] | None:
    """The range of shares of the picture's shorter side that the training pipeline keeps, or
    ``None`` where it cannot tell.

    Read from the framing transforms in order: ``Resize`` and ``SmallestMaxSize`` keep the whole
    picture (and set the side length in pixels); ``CenterCrop``/``RandomCrop`` keep their side over
    the current side; ``RandomResizedCrop`` keeps ``sqrt(scale)`` of it (the side of an area share;
    the aspect ``ratio`` is ignored). Flips, rotations, affine warps and colour changes do not count.
    ``None`` for a crop whose input side is unknown, a framing transform applied with ``p < 1`` or
    inside ``OneOf``/``SomeOf``, and any other crop or resize transform.
    """
    low = high = 1.0
    side: int | None = None  # the current shorter side in pixels, where known
    for transform in _in_order(augment):
        if not _frames(transform):
            continue
        if isinstance(transform, A.BaseCompose) or transform.p < 1:  # applied or not: unknowable
            return None
        if isinstance(transform, A.Resize):
            side = min(transform.height, transform.width)
        elif isinstance(transform, A.SmallestMaxSize) and isinstance(transform.max_size, int):
            side = transform.max_size
        elif isinstance(transform, (A.CenterCrop, A.RandomCrop)) and side is not None:
            crop = min(transform.height, transform.width)
            low, high = low * min(1.0, crop / side), high * min(1.0, crop / side)
            side = crop
        elif isinstance(transform, A.RandomResizedCrop):
            low, high = low * math.sqrt(transform.scale[0]), high * math.sqrt(transform.scale[1])
            side = min(transform.size)
        else:
            return None
    return low, high


def warn_if_framing_differs(
    augment: A.BaseCompose | A.BasicTransform | None, image_size: int, resize_size: int, crop_pct: float
) -> None:
    """Log a warning, naming the settings and the fix, where the eval centre crop keeps a share of
    the picture outside (by more than 5 %) the range the training pipeline keeps
    (:func:`training_share`): the model would be tested on another zoom than it learnt."""
    shares = training_share(augment) if augment is not None else None
    if shares is None:
        return
    low, high = shares
    share = image_size / resize_size
    if low * (1 - _TOLERANCE) <= share <= high * (1 + _TOLERANCE):
        return
    smallest, largest = math.ceil(image_size / high), math.floor(image_size / low) if low else math.inf
    derived = derived_resize_size(image_size, crop_pct)
    fix = f"set data.resize_size within {smallest}-{largest}"
    if smallest <= derived <= largest:
        fix = f"leave data.resize_size unset (round(image_size / data.crop_pct) = {derived}) or {fix}"
    log.warning(
        "The eval framing differs from the training view: the centre crop keeps %.0f %% of the picture's "
        "shorter side (data.image_size=%d of data.resize_size=%d), the training pipeline (augment) "
        "%.0f-%.0f %%, so validation and test see another zoom than training and score lower: %s.",
        100 * share,
        image_size,
        resize_size,
        100 * low,
        100 * high,
        fix,
    )


def _in_order(transform: A.BaseCompose | A.BasicTransform | list) -> list[A.BasicTransform | A.BaseCompose]:
    """The transforms of a pipeline in the order they run: ``Compose``/``Sequential`` flattened,
    other containers (``OneOf``, ``SomeOf``, ...) kept whole."""
    if isinstance(transform, list):
        return [t for child in transform for t in _in_order(child)]
    if isinstance(transform, (A.Compose, A.Sequential)):
        return _in_order(list(transform.transforms))
    return [transform]


def _frames(transform: A.BaseCompose | A.BasicTransform) -> bool:
    """Whether a transform crops or resizes (changes which part of the picture is seen, or its size)."""
    if isinstance(transform, A.BaseCompose):
        return any(_frames(t) for t in transform.transforms)
    return type(transform).__module__.startswith(
        ("albumentations.augmentations.crops", "albumentations.augmentations.geometric.resize")
    )
