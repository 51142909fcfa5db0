"""The one image decoder: files to upright RGB ``uint8`` arrays with OpenCV (as training reads them),
and the complete PIL decode that finds truncated files, which OpenCV would return half-read.

**Orientation.** Both decodes apply the EXIF Orientation tag, so a phone photo stored sideways is
scanned, trained on, evaluated, embedded and predicted upright: the PIL decode through
``ImageOps.exif_transpose``, the OpenCV decode by ``IMREAD_COLOR``, which applies the same tag (the
two agree on all eight orientations in JPEG, PNG, WebP and TIFF: ``tests/test_image_inputs.py``).
Only an orientation stored in XMP metadata alone, which Pillow reads and OpenCV ignores, turns the
scan's copy and not the pixels; cameras and phones write the EXIF tag.

**Size.** An image of more than :data:`MAX_PIXELS` (PIL's decompression-bomb limit, 89.5 Mpx, e.g.
9,459 x 9,459) is never decoded at full size, so a small file that unpacks to gigabytes cannot
exhaust memory. A JPEG up to twice the limit (a 108 Mpx phone photo, a 12,000 x 12,000 scan) is
decoded at half width and height by libjpeg's DCT scaling, in both decodes; anything larger, or
larger in another format, is an :class:`ImageError` giving its size, the limit and the fix.
"""

from __future__ import annotations

import errno
import io
import os
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fgclass.errors import DataError

MAX_PIXELS = 89_478_485  # PIL's default Image.MAX_IMAGE_PIXELS: 256 MiB as RGB
_REDUCIBLE = frozenset({"JPEG", "MPO"})  # formats decoded at half scale above MAX_PIXELS
_HUGE = (
    f"save a copy of at most {MAX_PIXELS / 1e6:.1f} Mpx (e.g. 9,000 x 9,000), or as JPEG "
    f"(JPEGs up to {2 * MAX_PIXELS / 1e6:.0f} Mpx are read at half size)"
)


class ImageError(DataError):
    """An image file that cannot be read or decoded; ``reason`` says why without naming the file
    (and what a symbolic link points to, when the file is one)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        if os.path.islink(path) and os.path.exists(path):
            reason = f"{reason}; it is a symbolic link to '{os.path.realpath(path)}'"
        super().__init__(f"Cannot read image '{path}': {reason}.")
        self.path, self.reason = Path(path), reason


def broken_link(path: str | Path) -> str | None:
    """Why ``path``, a symbolic link that leads to no file, cannot be read (a loop, or a target that
    does not exist); None for anything else. Links that lead to a file are followed, wherever it is."""
    if not os.path.islink(path) or os.path.exists(path):
        return None
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"a symbolic link loop (it points to '{os.readlink(path)}')"
    return f"a broken symbolic link to '{os.path.realpath(path)}'"


def read_file(path: str | Path) -> bytes:
    """The bytes of an image file; :class:`ImageError` when it cannot be read or is empty."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImageError(path, broken_link(path) or f"unreadable file ({exc.strerror or exc})") from exc
    if not data:
        raise ImageError(path, "empty file (0 bytes)")
    return data


def open_header(path: str | Path, data: bytes) -> tuple[Image.Image, int]:
    """PIL's lazy open of ``data`` (reads the header only) and the scale, 1 or 2, that it decodes at;
    :class:`ImageError` for a file that is not an image or too large (see the module docstring)."""
    try:
        with warnings.catch_warnings():  # the size is checked here, with fgclass's own message
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise ImageError(path, "not an image (no image format recognised)") from exc
    except Image.DecompressionBombError as exc:
        too_large = f"more than {2 * MAX_PIXELS / 1e6:.0f} Mpx, too large to decode; {_HUGE}"
        raise ImageError(path, too_large) from exc
    except Exception as exc:  # PIL raises many exception types for corrupt headers
        raise ImageError(path, f"corrupt or truncated image ({type(exc).__name__}: {exc})") from exc
    width, height = image.size
    if width * height <= MAX_PIXELS:
        return image, 1
    if image.format in _REDUCIBLE and width * height <= 2 * MAX_PIXELS:
        return image, 2
    raise ImageError(
        path,
        f"{width} x {height} pixels ({width * height / 1e6:.1f} Mpx) in {image.format}, more than the "
        f"{MAX_PIXELS / 1e6:.1f} Mpx that fgclass decodes; {_HUGE}",
    )


def decode_fully(path: str | Path, data: bytes) -> Image.Image:
    """Decode the bytes ``data`` of ``path`` completely with PIL, upright (EXIF orientation applied)
    and at the scale of :func:`open_header`; :class:`ImageError` for files that are not images,
    too large, corrupt or truncated."""
    return _decode(path, *open_header(path, data))


def _decode(path: str | Path, image: Image.Image, scale: int) -> Image.Image:
    """Decode ``image``, as :func:`open_header` opened it, completely and upright at ``scale``."""
    try:
        if scale > 1:
            image.draft(None, (image.width // scale, image.height // scale))
        image.load()  # full decode: raises on truncated or corrupt data
    except Exception as exc:  # PIL raises many exception types for corrupt data
        raise ImageError(path, f"corrupt or truncated image ({type(exc).__name__}: {exc})") from exc
    try:
        ImageOps.exif_transpose(image, in_place=True)
    except Exception as exc:
        reason = f"corrupt EXIF metadata ({type(exc).__name__}: {exc}); re-save the image without it"
        raise ImageError(path, reason) from exc
    return image


def load_rgb(path: str | Path, verify: bool = False, data: bytes | None = None) -> np.ndarray:
    """Decode an image file to an upright RGB ``uint8`` array of shape (H, W, 3), or raise
    :class:`ImageError`.

    ``verify`` first decodes the file completely with PIL (slower), so a truncated file raises
    instead of giving its readable part; the pixels come from OpenCV either way. ``data``: the
    file's bytes where they were read already (e.g. from a shard); ``path`` then names them.
    """
    data = read_file(path) if data is None else data
    opened, scale = open_header(path, data)  # the size check, once, for both decodes
    if verify:
        _decode(path, opened, scale)
    flags = cv2.IMREAD_COLOR if scale == 1 else cv2.IMREAD_REDUCED_COLOR_2
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error:
        image = None
    if image is None:
        raise ImageError(path, "image format OpenCV cannot decode")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
