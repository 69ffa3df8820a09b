"""The config of the HTTP server (one frozen dataclass)."""

from __future__ import annotations

from dataclasses import dataclass

from reelmatch.errors import InputError


@dataclass(frozen=True)
class ServeConfig:
    """Limits and switches of ``reelmatch serve``.

    allow_writes:      enable the endpoints that change the catalogue (PATCH an item).
    max_upload_bytes:  largest video accepted by ``POST /api/match`` (413 above).
    query_timeout:     seconds a match of an uploaded video may take (504 above).
    max_concurrent_uploads: uploads decoded/embedded at once (503 when all busy).
    max_k:             largest ``k`` of similar / match (422 above).
    max_page:          largest page of ``GET /api/items`` (422 above).
    thumbnail_cache:   pictures kept in memory (thumbnails, sheets, spectrograms).
    max_batch:         most ids in one ``POST /api/similar`` (422 above).
    neighbour_table:   answer ``similar`` of catalogue items from the precomputed
                       neighbour table (False: search the index every time).
    inline_route:      answer a plain ``GET /api/items/{id}/similar`` before routing
                       when the table answers it (:mod:`reelmatch.serve.fastpath`;
                       False: every request goes through FastAPI's routing).
    """

    allow_writes: bool = False
    max_upload_bytes: int = 200 * 1024 * 1024
    query_timeout: float = 120.0
    max_concurrent_uploads: int = 2
    max_k: int = 100
    max_page: int = 200
    thumbnail_cache: int = 512
    max_batch: int = 1000
    neighbour_table: bool = True
    inline_route: bool = True

    def __post_init__(self):
        if self.max_upload_bytes < 1 or self.query_timeout <= 0 or self.max_concurrent_uploads < 1:
            raise InputError(f"invalid serve config: {self}")
        if self.max_k < 1 or self.max_page < 1 or self.thumbnail_cache < 0 or self.max_batch < 1:
            raise InputError(f"invalid serve config: {self}")
