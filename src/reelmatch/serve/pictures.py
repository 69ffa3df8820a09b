"""Pictures the server shows: thumbnails, contact sheets, spectrograms.

Pure functions from arrays to arrays, plus ``encode`` (array -> JPEG/PNG bytes)
and ``video_frame`` (one decoded frame of a media file, used for items that have
no clip yet).
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


def spectrogram_picture(spec: np.ndarray, height: int = 160) -> np.ndarray:
    """An RGB picture of a spectrogram.

    ``spec`` is either the recipe's picture (uint8 [S,S,3], returned as is) or a
    log-mel array float32 [n_mels, frames], drawn with low frequencies at the
    bottom in the magma colour map, scaled to ``height`` rows.
    """
    if spec.ndim == 3 and spec.shape[-1] == 3:
        return np.ascontiguousarray(spec.astype(np.uint8))
    if spec.ndim != 2:
        raise ValueError(f"spectrogram must be [n_mels, frames] or [S,S,3], got {spec.shape}")
    from matplotlib import colormaps

    x = np.asarray(spec, dtype=np.float32)
    lo, hi = np.percentile(x, 2), np.percentile(x, 99.5)
    norm = np.zeros_like(x) if hi <= lo else np.clip((x - lo) / (hi - lo), 0, 1)
    rgb = (colormaps["magma"](norm[::-1])[..., :3] * 255).astype(np.uint8)
    if rgb.shape[0] != height:
        from PIL import Image

        rgb = np.asarray(Image.fromarray(rgb).resize((rgb.shape[1], height), Image.BILINEAR))
    return rgb


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
    Raises ``ValueError`` when the file has no decodable video frame.
    """
    import av

    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError(f"{path}: no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
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


def contact_sheet(clip) -> np.ndarray:
    """All real frames of a clip side by side in rows of five: uint8 [H,W,3]."""
    frames = clip.frames[np.asarray(clip.mask, bool)]
    if len(frames) == 0:
        raise ValueError("clip has no real frame")
    cols = min(5, len(frames))
    rows = -(-len(frames) // cols)
    s = frames.shape[1]
    sheet = np.full((rows * s + (rows - 1) * 2, cols * s + (cols - 1) * 2, 3), 16, np.uint8)
    for i, f in enumerate(frames):
        r, c = divmod(i, cols)
        sheet[r * (s + 2) : r * (s + 2) + s, c * (s + 2) : c * (s + 2) + s] = f
    return sheet
