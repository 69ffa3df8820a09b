"""The audio expert's input for one item: its sound over the clip window, as the model's spectrogram.

:func:`expert_input` is the per-item function the engine maps (picklable, knows
nothing of scheduling): it opens the media through :mod:`reelmatch.media`
(the safety limits), takes the same window the clip config samples
(:func:`reelmatch.extract.timestamps.plan_samples`), decodes it to mono 44.1 kHz
with the extractor's :func:`reelmatch.extract.audio.decode_mono` and returns
aisfx's log-mel input (:func:`reelmatch.audioexpert.encoder.aisfx_logmel`).

"Missing" (the audio modality has nothing to say, not an error): no audio
stream, under ``min_seconds`` of sound in the window, or an RMS level below
``silence_dbfs``. A file that cannot be opened or decoded raises
:class:`~reelmatch.errors.InputError` with a one-line reason naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reelmatch.errors import InputError, one_line


@dataclass(frozen=True)
class ExpertInput:
    """spec: float32 [T, 96] (None when missing); reason: why it is missing; seconds, dbfs: of the window's sound."""

    spec: np.ndarray | None
    reason: str | None = None
    seconds: float = 0.0
    dbfs: float | None = None

    @property
    def missing(self) -> bool:
        return self.spec is None


def window_of(container, clip_config) -> tuple[float, float]:
    """``(start, end)`` seconds of the clip window of an open container (the video's duration, else the audio's)."""
    from reelmatch import media
    from reelmatch.extract.timestamps import plan_samples

    stream = media.video_stream(container) or media.audio_stream(container)
    duration = media.duration(container, stream, from_start=True) if stream is not None else None
    plan = plan_samples(clip_config, duration)
    return plan.start, plan.end if plan.end is not None else plan.start + clip_config.window


def rms_dbfs(y: np.ndarray) -> float:
    """RMS level of ``y`` in dB relative to full scale (``-inf`` for digital silence)."""
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if len(y) else 0.0
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")


def expert_input(task, *, clip_config, min_seconds: float = 0.1, silence_dbfs: float = -80.0) -> ExpertInput:
    """``task = (item_id, path)`` -> :class:`ExpertInput` (see the module doc)."""
    import av

    from reelmatch import media
    from reelmatch.audioexpert.encoder import SAMPLE_RATE, aisfx_logmel
    from reelmatch.extract.audio import decode_mono

    _, path = task
    name = Path(path).name
    try:
        with media.open_media(path) as container:
            astream = media.audio_stream(container)
            if astream is None:
                return ExpertInput(None, "no audio stream")
            start, end = window_of(container, clip_config)
            y, _ = decode_mono(container, astream, media.start_time(container), start, end, SAMPLE_RATE)
    except InputError:
        raise
    except av.error.FFmpegError as e:
        raise InputError(f"{name}: audio decoding failed ({one_line(e)})") from None
    except MemoryError:
        raise InputError(f"{name}: out of memory while decoding the audio") from None
    seconds = len(y) / SAMPLE_RATE
    if seconds < min_seconds:
        return ExpertInput(None, f"{seconds:.2f} s of audio in the window (under {min_seconds:g} s)", seconds)
    level = rms_dbfs(y)
    if level < silence_dbfs:
        return ExpertInput(None, f"silent ({level:.0f} dBFS, under {silence_dbfs:g})", seconds, level)
    return ExpertInput(aisfx_logmel(y), None, seconds, level)
