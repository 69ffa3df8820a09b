"""Temporal alignment of two videos' frame descriptors: a copy score and the matching segments.

A copy shows the same frames in the same order, at one time offset (and one
speed) per copied segment. :func:`align` votes for ``(speed, offset)`` with the
strongest frame matches (a Hough transform over ``t_b - speed * t_a``), keeps up
to ``max_segments`` consistent alignments (a loop or a re-cut has several), and
scores each frame of the shorter video by its best match *at an aligned time*
(within ``tol`` seconds) instead of anywhere in the other video, as the
order-free chamfer does. Look-alike footage whose best matches are scattered in
time loses most of its score; a copy keeps it.

    >>> r = align(a, b, ta, tb)          # doctest: +SKIP
    >>> r.score, r.segments[0]           # doctest: +SKIP
    (0.97, {"a_start": 0.0, "a_end": 5.0, "b_start": 12.0, "b_end": 17.0, "score": 0.97})

Pure numpy; shapes: descriptors float32 [T, D] L2-normalised, times float32 [T] seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: speeds tried (copy time per source time): speed-ups and slow-downs as in VSC22 / AugLy
SPEEDS = (0.5, 0.625, 0.75, 0.875, 1.0, 1.15, 1.3, 1.5, 1.75, 2.0)
#: votes for a speed other than 1 are weighted by this (near-static footage fits any speed)
SPEED_PRIOR = 0.8


@dataclass
class Alignment:
    score: float  # trimmed mean of aligned similarities, in [-1, 1]
    segments: list[dict] = field(default_factory=list)  # [{"a_start","a_end","b_start","b_end","score"}] seconds
    best: tuple[float, float, float] | None = None  # (a_time, b_time, similarity) of the best matching frame pair


def _peaks(votes: dict, n: int) -> list:
    out = []
    for key, _w in sorted(votes.items(), key=lambda kv: -kv[1]):
        if all(not (abs(key[0] - k[0]) < 1e-9 and abs(key[1] - k[1]) <= 1.5) for k in out):
            out.append(key)
        if len(out) == n:
            break
    return out


def align(
    a: np.ndarray,
    b: np.ndarray,
    ta: np.ndarray,
    tb: np.ndarray,
    *,
    tol: float = 1.25,
    trim: float = 0.2,
    floor: float = 0.3,
    max_segments: int = 3,
    segment_min: float = 0.0,
    sim: np.ndarray | None = None,
) -> Alignment:
    """Temporal alignment of ``a`` [Ta, D] (times ``ta``) and ``b`` [Tb, D] (times ``tb``).

    The score is symmetric in the roles of ``a`` and ``b`` up to which one is
    shorter (the shorter one's frames are scored). ``segment_min``: frames
    whose aligned similarity is below this end a segment (0 = the score's own
    trimmed-mean rule: below the run's median minus 0.15). ``sim``: the
    precomputed ``a @ b.T`` (after any whitening), when the caller has it.
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"descriptors must be [T, D] with equal D, got {a.shape} and {b.shape}")
    if len(ta) != len(a) or len(tb) != len(b):
        raise ValueError(f"times {len(ta)}/{len(tb)} do not match descriptors {len(a)}/{len(b)}")
    if len(a) == 0 or len(b) == 0:
        return Alignment(0.0)
    m = (a @ b.T) if sim is None else sim
    swap = len(a) > len(b)
    if swap:  # score the shorter video's frames
        m, ta, tb = m.T, tb, ta
    ta = np.asarray(ta, np.float64)
    tb = np.asarray(tb, np.float64)
    # votes: each frame of the short video with its 3 best matches of the long one
    k = min(3, m.shape[1])
    top = np.argpartition(-m, k - 1, axis=1)[:, :k]
    rows = np.repeat(np.arange(m.shape[0]), k)
    cols = top.reshape(-1)
    w = m[rows, cols] - floor
    ok = w > 0
    rows, cols, w = rows[ok], cols[ok], w[ok]
    votes: dict[tuple[float, int], float] = {}
    for s in SPEEDS:
        if len(w) == 0:
            break
        offs = np.round(tb[cols] - ta[rows] * s).astype(np.int64)
        u, inv = np.unique(offs, return_inverse=True)
        acc = np.bincount(inv, weights=w)
        if s != 1.0:  # a speed change must explain clearly more matches than none
            acc = acc * SPEED_PRIOR
        for o, v in zip(u[acc >= acc.max() * 0.5], acc[acc >= acc.max() * 0.5]):
            votes[(s, int(o))] = float(v)
    peaks = _peaks(votes, max_segments)
    if not peaks:
        best = np.sort(m.max(axis=1))[::-1]
        keep = max(1, int(np.ceil(len(best) * (1 - trim))))
        return Alignment(float(best[:keep].mean()) * 0.5)  # no consistent alignment at all
    # each short frame: best similarity at an aligned time under any kept peak (refined offset)
    aligned = np.full(m.shape[0], -1.0)
    where = np.full(m.shape[0], -1, np.int64)
    which = np.full(m.shape[0], -1, np.int64)
    for p, (s, off) in enumerate(peaks):
        # refine the offset: median of the supporting matches near the peak
        pred = ta * s + off
        near = np.abs(tb[None, :] - pred[:, None]) <= tol + 0.5
        cand = np.where(near, m, -np.inf)
        jj = cand.argmax(axis=1)
        ok = np.isfinite(cand[np.arange(len(jj)), jj]) & (cand[np.arange(len(jj)), jj] >= floor)
        if ok.any():
            off = float(np.median(tb[jj[ok]] - ta[ok] * s))
        pred = ta * s + off
        near = np.abs(tb[None, :] - pred[:, None]) <= tol
        cand = np.where(near, m, -np.inf)
        jj = cand.argmax(axis=1)
        val = cand[np.arange(len(jj)), jj]
        better = val > aligned
        aligned[better] = val[better]
        where[better] = jj[better]
        which[better] = p
        peaks[p] = (s, off)
    aligned = np.where(np.isfinite(aligned), aligned, -1.0)
    srt = np.sort(aligned)[::-1]
    keep = max(1, int(np.ceil(len(srt) * (1 - trim))))
    score = float(srt[:keep].mean())
    # segments: runs of well-aligned frames per peak
    cut = segment_min if segment_min > 0 else max(floor, float(np.median(srt[:keep])) - 0.15)
    step = float(np.median(np.diff(ta))) if len(ta) > 1 else 1.0
    segs = []
    for p, (s, off) in enumerate(peaks):
        good = (which == p) & (aligned >= cut)
        idx = np.flatnonzero(good)
        if len(idx) == 0:
            continue
        runs, start = [], idx[0]
        for x, y in zip(idx[:-1], idx[1:]):
            if y - x > 2:  # one missing frame (a caption, a cut) does not end a segment
                runs.append((start, x))
                start = y
        runs.append((start, idx[-1]))
        for r0, r1 in runs:
            a0, a1 = float(ta[r0]), float(ta[r1]) + step
            b0, b1 = a0 * s + off, a1 * s + off
            seg_score = float(aligned[r0 : r1 + 1][good[r0 : r1 + 1]].mean())
            segs.append((a0, a1, max(0.0, b0), max(0.0, b1), seg_score))
    segs.sort(key=lambda x: -(x[1] - x[0]) * x[4])
    segments = []
    for a0, a1, b0, b1, sc in segs[:max_segments]:
        if swap:
            a0, a1, b0, b1 = b0, b1, a0, a1
        segments.append({"a_start": round(a0, 2), "a_end": round(a1, 2), "b_start": round(b0, 2), "b_end": round(b1, 2),
                         "score": round(sc, 4)})  # fmt: skip
    i = int(np.argmax(aligned))
    j = int(where[i])
    best = (float(ta[i]), float(tb[j]), float(aligned[i])) if j >= 0 else None
    if best is not None and swap:
        best = (best[1], best[0], best[2])
    return Alignment(score, segments, best)
