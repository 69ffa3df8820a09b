"""The index config (one frozen dataclass, fingerprinted)."""

from __future__ import annotations

from dataclasses import dataclass

from reelmatch.config import fingerprint

BACKENDS = ("faiss", "annoy")
KINDS = ("auto", "flat", "hnsw", "ivfpq")
REFINES = ("none", "sq8", "flat")


@dataclass(frozen=True)
class IndexConfig:
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
        from reelmatch.errors import InputError

        if self.backend not in BACKENDS:
            raise InputError(f"index backend {self.backend!r} is not one of {', '.join(BACKENDS)}")
        if self.kind not in KINDS:
            raise InputError(f"index kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.exact_below < 0 or self.hnsw_m < 2 or self.ef_construction < 1 or self.ef_search < 1:
            raise InputError(f"invalid index config: {self}")
        if self.annoy_trees < 1 or not 0 < self.compact_above <= 1:
            raise InputError(f"invalid index config: {self}")
        if self.refine not in REFINES:
            raise InputError(f"index refine {self.refine!r} is not one of {', '.join(REFINES)}")
        if self.ivf_nlist < 0 or self.nprobe < 1 or self.pq_m < 1 or not 1 <= self.pq_nbits <= 16 or self.refine_factor < 1:
            raise InputError(f"invalid index config: {self}")

    @property
    def fingerprint(self) -> str:
        return fingerprint(self)

    def structure_for(self, n: int) -> str:
        """The FAISS structure used for ``n`` vectors: ``"flat"`` or ``"hnsw"``."""
        if self.kind != "auto":
            return self.kind
        return "flat" if n < self.exact_below else "hnsw"
