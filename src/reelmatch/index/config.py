"""The index config (one frozen dataclass, fingerprinted)."""

from __future__ import annotations

from dataclasses import dataclass

from reelmatch.config import fingerprint

BACKENDS = ("faiss", "annoy")
KINDS = ("auto", "flat", "hnsw")


@dataclass(frozen=True)
class IndexConfig:
    """How vectors are indexed.

    backend: ``"faiss"`` (default) or ``"annoy"`` (the recipe's; rebuilds on change).
    kind: FAISS structure. ``"flat"`` = exact inner product (``IndexFlatIP``);
        ``"hnsw"`` = approximate (``IndexHNSWFlat``, inner product); ``"auto"``
        (default) = flat below ``exact_below`` vectors, HNSW from there on.
    hnsw_m, ef_construction, ef_search: HNSW graph degree, build and search beams.
    annoy_trees, annoy_search_k: Annoy forest size and nodes inspected per query
        (-1 = Annoy's default, ``trees * k``).
    compact_above: fraction of removed (tombstoned) entries above which saving
        compacts the index (re-adds the live vectors).
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

    @property
    def fingerprint(self) -> str:
        return fingerprint(self)

    def structure_for(self, n: int) -> str:
        """The FAISS structure used for ``n`` vectors: ``"flat"`` or ``"hnsw"``."""
        if self.kind != "auto":
            return self.kind
        return "flat" if n < self.exact_below else "hnsw"
