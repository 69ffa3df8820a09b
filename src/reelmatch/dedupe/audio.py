"""Audio fingerprints for copy detection: Chromaprint over the soundtrack, aligned in time.

A copy whose picture is heavily edited (blended, overlaid, shrunk into another
video, noisy, rotated) usually keeps its sound. Chromaprint (the AcoustID
fingerprint, through PyPI ``pyacoustid`` and Debian's ``libchromaprint1``)
turns audio into one 32-bit sub-fingerprint per ~0.124 s that survives
re-encoding, resampling and volume changes.

- :func:`audio_fingerprint` decodes the soundtrack through the media layer
  (its limits and timeouts) and returns the raw sub-fingerprints uint32 [n].
- :func:`informative` says whether a fingerprint can be evidence at all:
  silence and steady tones give sub-fingerprints that barely change, so they
  would "match" every other silent or tone-only video; such audio never counts.
- :func:`audio_score` is the share of the *shorter* soundtrack covered by
  matching one-second windows at one consistent time offset, so a copy that is
  a window of the other scores near 1 while a shared studio jingle of a few
  seconds in two trailers scores near 0 (and a match shorter than
  :data:`MIN_MATCH` sub-fingerprints never counts).
- :class:`AudioCandidates` finds pairs that share sub-fingerprints (an
  inverted index, sub-quadratic), so a copy found only by its sound is still
  scored.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

#: seconds per Chromaprint sub-fingerprint (its default algorithm)
ITEM_SECONDS = 0.1238
#: decode at this rate (Chromaprint works at 11025 Hz internally)
SAMPLE_RATE = 11025
#: a sub-fingerprint window agreeing on at least this share of its 32 bits matches (unrelated audio: ~0.5)
BIT_AGREEMENT = 0.75
#: windows of this many sub-fingerprints (~1 s) are smoothed before thresholding
WINDOW = 8
#: a fingerprint whose consecutive sub-fingerprints differ in fewer than this share of bits is silence or a
#: steady tone (measured: 0.0 for digital silence and a constant test tone, 0.10-0.13 for speech and music)
MIN_CHANGE = 0.04
#: at least this many matching sub-fingerprints (~4 s; each also sees ~2.5 s of context, so ~6.5 s of sound),
#: else the audio says nothing (a logo sting, a short jingle)
MIN_MATCH = 32

#: an audio score at or above this (half of the shorter soundtrack matches in time) vouches for a copy; on
#: bench ndvr --augly true pairs with informative sound score 0.88 (median), unrelated ones at most 0.31
AUDIO_MIN = 0.5

_POP = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def _popcount(v: np.ndarray) -> np.ndarray:
    v = np.ascontiguousarray(v, dtype=np.uint32)
    return _POP[v.view(np.uint8)].reshape(len(v), 4).sum(axis=1)


def require_chromaprint() -> None:
    """Raise a one-line :class:`~reelmatch.errors.ReelmatchError` when Chromaprint cannot be loaded."""
    from reelmatch.errors import ReelmatchError

    try:
        import chromaprint  # noqa: F401  (pyacoustid's binding; loads libchromaprint)
    except ImportError as e:
        raise ReelmatchError(
            f"audio fingerprints need Chromaprint ({e}): install the Debian package libchromaprint1 and "
            "'pip install pyacoustid' (in the 'all' extra), or describe pictures only with 'dedupe --no-audio'"
        ) from e


def audio_fingerprint(path: str | Path, *, max_seconds: float = 600.0) -> np.ndarray:
    """Raw Chromaprint sub-fingerprints uint32 [n] of the first ``max_seconds`` of ``path``'s audio.

    Empty when the file has no audio stream or no audio decodes. Raises the
    media layer's one-line ``MediaError`` when the file cannot be opened.
    """
    import av
    import chromaprint

    from reelmatch.media import audio_stream, open_media

    with open_media(path) as container:
        stream = audio_stream(container)
        if stream is None:
            return np.zeros(0, np.uint32)
        fp = chromaprint.Fingerprinter()
        fp.start(SAMPLE_RATE, 1)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        fed = 0
        limit = int(max_seconds * SAMPLE_RATE)
        try:
            for frame in container.decode(stream):
                frame.pts = None
                for out in resampler.resample(frame):
                    pcm = out.to_ndarray().reshape(-1)[: limit - fed]
                    fp.feed(pcm.astype("<i2").tobytes())
                    fed += len(pcm)
                if fed >= limit:
                    break
        except av.error.FFmpegError:  # a damaged tail: keep what decoded
            pass
        if fed == 0:
            return np.zeros(0, np.uint32)
        raw, _algorithm = chromaprint.decode_fingerprint(fp.finish())
    return np.array([x & 0xFFFFFFFF for x in raw], dtype=np.uint32)


def change_rate(fp: np.ndarray) -> float:
    """Mean share of bits that change between consecutive sub-fingerprints (0 for silence)."""
    if len(fp) < 2:
        return 0.0
    return float(_popcount(fp[1:] ^ fp[:-1]).mean() / 32.0)


def informative(fp: np.ndarray | None) -> bool:
    """Whether ``fp`` can be evidence: long enough for a match and not silence or a steady tone."""
    return fp is not None and len(fp) >= MIN_MATCH and change_rate(fp) >= MIN_CHANGE


def _bit_planes(fp: np.ndarray) -> np.ndarray:
    return ((fp[:, None] >> np.arange(32, dtype=np.uint32)) & 1).astype(np.float32) * 2.0 - 1.0


def best_offsets(x: np.ndarray, y: np.ndarray, *, top: int = 5, min_overlap: int = MIN_MATCH) -> np.ndarray:
    """The ``top`` offsets ``k`` (``x[i + k]`` against ``y[i]``) with the highest mean bit agreement."""
    m, n = len(x), len(y)
    size = 1 << int(np.ceil(np.log2(m + n)))
    fx = np.fft.rfft(_bit_planes(x), size, axis=0)
    fy = np.fft.rfft(_bit_planes(y), size, axis=0)
    corr = np.fft.irfft(fx * np.conj(fy), size, axis=0).sum(axis=1)  # corr[k] = sum_i sum_bits x[i+k] y[i]
    ks = np.arange(-(n - 1), m)
    overlap = np.minimum(m, n + ks) - np.maximum(0, ks)
    ok = overlap >= min(min_overlap, n)
    ks, overlap = ks[ok], overlap[ok]
    agree = corr[ks % size] / (32.0 * overlap)
    return ks[np.argsort(-agree)[:top]]


def audio_score(x: np.ndarray | None, y: np.ndarray | None) -> tuple[float, dict | None]:
    """``(score, match)``: the share of the shorter fingerprint covered by matching ~1 s windows at the best
    time offset, and ``{"offset": seconds (a sound at time t of x is at t + offset in y), "seconds": matching
    seconds}``.

    0 with no match when either fingerprint is not :func:`informative` or the
    matching sound is shorter than :data:`MIN_MATCH` sub-fingerprints.
    """
    if not (informative(x) and informative(y)):
        return 0.0, None
    swap = len(x) < len(y)
    a, b = (y, x) if swap else (x, y)  # a is the longer
    best, best_k = 0, 0
    for k in best_offsets(a, b):
        i0, j0 = max(0, int(k)), max(0, -int(k))
        length = min(len(a) - i0, len(b) - j0)
        agree = 1.0 - _popcount(a[i0 : i0 + length] ^ b[j0 : j0 + length]) / 32.0
        if length >= WINDOW:
            agree = np.convolve(agree, np.ones(WINDOW) / WINDOW, mode="same")
        hits = int((agree >= BIT_AGREEMENT).sum())
        if hits > best:
            best, best_k = hits, int(k)
    if best < MIN_MATCH:
        return 0.0, None
    # time t of the shorter sounds at t + k in the longer; "offset" is y's time minus x's
    offset = best_k * ITEM_SECONDS
    return best / len(b), {"offset": round(offset if swap else -offset, 2), "seconds": round(best * ITEM_SECONDS, 1)}


#: candidate keys drop the low bits of a sub-fingerprint, so re-encoded sound (a few flipped bits) still shares
#: them; measured on bench ndvr --augly: 97 % of the pairs with an audio score >= 0.3 become candidates,
#: with 6 % of all pairs to score
KEY_SHIFT = 12
MIN_SHARED = 4


class AudioCandidates:
    """Pairs of items whose fingerprints share sub-fingerprint keys (an inverted index; sub-quadratic).

    Two copies of one soundtrack share many keys even after re-encoding;
    unrelated audio shares few. Keys found in more than ``max_items``
    fingerprints (very common sounds) are skipped. Only :func:`informative`
    fingerprints take part.
    """

    def __init__(self, fps: dict[str, np.ndarray], *, max_items: int = 50):
        self.fps = {k: v for k, v in fps.items() if informative(v)}
        self.max_items = max_items
        self.postings: dict[int, set[str]] = defaultdict(set)
        for k, v in self.fps.items():
            for value in self._keys(v):
                self.postings[value].add(k)

    @staticmethod
    def _keys(fp: np.ndarray) -> list[int]:
        return np.unique(np.asarray(fp, np.uint32) >> KEY_SHIFT).tolist()

    def of(self, key: str, fp: np.ndarray | None = None, *, min_shared: int = MIN_SHARED) -> set[str]:
        """Items sharing at least ``min_shared`` keys with item ``key`` (or with the fingerprint ``fp``)."""
        fp = self.fps.get(key) if fp is None else fp
        if fp is None or not informative(fp):
            return set()
        counts: Counter[str] = Counter()
        for value in self._keys(fp):
            owners = self.postings.get(value)
            if owners and len(owners) <= self.max_items:
                counts.update(owners)
        counts.pop(key, None)
        return {k for k, c in counts.items() if c >= min_shared}

    def pairs(self, *, min_shared: int = MIN_SHARED) -> set[tuple[str, str]]:
        """Every candidate pair ``(a, b)`` with ``a < b``."""
        out = set()
        for a in self.fps:
            for b in self.of(a, min_shared=min_shared):
                out.add((a, b) if a < b else (b, a))
        return out
