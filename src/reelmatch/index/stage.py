"""The index stage: keep ``<ws>/index/<name>.npz`` in step with the embeddings.

Incremental by default: when the existing index was made from the same model
and with the same config, ids that left the embeddings are removed, new ones
added and changed vectors replaced, without rebuilding (FAISS). Another model,
another config, or ``rebuild=True`` builds from scratch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reelmatch.index.config import IndexConfig
from reelmatch.index.io import build_index, load_index, save_index

log = logging.getLogger(__name__)


def index_path(ws, name: str = "default") -> Path:
    return ws.dir("index") / f"{name}.npz"


@dataclass
class IndexReport:
    path: Path
    count: int
    added: int
    removed: int
    rebuilt: bool
    structure: str

    @property
    def summary(self) -> str:
        how = "built" if self.rebuilt else f"updated (+{self.added} -{self.removed})"
        return f"{self.structure} index of {self.count} vectors {how}"


def run_index(ws, config: IndexConfig = IndexConfig(), *, name: str = "default", rebuild: bool = False) -> IndexReport:
    """Build or update the index of the embeddings ``name``; returns what was done."""
    from reelmatch.embed.vectors import load_embeddings

    emb = load_embeddings(ws, name)
    if len(emb) == 0:
        from reelmatch.errors import NotFoundError

        raise NotFoundError("no vectors to index: nothing is embedded yet (see 'reelmatch status' for failures)")
    path = index_path(ws, name)
    meta = {
        "vectors_fingerprint": emb.vectors_fingerprint,
        "model_fingerprint": emb.model_fingerprint,
        "clip_fingerprint": emb.clip_fingerprint,
        "embeddings": name,
    }
    index = None
    if path.exists() and not rebuild:
        try:
            index = load_index(path)
        except Exception as e:
            log.warning("index: %s is unusable (%s): rebuilding", path.name, e)
        if index is not None:
            same = (
                index.config == config
                and index.meta.get("model_fingerprint") == emb.model_fingerprint
                and index.dim == emb.vectors.shape[1]
            )
            if not same:
                log.info("index: model or config changed: rebuilding")
                index = None
    if index is not None and index.meta.get("vectors_fingerprint") == meta["vectors_fingerprint"]:
        log.info("index: up to date (%d vectors)", len(index))
        return IndexReport(path, len(index), 0, 0, False, index.structure)

    if index is None:
        index = build_index(emb.vectors, emb.ids, config, **meta)
        added, removed, rebuilt = len(emb), 0, True
    else:
        wanted = set(emb.ids)
        gone = [i for i in index.ids if i not in wanted]
        removed = index.remove(gone)
        new_rows = []
        for r, i in enumerate(emb.ids):
            if i not in index or not np.array_equal(index.vector(i), emb.vectors[r]):
                new_rows.append(r)
        added = len(new_rows)
        if new_rows:
            index.add(emb.vectors[new_rows], [emb.ids[r] for r in new_rows])
        index.meta.update(meta)
        rebuilt = False
    save_index(index, path)
    report = IndexReport(path, len(index), added, removed, rebuilt, index.structure)
    log.info("index: %s", report.summary)
    return report
