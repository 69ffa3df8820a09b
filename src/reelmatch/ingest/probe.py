"""Is this file a video? Decide by content with PyAV, never by extension.

A file is a video when FFmpeg (through PyAV) opens it, finds a video stream that
is not an attached cover picture, with sane dimensions, and decodes frames from
it. Still images (PNG, JPEG...) open as one-frame "videos" and are rejected.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from reelmatch.errors import InputError, one_line

MAX_SIDE = 16384
#: FFmpeg demuxers that read single still pictures
_IMAGE_DEMUXERS = ("image2", "image2pipe")


@dataclass(frozen=True)
class VideoInfo:
    """What probing learnt: ``duration`` in seconds, frame size, container and codec names."""

    duration: float
    width: int
    height: int
    container: str
    codec: str
    has_audio: bool


def probe_video(path: str | Path) -> VideoInfo:
    """Probe ``path``; raise :class:`InputError` with a one-line reason if it is not a usable video."""
    import av

    path = Path(path)
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError) as e:
        reason = one_line(e)
        raise InputError(f"not a video: {reason}") from e
    with container:
        fmt = container.format.name
        if fmt in _IMAGE_DEMUXERS or fmt.endswith("_pipe"):
            raise InputError(f"not a video: a still image ({fmt})")
        streams = [
            s for s in container.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)
        ]
        if not streams:
            raise InputError(f"not a video: no video stream ({fmt} container)")
        vs = streams[0]
        w, h = vs.codec_context.width, vs.codec_context.height
        if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
            raise InputError(f"not a video: impossible frame size {w}x{h}")
        codec = vs.codec_context.name
        has_audio = bool(container.streams.audio)
        frames = 0
        try:
            for frame in container.decode(vs):
                frames += 1
                if frames >= 2:
                    break
        except (av.FFmpegError, ValueError) as e:
            if frames == 0:
                raise InputError(f"video stream ({codec}) does not decode: {one_line(e)}") from e
        if frames == 0:
            raise InputError(f"video stream ({codec}) has no decodable frame")
        duration = _duration(container, vs)
        if frames < 2 and not duration:
            raise InputError(f"not a video: a single picture ({codec})")
    return VideoInfo(float(duration or 0.0), int(w), int(h), fmt, codec, has_audio)


def header_duration(container, stream) -> float | None:
    """Seconds the headers declare: the video stream's duration, else the container's; None if neither."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return None


def _duration(container, vs) -> float | None:
    """Seconds: the headers (:func:`header_duration`), else the last packet's timestamp."""
    declared = header_duration(container, vs)
    if declared:
        return declared
    last = None
    try:
        container.seek(0)
        for pkt in container.demux(vs):
            if pkt.pts is not None and pkt.time_base is not None:
                end = float((pkt.pts + (pkt.duration or 0)) * pkt.time_base)
                last = end if last is None else max(last, end)
    except Exception:  # noqa: BLE001 - best effort; the header said nothing
        return last
    return last


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
