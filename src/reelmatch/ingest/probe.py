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

    from reelmatch import media

    path = Path(path)
    try:
        container = media.open_media(path)
    except media.MediaError as e:
        raise InputError(f"not a video: {e.cause}") from e
    with container:
        fmt = container.format.name
        if fmt in _IMAGE_DEMUXERS or fmt.endswith("_pipe"):
            raise InputError(f"not a video: a still image ({fmt})")
        vs = media.video_stream(container)
        if vs is None:
            raise InputError(f"not a video: no video stream ({fmt} container)")
        w, h = vs.codec_context.width, vs.codec_context.height
        try:
            media.check_frame_size(w, h, "video stream")
        except InputError as e:
            raise InputError(f"not a video: {e}") from e
        media.prepare_decoder(vs)
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
        duration = media.duration(container, vs, scan=True)
        if frames < 2 and not duration:
            raise InputError(f"not a video: a single picture ({codec})")
    return VideoInfo(float(duration or 0.0), int(w), int(h), fmt, codec, has_audio)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
