"""Which files the server may send: the safety rules, in one place.

The server never takes a path from a request. A file is reached only through an
item id, and is served only when

* the catalogue lists it as that item's media, and
* its real path (symlinks followed) stays inside the workspace when the listed
  path is inside the workspace (no escape through a symlink planted under
  ``media/``), and
* it is a regular file with a video container suffix (so a catalogue row
  pointing at, say, a text file is refused).
"""

from __future__ import annotations

import os
from pathlib import Path

from reelmatch.errors import NotFoundError

#: suffix -> Content-Type of the media the server streams
VIDEO_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".avi": "video/x-msvideo",
    ".mpg": "video/mpeg",
    ".mpeg": "video/mpeg",
    ".ogv": "video/ogg",
    ".flv": "video/x-flv",
    ".ts": "video/mp2t",
    ".m2ts": "video/mp2t",
    ".wmv": "video/x-ms-wmv",
    ".3gp": "video/3gpp",
}


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def servable_media(ws, item) -> tuple[Path, str]:
    """``(real path, content type)`` of an item's media, or ``NotFoundError``.

    ``NotFoundError`` (404) also covers every refusal, so a client cannot tell a
    refused file from a missing one.
    """
    listed = ws.media_file(item)  # NotFoundError when the item has no media
    lexical = Path(os.path.abspath(listed))
    refused = NotFoundError(f"item {item.id} has no media the server can send")
    try:
        real = lexical.resolve(strict=True)
    except (OSError, RuntimeError):
        raise NotFoundError(f"item {item.id}: its media file is missing") from None
    if _inside(lexical, ws.root) and not ws.owns(real):
        raise refused  # a symlink under the workspace pointing outside it
    if not real.is_file():
        raise refused
    ctype = VIDEO_TYPES.get(real.suffix.lower()) or VIDEO_TYPES.get(lexical.suffix.lower())
    if ctype is None:
        raise refused
    return real, ctype
