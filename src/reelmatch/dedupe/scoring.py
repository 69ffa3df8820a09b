"""The copy score of the dedupe stage: whitened frame descriptors, temporally aligned.

:class:`CopyScorer` is fitted on the catalogue's own frames (``fit``):

1. **Whitening** (PCA, learned from every described frame of the catalogue,
   shrunk towards the identity when there are few frames): directions that
   every frame shares (dark, flat, "a person at a desk") stop dominating the
   cosine, so look-alike footage scores lower while copies keep their match.
2. **Temporal alignment** (:func:`segments.align`): each frame of the shorter
   video is scored by its best match at a consistent time offset and speed,
   not anywhere in the other video; the alignment also gives the matching
   segments and the best matching frame pair.
3. **No evidence, no match**: a video whose frames are all blank (black,
   flat colour) has no descriptor to match with and never joins a group.

``pair(a, b)`` returns ``(score, {"segments", "best"})``.

Measured on ``bench ndvr --augly`` (docs/dedupe.md): whitening learned from a
catalogue in which copies are many (each source with ~10 copies) learns the
copies' own directions and suppresses them, so the dedupe stage ships
:class:`PairScorer` (alignment on the unwhitened descriptors); the whitened
variant stays in the benchmark as a measured alternative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reelmatch.dedupe.config import DEFAULT_THRESHOLD
from reelmatch.dedupe.segments import align

#: whitening keeps at most this many principal directions
WHITEN_DIM = 256


@dataclass
class Whitening:
    mean: np.ndarray  # float32 [D]
    proj: np.ndarray  # float32 [D, d]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = (x - self.mean) @ self.proj
        return (y / (np.linalg.norm(y, axis=1, keepdims=True) + 1e-12)).astype(np.float32)

    @classmethod
    def fit(cls, frames: np.ndarray, *, dim: int = WHITEN_DIM, shrink: float = 1.0) -> "Whitening":
        """PCA whitening of frames float32 [N, D]; eigenvalues are shrunk by ``shrink * mean eigenvalue``
        (so with few frames it stays close to centring + projection)."""
        x = frames.astype(np.float64)
        mu = x.mean(axis=0)
        xc = x - mu
        cov = xc.T @ xc / max(len(x) - 1, 1)
        lam, vec = np.linalg.eigh(cov)
        order = np.argsort(lam)[::-1][: min(dim, x.shape[1])]
        lam, vec = np.clip(lam[order], 0, None), vec[:, order]
        tau = shrink * float(lam.mean()) + 1e-12
        proj = vec / np.sqrt(lam + tau)[None, :]
        return cls(mu.astype(np.float32), proj.astype(np.float32))


class CopyScorer:
    def __init__(self, descs: dict[str, tuple[np.ndarray, np.ndarray, bool]], whitening: Whitening | None):
        self.whitening = whitening
        self.raw = descs
        self.w = {}
        for k, (d, t, blank) in descs.items():
            if blank or len(d) == 0:
                continue
            self.w[k] = (whitening(d) if whitening is not None else d, np.asarray(t, np.float32))

    @classmethod
    def fit(cls, descs: dict[str, tuple[np.ndarray, np.ndarray, bool]], *, whiten: bool = True, min_frames: int = 64) -> "CopyScorer":
        """``descs``: item -> (descriptors [T, D], times [T], all frames blank)."""
        frames = [d for d, _t, blank in descs.values() if not blank and len(d)]
        w = None
        if whiten and frames and sum(len(f) for f in frames) >= min_frames:
            w = Whitening.fit(np.concatenate(frames))
        return cls(descs, w)

    def pair_by_name(self, a: str, b: str) -> tuple[float, dict | None]:
        if a not in self.w or b not in self.w:
            return 0.0, None
        (da, ta), (db, tb) = self.w[a], self.w[b]
        r = align(da, db, ta, tb)
        return r.score, {"segments": r.segments, "best": r.best}


def frame_url(item_id: str, t: float) -> str:
    """The serve API's thumbnail of ``item_id`` at ``t`` seconds (``GET /api/items/{id}/frame?t=``)."""
    from urllib.parse import quote

    return f"/api/items/{quote(str(item_id), safe='')}/frame?t={t:.2f}"


def audio_as_copy_score(audio: float) -> float:
    """An audio score on the copy-score scale: :data:`audio.AUDIO_MIN` maps to the shipped threshold and 1 to 1
    (below ``AUDIO_MIN``: 0, the sound vouches for nothing). The audio score is a share of matching sound,
    not a similarity, so it needs its own threshold."""
    from reelmatch.dedupe.audio import AUDIO_MIN

    if audio < AUDIO_MIN:
        return 0.0
    return DEFAULT_THRESHOLD + (1.0 - DEFAULT_THRESHOLD) * (audio - AUDIO_MIN) / (1.0 - AUDIO_MIN)


class PairScorer:
    """The dedupe stage's copy score: ``scorer(a, b) -> float`` over stored descriptors and times.

    The score is the temporally aligned frame score, or the audio score
    (:func:`dedupe.audio.audio_score`: the share of the shorter soundtrack that
    matches at one time offset, put on the same scale by
    :func:`audio_as_copy_score`) when that is higher: a copy whose picture is
    blended, overlaid or shrunk into another video usually keeps its sound.
    Silence, steady tones and matches shorter than a few seconds never count,
    and an item without any visual descriptor (only blank frames) never matches.

    Each scored pair's alignment is kept, so :meth:`explain` can give its
    matching segments and best matching frame pair without scoring it again.
    ``descs``: id -> float32 [T, D]; ``times``: id -> float32 [T] seconds;
    ``audio``: id -> uint32 [n] Chromaprint sub-fingerprints (optional).
    """

    def __init__(self, descs: dict[str, np.ndarray], times: dict[str, np.ndarray], audio: dict[str, np.ndarray] | None = None):
        self.descs = descs
        self.times = times
        self.audio = audio or {}
        self.alignments: dict[tuple[str, str], object] = {}
        self.sounds: dict[tuple[str, str], tuple[float, dict | None]] = {}

    def __call__(self, a: str, b: str) -> float:
        key = (a, b) if a < b else (b, a)
        if key not in self.alignments:
            x, y = key
            dx, dy = self.descs[x], self.descs[y]
            if len(dx) == 0 or len(dy) == 0:
                return 0.0
            self.alignments[key] = align(dx, dy, self.times[x], self.times[y])
            if self.audio:
                from reelmatch.dedupe.audio import audio_score

                self.sounds[key] = audio_score(self.audio.get(x), self.audio.get(y))
        return max(self.alignments[key].score, audio_as_copy_score(self.sounds.get(key, (0.0, None))[0]))

    def explain(self, a: str, b: str) -> dict:
        """``{"a", "b", "score", "visual", "audio", "segments": [{"a_start", "a_end", "b_start", "b_end", "score"}],
        "best_match": {"a_time", "b_time", "similarity", "a_thumbnail", "b_thumbnail"}}`` (seconds).

        ``visual`` is the aligned frame score; ``audio`` is ``{"score", "offset", "seconds"}`` (the
        soundtrack's share that matches, ``b``'s time minus ``a``'s, matching seconds) or null."""
        key = (a, b) if a < b else (b, a)
        score = self(a, b)
        r = self.alignments.get(key)
        out = {"a": key[0], "b": key[1], "score": round(float(score), 4),
               "visual": round(float(r.score), 4) if r else 0.0, "segments": r.segments if r else []}  # fmt: skip
        sound, match = self.sounds.get(key, (0.0, None))
        out["audio"] = {"score": round(float(sound), 4), **match} if match else None
        if r is not None and r.best is not None:
            ta, tb, sim = r.best
            out["best_match"] = {"a_time": round(ta, 2), "b_time": round(tb, 2), "similarity": round(sim, 4),
                                 "a_thumbnail": frame_url(key[0], ta), "b_thumbnail": frame_url(key[1], tb)}  # fmt: skip
        return out

    def explain_group(self, members: list[str], scores: dict[tuple[str, str], float], threshold: float) -> list[dict]:
        """The links of a group: its member pairs scoring at or above ``threshold``, best first."""
        ms = set(members)
        links = [(s, k) for k, s in scores.items() if s >= threshold and k[0] in ms and k[1] in ms]
        return [self.explain(*k) for _s, k in sorted(links, key=lambda x: -x[0])]
