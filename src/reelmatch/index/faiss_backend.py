"""FAISS backend: exact ``IndexFlatIP`` below a size threshold, ``IndexHNSWFlat`` above.

A third structure, ``ivfpq`` (compressed, for 10M+ vectors), is chosen explicitly;
see :mod:`reelmatch.index.ivfpq`. It is trained by its first add.

Labels are insertion positions (FAISS assigns ``ntotal`` to each added vector).
Removal is a tombstone: the vector stays in the structure and every search passes
an ``IDSelectorBitmap`` of the live labels (HNSW still routes through removed nodes,
so the graph keeps its quality); compaction re-adds the live vectors.
"""

from __future__ import annotations

import logging

import numpy as np

from reelmatch.errors import require
from reelmatch.index.base import Index
from reelmatch.index.config import IndexConfig

log = logging.getLogger(__name__)


class FaissIndex(Index):
    backend = "faiss"

    def __init__(self, dim: int, config: IndexConfig, meta: dict | None = None, structure: str = "flat"):
        super().__init__(dim, config, meta)
        self._faiss = None
        self._reset(structure)

    @property
    def structure(self) -> str:
        return self._structure

    def _reset(self, structure: str | None = None) -> None:
        faiss = require("faiss", "ml")
        structure = structure or self._structure
        if structure == "flat":
            index = faiss.IndexFlatIP(self.dim)
        elif structure == "ivfpq":
            if self._faiss is not None and getattr(self, "_structure", None) == "ivfpq":
                self._faiss.reset()  # drop the vectors, keep the training
                index = self._faiss
            else:
                index = None  # trained by the first add
        elif structure == "hnsw":
            index = faiss.IndexHNSWFlat(self.dim, self.config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = self.config.ef_construction
            index.hnsw.efSearch = self.config.ef_search
        else:
            raise ValueError(f"unknown FAISS structure {structure!r}")
        self._faiss, self._structure = index, structure

    def _append(self, vectors: np.ndarray) -> None:
        if self._faiss is None and self._structure == "ivfpq":
            from reelmatch.index.ivfpq import train_new

            self._faiss = train_new(self.dim, vectors, self.config)
        self._faiss.add(vectors)

    def _after_change(self) -> None:
        # an 'auto' index that grew past the threshold becomes approximate
        want = self.config.structure_for(len(self))
        if self.config.kind == "auto" and self._structure == "flat" and want == "hnsw":
            log.info("index grew to %d items (>= %d): switching to HNSW", len(self), self.config.exact_below)
            self.compact("hnsw")

    def _reconstruct(self, labels: np.ndarray) -> np.ndarray:
        if len(labels) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._faiss.reconstruct_batch(np.ascontiguousarray(labels, dtype=np.int64))

    def _search(self, q, k, mask, *, n_ok: int, ef_search=None, search_k=None, nprobe=None):
        faiss = require("faiss", "ml")
        keep = None
        if self._structure == "ivfpq":
            from reelmatch.index.ivfpq import search_params

            bitmap = None if mask is None else np.packbits(mask, bitorder="little")
            sel = None if mask is None else faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap))
            params, keep = search_params(self.config, nprobe=nprobe, sel=sel)
            scores, labels = self._faiss.search(q, k, params=params)
            del bitmap, sel, keep  # kept alive through the search above
            return labels, scores
        if self._structure == "hnsw":
            params = faiss.SearchParametersHNSW()
            ef = ef_search or self.config.ef_search
            if mask is not None:
                # a selective filter leaves fewer candidates per beam: widen it
                ef = int(ef * min(len(self._ids) / max(n_ok, 1), 64))
            params.efSearch = max(ef, k)
        else:
            params = faiss.SearchParameters()
        bitmap = None
        if mask is not None:
            bitmap = np.packbits(mask, bitorder="little")
            params.sel = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap))
        scores, labels = self._faiss.search(q, k, params=params)
        del bitmap  # kept alive through the search above
        return labels, scores

    def _payload(self) -> dict[str, np.ndarray]:
        faiss = require("faiss", "ml")
        if self._faiss is None:  # an ivfpq index never given a vector: nothing trained yet
            return {"index": np.zeros(0, dtype=np.uint8)}
        return {"index": faiss.serialize_index(self._faiss)}

    def _load_payload(self, payload: dict[str, np.ndarray], structure: str) -> None:
        faiss = require("faiss", "ml")
        data = np.ascontiguousarray(payload["index"], dtype=np.uint8)
        self._faiss = faiss.deserialize_index(data) if data.size else None
        self._structure = structure
        if structure == "hnsw":
            self._faiss.hnsw.efSearch = self.config.ef_search
