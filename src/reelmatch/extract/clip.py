"""``extract_clip``: one media file -> one :class:`~reelmatch.dataset.clip.Clip` (pure, no workspace)."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np

from reelmatch.dataset.clip import Clip
from reelmatch.errors import InputError
from reelmatch.extract.config import ClipConfig
from reelmatch.extract.timestamps import plan_samples, tick_fits
from reelmatch.extract.video import MAX_PIXELS

log = logging.getLogger(__name__)

#: open/probe limits so a hostile file cannot make the demuxer read forever
_OPEN_OPTIONS = {"probesize": "20000000", "analyzeduration": "20000000"}


def _one_line(e: BaseException) -> str:
    """One line for an exception; FFmpeg errors without their errno and file path."""
    strerror = getattr(e, "strerror", None)
    msg = strerror if isinstance(strerror, str) and strerror else str(e)
    msg = " ".join(msg.split())
    return msg or type(e).__name__


def _duration(container, vstream, t0: float) -> float | None:
    """Seconds of video from the media start, or None when the file does not say."""
    cands = []
    if vstream.duration is not None and vstream.time_base:
        vs_start = float(vstream.start_time * vstream.time_base) if vstream.start_time is not None else t0
        cands.append(float(vstream.duration * vstream.time_base) + vs_start - t0)
    if container.duration is not None:
        cands.append(container.duration / 1_000_000)
    cands = [c for c in cands if c is not None and math.isfinite(c) and 0 < c < 10 * 24 * 3600]
    if not cands:
        return None
    return cands[0]


def extract_clip(path, config: ClipConfig = ClipConfig(), *, item_id: str = "", title: str | None = None, threads: int = 1) -> Clip:
    """Sample ``config.num_frames`` frames and the spectrogram of the window from one media file.

    Returns a :class:`Clip`: frames uint8 [K, S, S, 3] (zeros where ``mask`` is
    False), timestamps float32 [K] (seconds from the media start actually taken,
    NaN for padding), spectrogram (float32 [n_mels, spec_frames] or uint8
    [S, S, 3]), ``has_audio`` False (and a zero spectrogram) without a usable audio
    stream. ``split`` comes from ``title`` (or the file name) via
    :func:`reelmatch.dataset.splits.split_for_title`.

    Raises :class:`InputError` with a one-line reason when the file cannot give a
    clip (missing, empty, not a video, no decodable frame, absurd frame size).
    """
    import av

    path = Path(path)
    name = path.name
    try:
        size = path.stat().st_size
    except OSError as e:
        raise InputError(f"{name}: cannot read ({e.strerror or e})") from e
    if not path.is_file():
        raise InputError(f"{name}: not a regular file")
    if size == 0:
        raise InputError(f"{name}: empty file (0 bytes)")

    try:
        container = av.open(str(path), options=_OPEN_OPTIONS, metadata_errors="replace")
    except av.error.FFmpegError as e:
        raise InputError(f"{name}: not a readable media file ({_one_line(e)}; truncated, damaged or not audio-visual)") from e
    except (OSError, ValueError, UnicodeError) as e:
        raise InputError(f"{name}: cannot open ({_one_line(e)})") from e
    try:
        with container:
            return _extract(container, path, config, item_id, title, threads)
    except InputError:
        raise
    except av.error.FFmpegError as e:
        raise InputError(f"{name}: decoding failed ({_one_line(e)})") from e
    except MemoryError as e:
        raise InputError(f"{name}: out of memory while decoding") from e


def _extract(container, path: Path, config: ClipConfig, item_id: str, title: str | None, threads: int) -> Clip:
    import av

    from reelmatch.dataset.splits import split_for_title
    from reelmatch.extract.audio import decode_mono, logmel, recipe_picture
    from reelmatch.extract.video import FrameConverter, SeekingReader, check_frame_size, rotation_of, stream_sar

    name = path.name
    videos = [s for s in container.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)]
    if not videos:
        kinds = sorted({s.type for s in container.streams})
        what = "audio-only file" if "audio" in kinds else "no streams" if not kinds else f"streams: {', '.join(kinds)}"
        raise InputError(f"{name}: no video stream ({what})")
    try:
        vstream = container.streams.best("video") or videos[0]
    except Exception:  # noqa: BLE001
        vstream = videos[0]
    if vstream not in videos:
        vstream = videos[0]
    cc = vstream.codec_context
    check_frame_size(cc.width, cc.height, f"{name}: video stream")
    cc.thread_count = max(int(threads), 1) if threads else 0
    cc.thread_type = "AUTO" if threads != 1 else "SLICE"
    try:  # the decoder refuses larger frames too (a stream may change size mid-way)
        cc.options = {**(cc.options or {}), "max_pixels": str(MAX_PIXELS)}
    except Exception:  # noqa: BLE001 - option not settable on this codec
        pass

    t0 = container.start_time / 1_000_000 if container.start_time is not None else 0.0
    duration = _duration(container, vstream, t0)
    plan = plan_samples(config, duration)

    # ------------------------------------------------------------- frames
    k, s = config.num_frames, config.size
    frames = np.zeros((k, s, s, 3), np.uint8)
    mask = np.zeros(k, bool)
    stamps = np.full(k, np.nan, np.float32)
    reader = SeekingReader(container, vstream, t0, allow_skip=(threads == 1))
    convert = FrameConverter(config.geometry, s, stream_sar(vstream))
    rotation = None
    for n, target in enumerate(plan.targets):
        got = reader.frame_before(target)
        if got is None:
            break
        ft, frame = got
        if reader.eof:
            # past the real end of the stream (declared duration may lie): does tick n still fit?
            real_end = ft + (reader.frame_duration or 0.0)
            if len(plan.targets) > 1 and not tick_fits(n, plan.start, min(real_end, plan.start + config.window), config.interval):
                break
        check_frame_size(frame.width, frame.height, f"{name}: decoded frame")
        if rotation is None:
            rotation = rotation_of(frame)
        frames[n] = convert(frame)
        mask[n] = True
        stamps[n] = ft
        if reader.eof:
            break
    if not mask.any():
        if reader.frames_decoded == 0:
            raise InputError(f"{name}: no decodable video frame" + (f" ({reader.decode_errors} decode errors)" if reader.decode_errors else ""))
        raise InputError(f"{name}: no video frame in the sampled window")

    # -------------------------------------------------------------- audio
    audio_end = plan.end
    if audio_end is None:
        audio_end = plan.start + config.window
    has_audio = False
    audio_meta: dict = {}
    spec = np.zeros(config.spectrogram_shape(), np.uint8 if config.spectrogram == "recipe" else np.float32)
    astreams = list(container.streams.audio)
    if astreams:
        try:
            astream = container.streams.best("audio") or astreams[0]
        except Exception:  # noqa: BLE001
            astream = astreams[0]
        audio_meta = {
            "audio_codec": astream.codec_context.name,
            "audio_sample_rate": astream.codec_context.sample_rate,
            "audio_channels": astream.codec_context.channels if hasattr(astream.codec_context, "channels") else None,
            "audio_streams": len(astreams),
        }
        try:
            if config.spectrogram == "recipe":
                pic = recipe_picture(container, astream, t0, plan.start, audio_end, s)
                if pic is not None:
                    spec, has_audio = pic, True
            else:
                y, first = decode_mono(container, astream, t0, plan.start, audio_end, config.sample_rate)
                if len(y):
                    spec, has_audio = logmel(y, config.sample_rate, config.n_mels, config.spec_frames), True
                    audio_meta["audio_seconds"] = round(len(y) / config.sample_rate, 3)
                    audio_meta["audio_start"] = round(first, 3)
                    audio_meta["audio_peak"] = float(np.max(np.abs(y)))
            if not has_audio:
                audio_meta["audio_error"] = "no audio samples in the window"
        except (av.error.FFmpegError, ValueError, RuntimeError) as e:
            # the video is fine; the audio is declared unusable, not silently zeroed
            log.warning("%s: audio unusable: %s", name, _one_line(e))
            audio_meta["audio_error"] = _one_line(e)[:200]
            has_audio = False
            spec = np.zeros_like(spec)

    fps = vstream.average_rate or vstream.guessed_rate
    meta = {
        "source": name,
        "title": title,
        "width": cc.width,
        "height": cc.height,
        "rotation": rotation or 0,
        "sar": str(stream_sar(vstream)),
        "fps": round(float(fps), 3) if fps else None,
        "duration": round(duration, 3) if duration is not None else None,
        "video_codec": cc.name,
        "container": container.format.name,
        "window_start": round(plan.start, 3),
        "window_end": round(plan.end, 3) if plan.end is not None else None,
        "frames_decoded": reader.frames_decoded,
        "seeks": reader.seeks,
        "decode_errors": reader.decode_errors,
        **audio_meta,
    }
    split = split_for_title(title or path.stem)
    return Clip(id=item_id, frames=frames, mask=mask, timestamps=stamps, spectrogram=spec,
                has_audio=has_audio, meta=meta, split=split)
