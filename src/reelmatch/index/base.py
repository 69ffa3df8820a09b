"""The index interface shared by the FAISS and Annoy backends.

An index maps string item ids to L2-normalised float32 vectors and answers
top-k inner-product (= cosine) queries. Internally every vector has a *label*:
its position in insertion order. Removing an item tombstones its label (the
vector stays in the structure but is filtered out of every search through a
FAISS ``IDSelectorBitmap``); adding an id that exists replaces it. Compaction
(:meth:`Index.compact`, done on save when tombstones pass
``IndexConfig.compact_above``) re-adds the live vectors and drops the dead ones.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np

from reelmatch.errors import InputError
from reelmatch.index.config import IndexConfig

log = logging.getLogger(__name__)


def check_vectors(vectors, dim: int | None = None, what: str = "vectors") -> np.ndarray:
    """``vectors`` as C-contiguous float32 [n, d]; ``InputError`` naming the actual shape otherwise."""
    v = np.asarray(vectors)
    if v.ndim == 1 and dim is not None and v.shape[0] == dim:
        v = v[None, :]
    if v.ndim != 2:
        raise InputError(f"{what} must be a 2-D array [n, d], got shape {v.shape}")
    if dim is not None and v.shape[1] != dim:
        raise InputError(f"{what} must have {dim} columns, got shape {v.shape}")
    if not np.issubdtype(v.dtype, np.floating):
        raise InputError(f"{what} must be floating point, got {v.dtype}")
    v = np.ascontiguousarray(v, dtype=np.float32)
    if not np.isfinite(v).all():
        raise InputError(f"{what} contain NaN or infinite values")
    return v


class Index:
    """Top-k inner-product search over vectors keyed by string ids.

    Build with :func:`reelmatch.index.build_index`, load with
    :func:`reelmatch.index.load_index`. ``meta`` carries the provenance written
    to the sidecar (``vectors_fingerprint``, ``model_fingerprint``...).
    """

    backend = "?"
    #: a filter leaving at most this many items is answered by exact brute force over them
    exact_subset_max = 4096

    def __init__(self, dim: int, config: IndexConfig, meta: dict | None = None):
        self.dim = int(dim)
        self.config = config
        self.meta = dict(meta or {})
        self._ids: list[str] = []
        self._alive = np.zeros(0, dtype=bool)
        self._pos: dict[str, int] = {}
        self._ids_arr: np.ndarray | None = None  # label -> id lookup, rebuilt when labels change

    # ------------------------------------------------------------- backend
    @property
    def structure(self) -> str:
        """``"flat"``, ``"hnsw"`` or ``"annoy"``."""
        raise NotImplementedError

    def _append(self, vectors: np.ndarray) -> None:
        """Add vectors whose labels are the next positions."""
        raise NotImplementedError

    def _search(self, q: np.ndarray, k: int, mask: np.ndarray | None, **opts) -> tuple[np.ndarray, np.ndarray]:
        """Labels int64 [n, k] (-1 = none) and scores float32 [n, k] among labels where ``mask``."""
        raise NotImplementedError

    def _reconstruct(self, labels: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _reset(self, structure: str | None = None) -> None:
        """Drop every vector (labels restart at 0)."""
        raise NotImplementedError

    def _payload(self) -> dict[str, np.ndarray]:
        """Arrays that persist the structure (saved in the index file)."""
        raise NotImplementedError

    def _load_payload(self, payload: dict[str, np.ndarray], structure: str) -> None:
        raise NotImplementedError

    # ---------------------------------------------------------------- info
    def __len__(self) -> int:
        """Number of live (not removed) items."""
        return len(self._pos)

    def __contains__(self, item_id: str) -> bool:
        return item_id in self._pos

    @property
    def ids(self) -> list[str]:
        """Live ids in label order."""
        return [self._ids[i] for i in np.flatnonzero(self._alive)]

    @property
    def num_tombstones(self) -> int:
        return len(self._ids) - len(self._pos)

    def vector(self, item_id: str) -> np.ndarray:
        """The stored vector of ``item_id``: float32 [d]."""
        from reelmatch.errors import NotFoundError

        if item_id not in self._pos:
            raise NotFoundError(f"id {item_id!r} is not in the index")
        return self._reconstruct(np.array([self._pos[item_id]], dtype=np.int64))[0]

    def vectors(self) -> tuple[list[str], np.ndarray]:
        """Live ids and their vectors float32 [n, d]."""
        labels = np.flatnonzero(self._alive).astype(np.int64)
        return [self._ids[i] for i in labels], self._reconstruct(labels)

    # ------------------------------------------------------------- updates
    def add(self, vectors, ids: Sequence[str]) -> None:
        """Add ``vectors`` float32 [n, d] under ``ids`` (an existing id is replaced). No rebuild for FAISS."""
        v = check_vectors(vectors, self.dim)
        ids = [str(i) for i in ids]
        if len(ids) != v.shape[0]:
            raise InputError(f"{len(ids)} ids for {v.shape[0]} vectors")
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise InputError(f"id {dup!r} appears twice in one add")
        if not ids:
            return
        for i in ids:
            if i in self._pos:
                self._alive[self._pos.pop(i)] = False
        start = len(self._ids)
        self._append(v)
        self._ids.extend(ids)
        self._alive = np.concatenate([self._alive, np.ones(len(ids), dtype=bool)])
        for j, i in enumerate(ids):
            self._pos[i] = start + j
        self._allow_cache = None
        self._after_change()

    def remove(self, ids: Iterable[str]) -> int:
        """Remove ``ids`` (unknown ones are ignored); returns how many were removed. No rebuild for FAISS."""
        n = 0
        for i in ids:
            pos = self._pos.pop(str(i), None)
            if pos is not None:
                self._alive[pos] = False
                n += 1
        if n:
            self._allow_cache = None
            self._after_change()
        return n

    def _after_change(self) -> None:
        """Hook after add/remove (FAISS switches flat -> HNSW past the threshold)."""

    def compact(self, structure: str | None = None) -> None:
        """Re-add the live vectors only, dropping tombstones (optionally changing structure)."""
        ids, vecs = self.vectors()
        log.info("compacting %s index: %d live, %d removed", self.backend, len(ids), self.num_tombstones)
        self._reset(structure)
        self._allow_cache = None
        self._ids, self._pos, self._ids_arr = [], {}, None
        self._alive = np.zeros(0, dtype=bool)
        if ids:
            start = 0
            self._append(vecs)
            self._ids = list(ids)
            self._alive = np.ones(len(ids), dtype=bool)
            self._pos = {i: start + j for j, i in enumerate(ids)}

    # -------------------------------------------------------------- search
    def search(
        self,
        q,
        k: int,
        *,
        allow: Iterable[str] | None = None,
        exclude: Iterable[str] = (),
        ef_search: int | None = None,
        search_k: int | None = None,
        nprobe: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` neighbours of each query row.

        q: float32 [n, d] (or [d]); returns ``(ids, scores)``: ids object [n, k]
        (``None`` where fewer than k items qualify), scores float32 [n, k]
        (inner products, best first; ``-inf`` where no item). Only ids in
        ``allow`` (when given) and not in ``exclude`` are returned: filters apply
        inside the search, before truncation to k. ``ef_search`` (HNSW) and
        ``search_k`` (Annoy) and ``nprobe`` (IVF-PQ) override the config's search effort.
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
            raise InputError(f"k must be a positive integer, got {k!r}")
        q = check_vectors(q, self.dim, "queries")
        k = int(k)
        mask = None
        exclude = [e for e in exclude if e in self._pos]
        if allow is not None or exclude or self.num_tombstones:
            if allow is not None:
                mask = self._allow_mask(allow).copy()
            else:
                mask = self._alive.copy()
            if exclude:
                mask[[self._pos[e] for e in exclude]] = False
        n_ok = len(self._pos) if mask is None else int(mask.sum())
        n = q.shape[0]
        out_ids = np.full((n, k), None, dtype=object)
        out_scores = np.full((n, k), -np.inf, dtype=np.float32)
        if n == 0 or n_ok == 0:
            return out_ids, out_scores
        kk = min(k, n_ok)
        opts = {"ef_search": ef_search, "search_k": search_k}
        if nprobe is not None:
            opts["nprobe"] = nprobe
        if mask is not None and n_ok <= max(self.exact_subset_max, 8 * kk):
            labels, scores = self._search_exact_subset(q, kk, np.flatnonzero(mask))
        else:
            labels, scores = self._search(q, kk, mask, n_ok=n_ok, **opts)
        if self._ids_arr is None or len(self._ids_arr) != len(self._ids) + 1:
            self._ids_arr = np.array(self._ids + [None], dtype=object)
        ids_arr = self._ids_arr
        out_ids[:, :kk] = ids_arr[np.where(labels >= 0, labels, len(self._ids))]
        out_scores[:, :kk] = np.where(labels >= 0, scores, -np.inf)
        return out_ids, out_scores

    def _allow_mask(self, allow) -> np.ndarray:
        """The label mask of the ids in ``allow``; the last one is kept, so a caller passing the same
        list object again (a cached filter, see reelmatch.query.search) does not rebuild it."""
        cached = getattr(self, "_allow_cache", None)
        if cached is not None and cached[0] is allow:
            return cached[1]
        mask = np.zeros(len(self._ids), dtype=bool)
        mask[[self._pos[a] for a in allow if a in self._pos]] = True
        if isinstance(allow, (list, tuple)):  # a list held by a cache: recognised again by identity
            self._allow_cache = (allow, mask)
        return mask

    def _search_exact_subset(self, q: np.ndarray, k: int, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact search among a few labels (a selective filter): brute force over their vectors."""
        vecs = self._reconstruct(labels.astype(np.int64))
        sims = q @ vecs.T
        top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        return labels[top].astype(np.int64), np.take_along_axis(sims, top, axis=1).astype(np.float32)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.structure} d={self.dim} n={len(self)}"
            f" removed={self.num_tombstones}>"
        )
