"""Clustered synthetic vectors for tests and benchmarks (like faiss.contrib.datasets).

Real embeddings are not uniform on the sphere: they form clusters (genres,
films) with low intrinsic dimension. Each point here is a cluster centre plus
a few latent directions of that cluster plus a little isotropic noise,
L2-normalised. Queries come from the same distribution but are not in the base.
"""

from __future__ import annotations

import numpy as np


def _normalise(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-12
    return x


class ClusteredDataset:
    """``base`` float32 [nb, d] and ``queries`` float32 [nq, d], both L2-normalised.

    ``clusters`` centres (default sqrt(nb)), each with its own ``latent``-dim
    subspace: ``latent`` sets the intrinsic dimension, hence how hard the data is
    for tree- and graph-based ANN (see docs/index.md for how results move with it).

    ``ground_truth(k)`` gives exact top-k labels int64 [nq, k] by inner product.
    """

    def __init__(self, nb: int, nq: int = 1000, d: int = 256, *, clusters: int | None = None,
                 latent: int = 64, spread: float = 0.35, noise: float = 0.05, seed: int = 0):
        self.nb, self.nq, self.d = nb, nq, d
        rng = np.random.default_rng(seed)
        c = clusters or max(16, int(np.sqrt(nb)))
        centres = _normalise(rng.standard_normal((c, d), dtype=np.float32))
        bases = rng.standard_normal((c, latent, d), dtype=np.float32) * np.float32(1 / np.sqrt(d))
        self.base = self._sample(rng, nb, centres, bases, spread, noise)
        self.queries = self._sample(rng, nq, centres, bases, spread, noise)
        self._gt: dict[int, np.ndarray] = {}

    @staticmethod
    def _sample(rng, n, centres, bases, spread, noise) -> np.ndarray:
        c, latent, d = bases.shape
        lab = rng.integers(0, c, n)
        z = rng.standard_normal((n, latent), dtype=np.float32) * spread
        out = centres[lab] + rng.standard_normal((n, d), dtype=np.float32) * np.float32(noise / np.sqrt(d) * 10)
        order = np.argsort(lab, kind="stable")
        bounds = np.searchsorted(lab[order], np.arange(c + 1))
        for j in range(c):
            rows = order[bounds[j] : bounds[j + 1]]
            out[rows] += z[rows] @ bases[j]
        return _normalise(out).astype(np.float32, copy=False)

    @property
    def ids(self) -> list[str]:
        return [f"v{i}" for i in range(self.nb)]

    def ground_truth(self, k: int = 10, chunk: int = 64) -> np.ndarray:
        """Exact top-k labels int64 [nq, k] (numpy brute force, the slow obvious reference)."""
        if k not in self._gt:
            out = np.empty((self.nq, k), dtype=np.int64)
            for s in range(0, self.nq, chunk):
                sims = self.queries[s : s + chunk] @ self.base.T
                part = np.argpartition(-sims, k, axis=1)[:, :k]
                order = np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1)
                out[s : s + chunk] = np.take_along_axis(part, order, axis=1)
            self._gt[k] = out
        return self._gt[k]


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of the true top-k found in the returned top-k (labels or ids, [n, k] each)."""
    k = truth.shape[1]
    hits = sum(len(set(f[:k].tolist()) & set(t.tolist())) for f, t in zip(found, truth))
    return hits / (truth.shape[0] * k)


#: genre styles of :func:`synthetic_catalogue` (one per cluster, cycling)
SYNTHETIC_GENRES = (("Action",), ("Drama", "Romance"), ("Comedy",), ("Horror", "Thriller"), ("Animation", "Family"),
                    ("Sci-Fi", "Action"))


def synthetic_catalogue(ws, n: int, *, d: int = 256, ads: float = 0.1, seed: int = 0) -> list[str]:
    """Fill an empty workspace with ``n`` catalogue items that have vectors only (no media):
    clustered embeddings (:class:`ClusteredDataset`), genres by cluster, every
    ``1/ads``-th item an ad. Then ``reelmatch index`` (or ``run_index``) serves them.
    Returns the ids. For tests and benchmarks at catalogue sizes no media could reach.
    """
    import json
    import time

    from reelmatch.embed.config import EmbedConfig
    from reelmatch.embed.vectors import Embeddings, embeddings_path, save_embeddings

    data = ClusteredDataset(n, nq=1, d=d, seed=seed)
    ids = [f"syn-{i:07d}" for i in range(n)]
    every = int(round(1 / ads)) if ads > 0 else 0
    now = time.time()
    rows = []
    for i, item_id in enumerate(ids):
        ad = every and i % every == every - 1
        genres = [] if ad else list(SYNTHETIC_GENRES[i % len(SYNTHETIC_GENRES)])
        rows.append((item_id, f"{'Spot' if ad else 'Film'} {i:07d}", "ad" if ad else "trailer", json.dumps(genres), now, now))
    with ws.catalog.transaction() as c:
        c.executemany("INSERT INTO items (id, title, kind, genres, created_at, updated_at) VALUES (?,?,?,?,?,?)", rows)
    half = d // 2
    visual = _normalise(data.base[:, :half].copy())
    audio = _normalise(data.base[:, half:].copy())
    emb = Embeddings(ids, data.base, visual, audio, np.ones(n, dtype=bool),
                     {"mode": "synthetic", "model_fingerprint": f"synthetic-{seed}", "clip_fingerprint": None})
    save_embeddings(emb, embeddings_path(ws), EmbedConfig(use_model=False))
    return ids
