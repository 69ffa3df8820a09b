"""The index config (one frozen dataclass, fingerprinted)."""

from __future__ import annotations

from dataclasses import dataclass

from reelmatch.config import StageConfig
from reelmatch.index.backends import list_backends

BACKENDS = tuple(list_backends())
KINDS = ("auto", "flat", "hnsw", "ivfpq")
REFINES = ("none", "sq8", "flat")


@dataclass(frozen=True)
class IndexConfig(StageConfig):
    """How vectors are indexed.

    backend: ``"faiss"`` (default) or ``"annoy"`` (the recipe's; rebuilds on change).
    kind: FAISS structure. ``"flat"`` = exact inner product (``IndexFlatIP``);
        ``"hnsw"`` = approximate (``IndexHNSWFlat``, inner product); ``"auto"``
        (default) = flat below ``exact_below`` vectors, HNSW from there on;
        ``"ivfpq"`` = compressed (``IndexIVFPQ``: ``pq_m`` bytes per vector) for
        10M+ vectors, see :mod:`reelmatch.index.ivfpq`.
    hnsw_m, ef_construction, ef_search: HNSW graph degree, build and search beams.
    annoy_trees, annoy_search_k: Annoy forest size and nodes inspected per query
        (-1 = Annoy's default, ``trees * k``).
    compact_above: fraction of removed (tombstoned) entries above which saving
        compacts the index (re-adds the live vectors).
    ivf_nlist: IVF lists (0 = about 4 * sqrt(n), a power of two); nprobe: lists
        visited per query; pq_m, pq_nbits: PQ sub-quantizers and bits each
        (pq_m * pq_nbits / 8 bytes per vector; pq_m divides the dimension);
        refine: re-rank ``refine_factor * k`` PQ candidates with ``"sq8"``
        (1 byte per dimension) or ``"flat"`` (exact, 4 bytes per dimension) codes.
    """

    backend: str = "faiss"
    kind: str = "auto"
    exact_below: int = 50_000
    hnsw_m: int = 32
    ef_construction: int = 100
    ef_search: int = 128
    annoy_trees: int = 50
    annoy_search_k: int = -1
    compact_above: float = 0.25
    ivf_nlist: int = 0
    nprobe: int = 32
    pq_m: int = 32
    pq_nbits: int = 8
    refine: str = "none"
    refine_factor: int = 16

    def __post_init__(self):
        for name, choices in (("backend", BACKENDS), ("kind", KINDS), ("refine", REFINES)):
            if getattr(self, name) not in choices:
                raise self.invalid(name, f"is not one of {', '.join(choices)}")
        for name, ok, why in (
            ("exact_below", self.exact_below >= 0, "must be >= 0"),
            ("hnsw_m", self.hnsw_m >= 2, "must be at least 2"),
            ("ef_construction", self.ef_construction >= 1, "must be at least 1"),
            ("ef_search", self.ef_search >= 1, "must be at least 1"),
            ("annoy_trees", self.annoy_trees >= 1, "must be at least 1"),
            ("compact_above", 0 < self.compact_above <= 1, "must be in (0, 1]"),
            ("ivf_nlist", self.ivf_nlist >= 0, "must be >= 0"),
            ("nprobe", self.nprobe >= 1, "must be at least 1"),
            ("pq_m", self.pq_m >= 1, "must be at least 1"),
            ("pq_nbits", 1 <= self.pq_nbits <= 16, "must be in [1, 16]"),
            ("refine_factor", self.refine_factor >= 1, "must be at least 1"),
        ):
            if not ok:
                raise self.invalid(name, why)

    def structure_for(self, n: int) -> str:
        """The FAISS structure used for ``n`` vectors: ``"flat"`` or ``"hnsw"``."""
        if self.kind != "auto":
            return self.kind
        return "flat" if n < self.exact_below else "hnsw"
