"""Pictures the server shows: thumbnails (contact sheets and spectrogram
pictures are drawn by :mod:`reelmatch.extract.sheet`, shared with ``reelmatch show``).

``clip_thumbnail`` picks a frame of a clip, ``video_frame`` decodes one from a
media file (items without a clip yet), ``encode`` makes JPEG/PNG bytes.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

FORMATS = {"jpeg": "image/jpeg", "png": "image/png"}


def clip_thumbnail(frames: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The middle real frame of a clip: uint8 [K,S,S,3] + bool [K] -> uint8 [S,S,3]."""
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be [K,S,S,3], got {frames.shape}")
    real = np.flatnonzero(mask)
    if real.size == 0:
        raise ValueError("clip has no real frame")
    return frames[real[real.size // 2]]


def encode(img: np.ndarray, fmt: str = "jpeg", *, max_side: int | None = None) -> bytes:
    """uint8 [H,W,3] -> JPEG or PNG bytes, shrunk so its longer side is <= ``max_side``."""
    from PIL import Image

    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    im = Image.fromarray(np.ascontiguousarray(img, dtype=np.uint8), "RGB")
    if max_side and max(im.size) > max_side:
        im.thumbnail((max_side, max_side), Image.LANCZOS)
    buf = io.BytesIO()
    if fmt == "jpeg":
        im.save(buf, "JPEG", quality=85)
    else:
        im.save(buf, "PNG", optimize=False)
    return buf.getvalue()


def video_frame(path: str | Path, *, at: float = 0.3, max_side: int = 480) -> np.ndarray:
    """One RGB frame of a video, ``at`` (fraction of the duration) into it.

    Seeks to the nearest keyframe before the time and decodes forward to it.
    Opened through :func:`reelmatch.media.open_media` (its limits apply).
    Raises :class:`~reelmatch.errors.InputError` when the file cannot be opened,
    has no video stream or declares an absurd frame size, ``ValueError`` when
    no frame decodes.
    """
    from reelmatch import media

    with media.open_media(path) as container:
        stream = media.decodable_video(container, str(path), thread_type="AUTO")
        duration = media.duration(container, stream)
        target = (duration or 0.0) * at
        if target > 0:
            container.seek(int(target / stream.time_base), stream=stream, backward=True, any_frame=False)
        last = None
        for frame in container.decode(stream):
            last = frame
            if frame.time is None or frame.time >= target:
                break
        if last is None:
            raise ValueError(f"{path}: no decodable video frame")
        w, h = last.width, last.height
        scale = min(1.0, max_side / max(w, h))
        return last.to_ndarray(width=max(2, int(w * scale)) // 2 * 2, height=max(2, int(h * scale)) // 2 * 2, format="rgb24")

