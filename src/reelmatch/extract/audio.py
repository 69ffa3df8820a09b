"""Audio: decode only the clip's window, then a log-mel spectrogram or the recipe's picture.

* ``logmel`` (default): the window, downmixed to mono and resampled to
  ``ClipConfig.sample_rate`` (FFmpeg's resampler, ``filter_size``
  ``ClipConfig.resample_filter_size``); power STFT (Hann, 64 ms, hopping ``ClipConfig.stft_hop``
  of it: 0.5 = 32 ms by default, 0.25 = 16 ms in stores made before that field) -> HTK mel
  filterbank (``n_mels`` bands, 0 Hz to Nyquist) -> averaged into ``spec_frames``
  equal time bins spanning the audio actually present in the window (like the
  recipe's picture, a short clip is stretched, not padded) -> dB relative to a
  full-scale sine, mapped to ``max(0, (dB + 80) / 80)``: float32
  [n_mels, spec_frames], 0 = silence (and no audio), about 1 = full scale.
* ``recipe``: FFmpeg's own ``showspectrumpic=s=SxS:legend=0`` filter run
  in-process (libavfilter through PyAV) on the window of the native audio (its
  own sample rate and channels), trimmed with ``atrim`` as ``ffmpeg -ss -t``
  does: uint8 [S, S, 3] RGB, the recipe's picture.
"""

from __future__ import annotations

import logging
import math
from contextlib import contextmanager
from functools import lru_cache

import numpy as np

from reelmatch.extract.rfft import rfft_rows

log = logging.getLogger(__name__)

#: floor of the log-mel scale (dB below full scale mapped to 0)
TOP_DB = 80.0
#: decode errors tolerated in the audio window before the audio is declared unusable
MAX_AUDIO_ERRORS = 64
#: samples per chunk handed back by the resampling graph (16 s at 16 kHz)
RESAMPLE_CHUNK = 1 << 18
#: decoded frames pushed between two pulls from the resampling graph (bounds what it buffers)
PULL_EVERY = 64
#: demuxers (FFmpeg's names) that skip the packets of discarded streams (see :func:`only_stream`)
DISCARDING_DEMUXERS = ("mov", "matroska")
#: FFmpeg's resampler ``filter_size`` by default (what stores made before ``ClipConfig.resample_filter_size`` used)
DEFAULT_FILTER_SIZE = 32


# --------------------------------------------------------------------- decode
def _seek(container, stream, t: float, t0: float) -> None:
    try:
        container.seek(max(int((t + t0) / stream.time_base), 0), stream=stream, backward=True, any_frame=False)
    except Exception as e:  # noqa: BLE001 - unseekable: decode from the start
        log.debug("audio seek to %.3f failed (%s); decoding from the start", t, e)
        try:
            container.seek(0)
        except Exception:  # noqa: BLE001
            pass


@contextmanager
def only_stream(container, stream):
    """While inside, the demuxer reads ``stream``'s packets only: the other streams are discarded.

    The MP4 and Matroska demuxers then skip the other streams' packets instead of
    reading them (a trailer's video is ~95% of its bytes); the packets of
    ``stream`` are the same (checked on the devdata clips). Other demuxers are
    left alone: with its video discarded, the AVI demuxer found no audio in one
    of them.
    """
    import av

    if container.format.name.split(",")[0] not in DISCARDING_DEMUXERS:
        yield
        return
    others = [s for s in container.streams if s.index != stream.index]
    saved = [s.discard for s in others]
    for s in others:
        s.discard = av.stream.Discard.all
    try:
        yield
    finally:
        for s, d in zip(others, saved):
            s.discard = d


def iter_audio_frames(container, stream, t0: float, start: float, end: float | None):
    """Decoded audio frames covering [start, end) (seconds from the media start).

    Yields ``(time, frame)``; stops after the first frame starting at or after ``end``.
    Undecodable packets are skipped (counted in the returned stats dict's ``errors``).
    """
    with only_stream(container, stream):
        yield from _audio_frames(container, stream, t0, start, end)


def _audio_frames(container, stream, t0: float, start: float, end: float | None):
    import av

    _seek(container, stream, start, t0)
    tbf = float(stream.time_base)  # float: Fraction arithmetic per frame is slow
    errors = 0
    next_t = None
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.FFmpegError as e:
            errors += 1
            log.debug("audio decode error: %s", e)
            if errors > MAX_AUDIO_ERRORS:
                raise
            continue
        for f in frames:
            if f.pts is not None:
                t = f.pts * tbf - t0
            elif next_t is not None:
                t = next_t
            else:
                t = start
            next_t = t + f.samples / float(f.sample_rate or 1)
            if end is not None and t >= end:
                return
            if next_t <= start:
                continue
            yield t, f


def decode_mono(container, stream, t0: float, start: float, end: float | None, sample_rate: int,
                filter_size: int = DEFAULT_FILTER_SIZE) -> tuple[np.ndarray, float]:
    """The window [start, end) as mono float32 at ``sample_rate``; returns ``(samples, first_time)``.

    ``first_time`` is where the returned samples start (>= start; later when the
    audio begins after the window start). Empty array when nothing decodes.

    The decoded frames go through one libavfilter graph (``aformat``: FFmpeg's
    downmix and resampler, what ``av.AudioResampler`` runs) whose sink hands
    back chunks of :data:`RESAMPLE_CHUNK` samples, pulled every
    :data:`PULL_EVERY` frames: the same samples as resampling frame by frame,
    without a Python round trip (and an array) per output frame.
    ``filter_size``: the resampler's ``filter_size`` (FFmpeg's default, 32, is
    what the graph inserts on its own; ``ClipConfig.resample_filter_size``).
    """
    import av

    graph = src = sink = None
    chunks: list[np.ndarray] = []
    first = None

    def drain():
        while True:
            try:
                chunks.append(sink.pull().to_ndarray().reshape(-1))
            except (av.error.BlockingIOError, av.error.EOFError):
                return

    n = 0
    for t, frame in iter_audio_frames(container, stream, t0, start, end):
        if graph is None:
            first = t
            graph, src, sink = _mono_graph(frame, sample_rate, filter_size)
        frame.pts = None
        src.push(frame)  # FFmpeg rejects a frame whose rate, format or layout changed (an FFmpegError)
        n += 1
        if n % PULL_EVERY == 0:
            drain()
    if first is None:
        return np.zeros(0, np.float32), start
    src.push(None)
    drain()
    y = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)
    # trim to the window with sample precision
    skip = int(round((start - first) * sample_rate))
    if skip > 0:
        y = y[skip:]
        first = start
    if end is not None:
        keep = int(round((end - first) * sample_rate))
        y = y[: max(keep, 0)]
    if not np.isfinite(y).all():  # a quick check first: nan_to_num's own scan costs ~10 ms per 125 s
        np.nan_to_num(y, copy=False)
    return y, max(first, start)


def _mono_graph(template, sample_rate: int, filter_size: int = DEFAULT_FILTER_SIZE):
    """``(graph, source, sink)``: frames like ``template`` -> mono float32 at ``sample_rate``, in big chunks.

    The chain ``av.AudioResampler(format="flt", layout="mono", rate=sample_rate)``
    builds (``abuffer`` -> ``aformat``, FFmpeg inserting its resampler with
    default options), so the samples are the same. Another ``filter_size``
    puts an explicit ``aresample`` (the same downmix and resampler, that option
    changed) before the ``aformat``.
    """
    import av

    graph = av.filter.Graph()
    graph.threads = 1
    extra = {"time_base": f"{template.time_base}"} if template.time_base is not None else {}
    src = graph.add("abuffer", sample_rate=f"{template.sample_rate}", sample_fmt=template.format.name,
                    channel_layout=template.layout.name, **extra)
    fmt = graph.add("aformat", sample_rates=f"{sample_rate}", sample_fmts="flt", channel_layouts="mono")
    sink = graph.add("abuffersink")
    if filter_size != DEFAULT_FILTER_SIZE:
        resample = graph.add("aresample", out_sample_rate=f"{sample_rate}", out_chlayout="mono", out_sample_fmt="flt",
                             filter_size=str(int(filter_size)))
        src.link_to(resample)
        resample.link_to(fmt)
    else:
        src.link_to(fmt)
    fmt.link_to(sink)
    graph.configure()
    graph.set_audio_frame_size(RESAMPLE_CHUNK)
    return graph, src, sink


def recipe_picture(container, stream, t0: float, start: float, end: float | None, size: int) -> np.ndarray | None:
    """FFmpeg's ``showspectrumpic=s=SIZExSIZE:legend=0`` of the window (uint8 [size, size, 3]).

    ``None`` when no audio decodes in the window.
    """
    import av

    graph = src = sink = None
    for _t, frame in iter_audio_frames(container, stream, t0, start, end):
        if graph is None:
            graph = av.filter.Graph()
            graph.threads = 1  # slice threads cost more CPU than they save here (parallelism is across items)
            src = graph.add_abuffer(
                sample_rate=frame.sample_rate,
                format=frame.format.name,
                layout=frame.layout.name,
                time_base=frame.time_base or stream.time_base,
            )
            trim = f"start={start + t0:.6f}"
            if end is not None:
                trim += f":end={end + t0:.6f}"
            chain = [
                graph.add("atrim", trim),
                graph.add("showspectrumpic", f"s={size}x{size}:legend=0"),
                graph.add("format", "rgb24"),
                graph.add("buffersink"),
            ]
            src.link_to(chain[0])
            for a, b in zip(chain, chain[1:]):
                a.link_to(b)
            sink = chain[-1]
            graph.configure()
        src.push(frame)
    if graph is None:
        return None
    src.push(None)
    out = None
    while True:
        try:
            out = sink.pull()
            break
        except av.error.BlockingIOError:
            continue
        except av.error.EOFError:
            break
    if out is None:
        return None
    img = out.to_ndarray()
    if img.shape != (size, size, 3):  # pragma: no cover - internal invariant
        raise RuntimeError(f"showspectrumpic made {img.shape}, expected {(size, size, 3)}")
    return img


# ------------------------------------------------------------------ log-mel
def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


@lru_cache(maxsize=8)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """HTK triangular mel filters, float32 [n_mels, n_fft // 2 + 1], peak 1, 0 Hz to Nyquist."""
    freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2.0), n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None, :] - lo) / np.maximum(mid - lo, 1e-9)
    down = (hi - freqs[None, :]) / np.maximum(hi - mid, 1e-9)
    fb = np.maximum(0.0, np.minimum(up, down))
    return fb.astype(np.float32)


def stft_params(sample_rate: int, hop: float = 0.25) -> tuple[int, int]:
    """``(n_fft, hop samples)``: a ~64 ms Hann window, the hop ``hop`` of it (0.25: 75% overlap)."""
    n_fft = 1 << max(int(round(math.log2(sample_rate * 0.064))), 6)
    return n_fft, max(int(round(n_fft * hop)), 1)


def _stft_frames(y: np.ndarray, n_fft: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """The STFT's frames of ``y`` (a float32 [T, n_fft] strided view, ``y`` zero-padded to one frame at
    least) and its periodic Hann window (float32 [n_fft])."""
    y = np.asarray(y, dtype=np.float32)
    if len(y) < n_fft:
        y = np.pad(y, (0, n_fft - len(y)))
    n = 1 + (len(y) - n_fft) // hop
    frames = np.lib.stride_tricks.as_strided(y, shape=(n, n_fft), strides=(y.strides[0] * hop, y.strides[0]))
    return frames, np.hanning(n_fft + 1)[:-1].astype(np.float32)


def power_spectrogram(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|STFT|^2 of ``y`` (float32 [n_fft//2+1, T]), scaled so a full-scale sine peaks at 1."""
    frames, window = _stft_frames(y, n_fft, hop)
    # scipy's FFT keeps float32 and transforms many rows at once: ~5x faster than numpy's here
    spec = rfft_rows(frames * window)
    power = (spec.real**2 + spec.imag**2) * np.float32(1.0 / (window.sum() / 2.0) ** 2)
    return np.ascontiguousarray(power.T, dtype=np.float32)


#: STFT frames transformed at a time by :func:`mel_power` (its buffers stay in the CPU cache)
STFT_ROWS = 512


def mel_power(y: np.ndarray, n_fft: int, hop: int, filterbank: np.ndarray) -> np.ndarray:
    """``filterbank @ power_spectrogram(y, n_fft, hop)`` (float32 [n_mels, T]), :data:`STFT_ROWS` frames at a time.

    The same values as the whole-array expression, about twice as fast: the
    windowed frames, their FFT and power never leave the cache (the whole-array
    form writes and transposes ~100 MB per 125 s of audio).
    """
    frames, window = _stft_frames(y, n_fft, hop)
    n = len(frames)
    scale = np.float32(1.0 / (window.sum() / 2.0) ** 2)
    out = np.empty((filterbank.shape[0], n), np.float32)
    buf = np.empty((min(STFT_ROWS, n), n_fft), np.float32)
    for a in range(0, n, STFT_ROWS):
        b = min(a + STFT_ROWS, n)
        spec = rfft_rows(np.multiply(frames[a:b], window, out=buf[: b - a]))
        out[:, a:b] = filterbank @ ((spec.real**2 + spec.imag**2) * scale).T
    return out


def pool_time(x: np.ndarray, bins: int) -> np.ndarray:
    """Average ``x`` [C, T] into ``bins`` equal time bins (repeats columns when T < bins)."""
    c, t = x.shape
    edges = np.linspace(0, t, bins + 1)
    a = np.minimum(np.floor(edges[:-1]).astype(np.int64), t - 1)
    b = np.maximum(np.ceil(edges[1:]).astype(np.int64), a + 1)
    csum = np.concatenate([np.zeros((c, 1), np.float64), np.cumsum(x, axis=1, dtype=np.float64)], axis=1)
    return ((csum[:, b] - csum[:, a]) / (b - a)).astype(np.float32)


def logmel(y: np.ndarray, sample_rate: int, n_mels: int, spec_frames: int, hop: float = 0.25) -> np.ndarray:
    """Log-mel spectrogram of mono ``y``: float32 [n_mels, spec_frames] in [0, ~1] (see module doc).

    ``hop``: the STFT hop as a fraction of its window (``ClipConfig.stft_hop``).
    """
    if len(y) == 0:
        return np.zeros((n_mels, spec_frames), np.float32)
    n_fft, step = stft_params(sample_rate, hop)
    mel = mel_power(y, n_fft, step, mel_filterbank(sample_rate, n_fft, n_mels))
    mel = pool_time(mel, spec_frames)
    db = 10.0 * np.log10(np.maximum(mel, 1e-12))
    return np.maximum(0.0, (db + TOP_DB) / TOP_DB).astype(np.float32)
