"""The one image decoder: files to RGB ``uint8`` arrays with OpenCV (as training reads them), and
the complete PIL decode that finds truncated files, which OpenCV would return half-read."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from fgclass.errors import DataError


class ImageError(DataError):
    """An image file that cannot be read or decoded; ``reason`` says why without naming the file."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"Cannot read image '{path}': {reason}.")
        self.path, self.reason = Path(path), reason


def read_file(path: str | Path) -> bytes:
    """The bytes of an image file; :class:`ImageError` when it cannot be read or is empty."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImageError(path, f"unreadable file ({exc.strerror or exc})") from exc
    if not data:
        raise ImageError(path, "empty file (0 bytes)")
    return data


def decode_fully(path: str | Path, data: bytes) -> Image.Image:
    """Decode the bytes ``data`` of ``path`` completely with PIL; :class:`ImageError` for files that
    are not images, corrupt or truncated."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()  # full decode: raises on truncated or corrupt data
    except UnidentifiedImageError as exc:
        raise ImageError(path, "not an image (no image format recognised)") from exc
    except Exception as exc:  # PIL raises many exception types for corrupt data
        raise ImageError(path, f"corrupt or truncated image ({type(exc).__name__}: {exc})") from exc
    return image


def load_rgb(path: str | Path, verify: bool = False) -> np.ndarray:
    """Decode an image file to an RGB ``uint8`` array of shape (H, W, 3), or raise :class:`ImageError`.

    ``verify`` first decodes the file completely with PIL (slower), so a truncated file raises
    instead of giving its readable part; the pixels come from OpenCV either way.
    """
    data = read_file(path)
    if verify:
        decode_fully(path, data)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ImageError(path, "image format OpenCV cannot decode")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
