"""The one place media files are opened with PyAV, with the safety limits.

Every reader (extract, dedupe frames, ingest probing, serve pictures) opens
files through :func:`open_media` and picks its streams and duration here, so a
hostile file meets the same limits whichever command reads it:

* bounded probing (``probesize``/``analyzeduration``) and an open/read timeout,
  so a damaged file cannot make the demuxer read or wait forever;
* the declared frame size checked before anything is allocated
  (:func:`check_frame_size`) and the decoder told to refuse larger frames
  (``max_pixels``, :func:`prepare_decoder`), as a stream may change size mid-way;
* the video stream chosen the same way everywhere (the best stream that is not
  an attached cover picture) and one duration rule (:func:`duration`).

Importing this module imports neither PyAV nor torch; PyAV is imported on first use.
"""

from __future__ import annotations

import math
from pathlib import Path

from reelmatch.errors import InputError, one_line

#: largest declared frame (pixels) we agree to decode: 8K UHD is 33 Mpx
MAX_PIXELS = 40_000_000
#: longest side we agree to decode
MAX_SIDE = 16384
#: how much the demuxer may read (bytes) and analyse (microseconds) to find the streams
PROBE_OPTIONS = {"probesize": "20000000", "analyzeduration": "20000000"}
#: seconds the demuxer may wait while opening / for one packet before giving up
TIMEOUT = (60.0, 60.0)
#: durations outside (0, this) seconds are not believed
MAX_DURATION = 10 * 24 * 3600.0


class MediaError(InputError):
    """A file that cannot be opened as media.

    ``str(e)`` is ``"<file name>: <reason>"``; ``reason`` is the same without the
    file name and ``cause`` the underlying one-line error (FFmpeg's or the OS's).
    """

    def __init__(self, name: str, reason: str, cause: str = ""):
        super().__init__(f"{name}: {reason}")
        self.name, self.reason, self.cause = name, reason, cause or reason


def check_file(path: str | Path) -> int:
    """Size in bytes of a regular, non-empty file; :class:`MediaError` otherwise."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        reason = e.strerror or str(e)
        raise MediaError(path.name, f"cannot read ({reason})", one_line(e)) from e
    if not path.is_file():
        raise MediaError(path.name, "not a regular file")
    if size == 0:
        raise MediaError(path.name, "empty file (0 bytes)")
    return size


def open_media(path: str | Path, *, check: bool = True):
    """Open ``path`` for reading with the safety limits; returns a PyAV input container.

    Use it as a context manager. ``check`` first requires a regular non-empty
    file (:func:`check_file`). Raises :class:`MediaError` (an ``InputError``)
    with a one-line reason naming the file when it cannot be opened.
    """
    import av

    path = Path(path)
    if check:
        check_file(path)
    try:
        return av.open(str(path), options=PROBE_OPTIONS, metadata_errors="replace", timeout=TIMEOUT)
    except av.error.FFmpegError as e:
        raise MediaError(
            path.name, f"not a readable media file ({one_line(e)}; truncated, damaged or not audio-visual)", one_line(e)
        ) from e
    except (OSError, ValueError, UnicodeError) as e:
        raise MediaError(path.name, f"cannot open ({one_line(e)})", one_line(e)) from e


def open_output(path: str | Path, **kwargs):
    """Open ``path`` for writing (a PyAV output container; the format follows the suffix)."""
    import av

    return av.open(str(path), "w", **kwargs)


def video_streams(container) -> list:
    """The container's video streams, attached cover pictures left out."""
    import av

    return [s for s in container.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)]


def _best(container, kind: str, candidates: list):
    try:
        best = container.streams.best(kind)
    except Exception:  # noqa: BLE001 - PyAV/FFmpeg could not rank the streams
        best = None
    return best if best in candidates else candidates[0]


def video_stream(container):
    """The video stream to read (FFmpeg's best one that is not a cover picture), or ``None``."""
    videos = video_streams(container)
    return _best(container, "video", videos) if videos else None


def audio_stream(container):
    """The audio stream to read (FFmpeg's best one), or ``None``."""
    audios = list(container.streams.audio)
    return _best(container, "audio", audios) if audios else None


def no_video_reason(container) -> str:
    """Why a container without a video stream is not a video: ``"audio-only file"``, ``"no streams"``..."""
    kinds = sorted({s.type for s in container.streams})
    return "audio-only file" if "audio" in kinds else "no streams" if not kinds else f"streams: {', '.join(kinds)}"


def check_frame_size(width: int, height: int, where: str = "video stream") -> None:
    """Reject absurd frame sizes before anything is allocated (:class:`InputError` naming ``where``)."""
    if not width or not height or width <= 0 or height <= 0:
        raise InputError(f"{where} declares no frame size ({width}x{height})")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise InputError(
            f"{where} declares a {width}x{height} frame, larger than the {MAX_PIXELS // 1_000_000} Mpx limit"
        )


def prepare_decoder(stream, threads: int | None = None, thread_type: str | None = None) -> None:
    """The ``max_pixels`` limit and decoder threads for ``stream`` (before its first packet is decoded).

    ``threads`` > 1: FFmpeg frame threads; 1: one slice thread; ``None``:
    FFmpeg's default. ``thread_type`` (e.g. ``"AUTO"``) sets the kind instead.
    """
    cc = stream.codec_context
    if thread_type is not None:
        cc.thread_type = thread_type
    elif threads is not None and threads > 1:
        cc.thread_type = "FRAME"
        cc.thread_count = int(threads)
    elif threads is not None:
        cc.thread_count = 1
        cc.thread_type = "SLICE"
    try:  # the decoder refuses larger frames too (a stream may change size mid-way)
        cc.options = {**(cc.options or {}), "max_pixels": str(MAX_PIXELS)}
    except Exception:  # noqa: BLE001 - option not settable on this codec
        pass


def decodable_video(container, name: str, *, threads: int | None = None, thread_type: str | None = None):
    """The video stream to read, its declared size checked and its decoder prepared (:func:`prepare_decoder`).

    Raises :class:`InputError` naming ``name`` when there is no video stream
    (``"no video stream (audio-only file)"``...) or its frame size is absurd.
    """
    stream = video_stream(container)
    if stream is None:
        raise InputError(f"{name}: no video stream ({no_video_reason(container)})")
    cc = stream.codec_context
    check_frame_size(cc.width, cc.height, f"{name}: video stream")
    prepare_decoder(stream, threads, thread_type)
    return stream


def start_time(container) -> float:
    """Seconds at which the media starts (the container's start time; 0 when unknown)."""
    return container.start_time / 1_000_000 if container.start_time is not None else 0.0


def duration(container, stream, *, from_start: bool = False, scan: bool = False) -> float | None:
    """Seconds of ``stream`` the file declares, or ``None`` when it does not say.

    The stream's declared duration, else the container's; values outside
    ``(0, MAX_DURATION)`` are not believed. ``from_start``: where the stream
    ends, counted from the media start (its duration plus its offset from the
    start; what sample instants are planned against). ``scan``: a file that
    declares nothing is demuxed to its end and the last packet's end time taken
    (this moves the demuxer: seek before reading on).
    """
    cands = []
    if stream.duration is not None and stream.time_base:
        d = float(stream.duration * stream.time_base)
        if from_start:
            t0 = start_time(container)
            d += (float(stream.start_time * stream.time_base) if stream.start_time is not None else t0) - t0
        cands.append(d)
    if container.duration is not None:
        cands.append(container.duration / 1_000_000)
    cands = [c for c in cands if math.isfinite(c) and 0 < c < MAX_DURATION]
    if cands:
        return cands[0]
    if not scan:
        return None
    last = None
    try:
        container.seek(0)
        for pkt in container.demux(stream):
            if pkt.pts is not None and pkt.time_base is not None:
                end = float((pkt.pts + (pkt.duration or 0)) * pkt.time_base)
                last = end if last is None else max(last, end)
    except Exception:  # noqa: BLE001 - best effort; the headers said nothing
        pass
    return last if last is not None and math.isfinite(last) and 0 < last < MAX_DURATION else None
