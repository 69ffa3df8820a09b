"""Copy scores between two videos from their frame descriptors (pure functions).

The score is chamfer-style and tolerant to trims and segments: each frame of
the *shorter* video is matched to its most similar frame of the longer one
and the similarities are averaged. A 5 s teaser cut from a 52 s trailer scores
as high as a full re-encode; two different videos score low because most of
their frames find no close match. The mean is trimmed (the worst
``trim`` fraction of frames is ignored) so that an overlaid caption or a frame
at a cut does not sink a real copy.
"""

from __future__ import annotations

import numpy as np


def frame_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarities float32 [Ta, Tb] of L2-normalised descriptors a [Ta, D], b [Tb, D]."""
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"descriptors must be [T, D] with equal D, got {a.shape} and {b.shape}")
    return a @ b.T


def copy_score(a: np.ndarray, b: np.ndarray, *, trim: float = 0.2) -> float:
    """Copy score in [-1, 1] of two videos' frame descriptors (symmetric).

    ``trim``: fraction of the shorter video's worst-matching frames left out of the mean.
    """
    if len(a) == 0 or len(b) == 0:
        return 0.0
    if len(a) > len(b) or (len(a) == len(b) and a.tobytes() > b.tobytes()):
        a, b = b, a
    best = np.sort(frame_similarity(a, b).max(axis=1))[::-1]
    keep = max(1, int(np.ceil(len(best) * (1.0 - trim))))
    return float(best[:keep].mean())


def mean_pooled_score(a: np.ndarray, b: np.ndarray) -> float:
    """Baseline: cosine of the mean-pooled frame descriptors."""
    ma, mb = a.mean(axis=0), b.mean(axis=0)
    return float(ma @ mb / (np.linalg.norm(ma) * np.linalg.norm(mb) + 1e-12))
