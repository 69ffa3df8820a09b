"""Annoy backend (the recipe's): a forest of random-projection trees.

An Annoy index cannot change once built: :meth:`add` and :meth:`remove` work but
rebuild the whole forest from the stored vectors (logged as a warning). Scores
are cosine similarities (Annoy's angular distance ``d`` gives ``1 - d**2 / 2``).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from reelmatch.errors import require
from reelmatch.index.base import Index
from reelmatch.index.config import IndexConfig

log = logging.getLogger(__name__)


class AnnoyIndex(Index):
    backend = "annoy"

    def __init__(self, dim: int, config: IndexConfig, meta: dict | None = None, structure: str = "annoy"):
        super().__init__(dim, config, meta)
        self._tree = None
        self._tree_stale = True
        self._vectors = np.zeros((0, dim), dtype=np.float32)  # labels -> vectors, for rebuilds

    @property
    def structure(self) -> str:
        return "annoy"

    def _reset(self, structure: str | None = None) -> None:
        self._tree_stale = True
        self._vectors = np.zeros((0, self.dim), dtype=np.float32)

    def _append(self, vectors: np.ndarray) -> None:
        self._vectors = np.concatenate([self._vectors, vectors]) if len(self._vectors) else vectors.copy()
        self._tree_stale = True

    def _after_change(self) -> None:
        if self._tree is not None:
            log.warning("Annoy cannot add or remove items: the whole index is rebuilt (%d items)", len(self))
        if self.num_tombstones:
            self.compact()  # drop the removed vectors before the rebuild

    def _ensure_built(self) -> None:
        if self._tree is None or self._tree_stale:
            self._build()

    def _build(self) -> None:
        annoy = require("annoy", "annoy")
        self._tree_stale = False
        tree = annoy.AnnoyIndex(self.dim, "angular")
        tree.set_seed(0)
        for i, v in enumerate(self._vectors):
            tree.add_item(i, v)
        tree.build(self.config.annoy_trees, n_jobs=1)
        self._tree, self._tree_stale = tree, False

    def _reconstruct(self, labels: np.ndarray) -> np.ndarray:
        return self._vectors[np.asarray(labels, dtype=np.int64)]

    def _search(self, q, k, mask, *, n_ok: int, ef_search=None, search_k=None):
        self._ensure_built()
        sk = self.config.annoy_search_k if search_k is None else search_k
        n = q.shape[0]
        labels = np.full((n, k), -1, dtype=np.int64)
        scores = np.full((n, k), -np.inf, dtype=np.float32)
        total = len(self._vectors)
        for r in range(n):
            fetch = k
            while True:
                # over-fetch until k items pass the filter (filters apply before truncation)
                got, dist = self._tree.get_nns_by_vector(q[r], fetch, search_k=sk, include_distances=True)
                got = np.asarray(got, dtype=np.int64)
                dist = np.asarray(dist, dtype=np.float32)
                if mask is not None:
                    keep = mask[got]
                    got, dist = got[keep], dist[keep]
                if len(got) >= k or fetch >= total:
                    break
                fetch = min(fetch * 4, total)
            m = min(k, len(got))
            labels[r, :m] = got[:m]
            scores[r, :m] = 1.0 - dist[:m] ** 2 / 2.0
        return labels, scores

    def _payload(self) -> dict[str, np.ndarray]:
        self._ensure_built()
        fd, tmp = tempfile.mkstemp(suffix=".annoy")
        os.close(fd)
        try:
            self._tree.save(tmp)  # the tree now maps this file: still valid after the unlink
            forest = np.frombuffer(Path(tmp).read_bytes(), dtype=np.uint8)
        finally:
            os.unlink(tmp)
        return {"index": forest, "vectors": self._vectors}

    def _load_payload(self, payload: dict[str, np.ndarray], structure: str) -> None:
        annoy = require("annoy", "annoy")
        self._vectors = np.ascontiguousarray(payload["vectors"], dtype=np.float32).reshape(-1, self.dim)
        fd, tmp = tempfile.mkstemp(suffix=".annoy")
        try:
            os.write(fd, np.asarray(payload["index"], dtype=np.uint8).tobytes())
        finally:
            os.close(fd)
        try:
            tree = annoy.AnnoyIndex(self.dim, "angular")
            tree.load(tmp)  # mmapped: stays valid after the unlink below
        finally:
            os.unlink(tmp)
        self._tree, self._tree_stale = tree, False
