"""Dense frame sampling for copy detection (PyAV, low resolution).

Pure functions of a file: ``sample_frames`` decodes a video once and keeps the
frame nearest to every ``1/fps`` seconds, scaled down in the decoder's scaler
(no full-resolution RGB conversion), and ``border_box`` finds letterbox or
pillarbox bars that stay constant over the whole video so they can be cut off
before description.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from reelmatch.errors import InputError

log = logging.getLogger(__name__)


def _scaled_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(width, height, 1))
    w = max(2, int(round(width * scale / 2)) * 2)
    h = max(2, int(round(height * scale / 2)) * 2)
    return w, h


def sample_frames(
    path: str | Path,
    *,
    fps: float = 1.0,
    max_side: int = 256,
    max_seconds: float = 600.0,
    min_frames: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Frames of ``path`` about every ``1/fps`` seconds.

    Returns ``(frames uint8 [T, H, W, 3], times float32 [T])`` with the longer
    side at most ``max_side`` pixels. Videos shorter than ``min_frames / fps``
    are sampled more densely so that at least ``min_frames`` frames come back
    when the file has them. Raises ``InputError`` naming the file when it has no
    video stream or no frame decodes.
    """
    import av

    from reelmatch import media

    path = Path(path)
    try:
        container = media.open_media(path)
    except media.MediaError as e:
        cause = e.__cause__
        detail = f"{type(cause).__name__}: {cause}" if cause is not None else e.reason
        raise InputError(f"{path}: cannot open as a video ({detail})") from e
    with container:
        stream = media.decodable_video(container, str(path), thread_type="AUTO")
        duration = media.duration(container, stream)
        step = 1.0 / fps
        if duration is not None and duration > 0 and duration < min_frames * step:
            step = duration / min_frames
        frames: list[np.ndarray] = []
        times: list[float] = []
        next_t = 0.0
        start = None
        size = None
        last = None
        try:
            for frame in container.decode(stream):
                t = frame.time
                if t is None:
                    continue
                if start is None:
                    start = t
                t -= start
                if t > max_seconds:
                    break
                if size is None:
                    size = _scaled_size(frame.width, frame.height, max_side)
                if t + 0.5 / 1000 >= next_t:
                    img = frame.to_ndarray(format="rgb24", width=size[0], height=size[1])
                    frames.append(img)
                    times.append(t)
                    next_t += step
                    while next_t <= t:  # a gap in the stream: do not emit bursts
                        next_t += step
                last = frame
        except (av.FFmpegError, ValueError) as e:
            if not frames:
                raise InputError(f"{path}: no decodable video frame ({type(e).__name__}: {e})") from e
            log.warning("%s: decoding stopped at %.1f s (%s); using %d frames", path, times[-1], e, len(frames))
        if not frames:
            raise InputError(f"{path}: no decodable video frame")
        if len(frames) < min_frames and last is not None and last.time is not None and times[-1] < last.time - start:
            frames.append(last.to_ndarray(format="rgb24", width=size[0], height=size[1]))
            times.append(last.time - start)
    return np.stack(frames), np.asarray(times, np.float32)


def border_box(frames: np.ndarray, *, tol: float = 10.0, max_fraction: float = 0.4) -> tuple[int, int, int, int]:
    """Box ``(top, bottom, left, right)`` without constant bars (letterbox/pillarbox).

    A row (column) is a bar when its pixels barely vary across the row (column)
    and across all ``frames`` uint8 [T, H, W, 3], and it touches the edge
    through other bar rows. At most ``max_fraction`` of a side is cut.
    """
    if frames.ndim != 4:
        raise ValueError(f"frames must be [T, H, W, 3], got shape {frames.shape}")
    g = frames.astype(np.float32).mean(axis=3)  # [T, H, W]
    T, H, W = g.shape

    def bars(axis_len: int, spread: np.ndarray) -> tuple[int, int]:
        flat = spread < tol
        lim = int(axis_len * max_fraction)
        a = 0
        while a < lim and flat[a]:
            a += 1
        b = axis_len
        while axis_len - b < lim and flat[b - 1]:
            b -= 1
        if b - a < axis_len * 0.2:  # (nearly) uniform video: keep everything
            return 0, axis_len
        return a, b

    # spread of a row: range over time and width
    row_spread = g.max(axis=(0, 2)) - g.min(axis=(0, 2))
    col_spread = g.max(axis=(0, 1)) - g.min(axis=(0, 1))
    top, bottom = bars(H, row_spread)
    left, right = bars(W, col_spread)
    return top, bottom, left, right
