"""Listing the image files of a folder tree, fast enough for a million files.

``os.scandir`` reads each folder once and knows from the listing itself what is a file or a folder,
where ``pathlib``'s ``rglob`` + ``is_file`` costs a ``stat`` and several ``Path`` objects per file
(about 9x slower on 100,000 files: ``benchmarks/RESULTS.md``, section 7). The result is the one
``rglob`` gave: linked folders are not entered (a link loop cannot recur), links to files count,
broken links and hidden files or folders do not, and the order is that of sorted ``Path`` objects.
"""

from __future__ import annotations

import os
from pathlib import Path

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})


def has_image_extension(name: str) -> bool:
    """Whether a file name ends in an image extension (in any case)."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def is_image_name(name: str) -> bool:
    """Whether a file name is a visible image file's (by its extension): what a folder listing keeps."""
    return not name.startswith(".") and has_image_extension(name)


def image_files(folder: Path, base: Path) -> list[str]:
    """Image files anywhere under ``folder``, as POSIX paths relative to ``base``, sorted part by part."""
    found: list[str] = []
    pending = [(str(folder), folder.relative_to(base).as_posix())]
    while pending:
        directory, relative = pending.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    pending.append((entry.path, f"{relative}/{entry.name}"))
                elif is_image_name(entry.name) and entry.is_file():
                    found.append(f"{relative}/{entry.name}")
    return sorted(found, key=lambda path: path.split("/"))
