"""The index stage: keep ``<ws>/index/<name>.npz`` in step with the embeddings.

Incremental by default: when the existing index was made from the same model
and with the same config, ids that left the embeddings are removed, new ones
added and changed vectors replaced, without rebuilding (FAISS). Another model,
another config, or ``rebuild=True`` builds from scratch. Beside the index it
keeps the precomputed neighbour table (:mod:`reelmatch.index.neighbours`),
refreshed incrementally with it, and the frame table of explanations
(:mod:`reelmatch.query.explain`: projected per-frame features and timestamps),
rewritten when the vectors or the feature cache change.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reelmatch.index.config import IndexConfig
from reelmatch.index.io import build_index, load_index, save_index
from reelmatch.index.neighbours import DEFAULT_K

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
    table_rows: int = 0  # neighbour-table rows searched (again)

    @property
    def summary(self) -> str:
        how = "built" if self.rebuilt else f"updated (+{self.added} -{self.removed})"
        return f"{self.structure} index of {self.count} vectors {how}"


def run_index(ws, config: IndexConfig = IndexConfig(), *, name: str = "default", rebuild: bool = False,
              neighbours: int | None = None) -> IndexReport:
    """Build or update the index of the embeddings ``name`` and its neighbour table
    (``neighbours`` = K per item; 0 = no table; None = the existing table's K, else
    ``DEFAULT_K``); returns what was done.

    K is not part of the index config (the index file does not depend on it):
    another K recomputes the table only."""
    if neighbours is not None and (isinstance(neighbours, bool) or not isinstance(neighbours, int) or neighbours < 0):
        from reelmatch.errors import InputError

        raise InputError(f"neighbours must be an integer >= 0 (0 = no table), got {neighbours!r}")
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
    previous = index.meta.get("vectors_fingerprint") if index is not None else None
    if index is not None and previous == meta["vectors_fingerprint"]:
        log.info("index: up to date (%d vectors)", len(index))
        rows = _update_table(index, neighbours, previous, changed=set(), removed=set(), path=path)
        _update_frames(ws, emb, path)
        return IndexReport(path, len(index), 0, 0, False, index.structure, rows)

    if index is None:
        index = build_index(emb.vectors, emb.ids, config, **meta)
        added, removed, rebuilt = len(emb), 0, True
        changed, gone = set(emb.ids), []
    else:
        wanted = set(emb.ids)
        gone = [i for i in index.ids if i not in wanted]
        removed = index.remove(gone)
        new_rows = []
        for r, i in enumerate(emb.ids):
            if i not in index or not np.array_equal(index.vector(i), emb.vectors[r]):
                new_rows.append(r)
        added = len(new_rows)
        changed = {emb.ids[r] for r in new_rows}
        if new_rows:
            index.add(emb.vectors[new_rows], [emb.ids[r] for r in new_rows])
        index.meta.update(meta)
        rebuilt = False
    save_index(index, path)
    rows = _update_table(index, neighbours, None if rebuilt else previous, changed=changed,
                         removed=set(gone), path=path)
    _update_frames(ws, emb, path)
    report = IndexReport(path, len(index), added, removed, rebuilt, index.structure, rows)
    log.info("index: %s", report.summary)
    return report


def _update_frames(ws, emb, path: Path) -> None:
    """The frame table of explanations beside the index (best effort: explanations then lack frame pairs)."""
    from reelmatch.query.explain import update_frame_table

    try:
        update_frame_table(ws, emb, path)
    except Exception as e:  # noqa: BLE001 - an unreadable feature record must not fail the index
        log.warning("index: no frame table for explanations (%s)", e)


def _update_table(index, k: int | None, previous: str | None, *, changed: set, removed: set, path: Path) -> int:
    """Write the neighbour table of ``index`` (K = ``k``; 0 removes it): refreshed from the
    table of the ``previous`` vectors when there is one, else computed in full.
    Written after the index, so a reader pairing them by fingerprint never mixes two."""
    from reelmatch.errors import ReelmatchError
    from reelmatch.index.neighbours import build_table, load_table, neighbours_path, refresh_table, save_table

    tpath = neighbours_path(path)
    if k is None:
        from reelmatch.index.neighbours import table_k

        k = table_k(tpath) or DEFAULT_K
    if k == 0:
        tpath.unlink(missing_ok=True)
        return 0
    old = None
    if tpath.exists():
        try:
            old = load_table(tpath, mmap=False)
        except ReelmatchError as e:
            log.warning("index: neighbour table %s is unusable (%s): recomputing", tpath.name, e)
    fp = index.meta.get("vectors_fingerprint")
    if old is not None and old.k == k and old.vectors_fingerprint == fp and len(old) == len(index):
        return 0  # up to date
    if old is not None and old.k == k and previous is not None and old.vectors_fingerprint == previous:
        table, rows = refresh_table(old, index, k, changed=changed, removed=removed)
    else:
        table, rows = build_table(index, k), len(index)
    save_table(table, tpath)
    log.info("index: neighbour table of %d items (K=%d), %d rows searched", len(table), k, rows)
    return rows
