"""The precomputed neighbour table: each indexed item's top-K neighbours.

``reelmatch index`` writes ``<ws>/index/<name>.neighbours.npz`` next to the
index: ``ids`` [N] str (the live ids of the index, in label order),
``neighbours`` int32 [N, K] (rows of ``ids``, best first; -1 where the item has
fewer than K others), ``scores`` float32 [N, K] (inner products; -inf where
none) and a JSON ``meta`` (``k``, the ``vectors_fingerprint`` of the index it was
computed from). The file is written uncompressed, so :func:`load_neighbours`
memory-maps its arrays: several server processes share one copy in the page cache.

Each row is what the index itself answers for that item (the same
:meth:`Index.search` call, one item at a time, self dropped), so ``similar``
read from the table and ``similar`` searched in the index agree (tested).
Refreshed incrementally: after an add/remove only the rows that can have
changed are searched again (new and replaced items, rows that listed a removed
or replaced item, rows whose K-th score a new vector beats).
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reelmatch.config import atomic_write_bytes
from reelmatch.errors import InputError, NotFoundError
from reelmatch.npzmap import load_npz

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
#: default K (neighbours kept per item)
DEFAULT_K = 50
#: queries per index.search call while computing rows: below FAISS's BLAS threshold
#: (20), so a row is computed by the same kernel as a one-item query
_CHUNK = 16
#: slack when deciding whether a new vector may enter a row (float32 rounding)
_MARGIN = 1e-5


def neighbours_path(index_file: str | Path) -> Path:
    """``<index>.neighbours.npz`` beside the index file."""
    p = Path(index_file)
    return p.with_name(p.name[: -len(".npz")] + ".neighbours.npz" if p.name.endswith(".npz") else p.name + ".neighbours.npz")


@dataclass
class NeighbourTable:
    """Top-``k`` neighbours of every indexed item (arrays may be memory-mapped, read-only)."""

    ids: np.ndarray  # str [N]
    neighbours: np.ndarray  # int32 [N, k]
    scores: np.ndarray  # float32 [N, k]
    meta: dict

    def __post_init__(self):
        n = len(self.ids)
        if self.neighbours.shape != self.scores.shape or self.neighbours.ndim != 2 or self.neighbours.shape[0] != n:
            raise InputError(f"neighbour table: neighbours {self.neighbours.shape} and scores {self.scores.shape} for {n} ids")
        # plain views of the (memory-mapped) arrays: indexing a np.memmap costs a subclass per slice
        self.neighbours, self.scores = np.asarray(self.neighbours), np.asarray(self.scores)
        self._ids_list = [str(i) for i in self.ids.tolist()]
        self._row = {i: r for r, i in enumerate(self._ids_list)}
        self._len = (self.neighbours >= 0).sum(axis=1).tolist() if n else []

    @property
    def k(self) -> int:
        return int(self.neighbours.shape[1])

    @property
    def vectors_fingerprint(self) -> str | None:
        return self.meta.get("vectors_fingerprint")

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, item_id) -> bool:
        return item_id in self._row

    def row(self, item_id: str, start: int = 0, stop: int | None = None) -> tuple[list[str], list[float]]:
        """``(ids, scores)`` of ``item_id``'s neighbours ``start:stop``, best first (at most ``k``);
        ``KeyError`` if absent. A caller wanting the first few asks for those alone: the cost is per entry."""
        r = self._row[item_id]
        n = self._len[r] if stop is None else min(stop, self._len[r])
        ids = self._ids_list
        return [ids[j] for j in self.neighbours[r, start:n].tolist()], self.scores[r, start:n].tolist()

    def full(self, item_id: str) -> bool:
        """True when the row holds ``k`` neighbours (so items beyond them may exist)."""
        return bool(self.neighbours[self._row[item_id], -1] >= 0) if self.k else True


# ---------------------------------------------------------------- computing
def compute_rows(index, ids: list[str], k: int) -> tuple[list[list[str]], np.ndarray]:
    """Neighbours of ``ids`` (items of ``index``): ``(neighbour ids per row, scores float32 [n, k])``.

    Each row is ``index.search(vector, k + 1)`` with the item itself dropped:
    exactly what a one-item query answers.
    """
    out_ids: list[list[str]] = []
    out_scores = np.full((len(ids), k), -np.inf, dtype=np.float32)
    if not ids or k == 0:
        return [[] for _ in ids], out_scores
    labels = np.array([index._pos[i] for i in ids], dtype=np.int64)
    for s in range(0, len(ids), _CHUNK):
        q = index._reconstruct(labels[s : s + _CHUNK])
        found, scores = index.search(q, k + 1)
        for j, (row_ids, row_scores) in enumerate(zip(found, scores)):
            me = ids[s + j]
            keep = [(i, sc) for i, sc in zip(row_ids, row_scores) if i is not None and i != me][:k]
            out_ids.append([i for i, _ in keep])
            out_scores[s + j, : len(keep)] = [sc for _, sc in keep]
    return out_ids, out_scores


def build_table(index, k: int = DEFAULT_K) -> NeighbourTable:
    """The full table of ``index`` (every live item searched)."""
    ids = index.ids
    rows, scores = compute_rows(index, ids, k)
    return _assemble(ids, {i: (r, s) for i, r, s in zip(ids, rows, scores)}, k, index)


def _assemble(ids: list[str], rows: dict, k: int, index) -> NeighbourTable:
    pos = {i: r for r, i in enumerate(ids)}
    nb = np.full((len(ids), k), -1, dtype=np.int32)
    sc = np.full((len(ids), k), -np.inf, dtype=np.float32)
    for r, i in enumerate(ids):
        row_ids, row_scores = rows[i]
        n = len(row_ids)
        nb[r, :n] = [pos[j] for j in row_ids]
        sc[r, :n] = row_scores[:n]
    meta = {"format": FORMAT_VERSION, "k": k, "count": len(ids),
            "vectors_fingerprint": index.meta.get("vectors_fingerprint"), "structure": index.structure}
    return NeighbourTable(np.array(ids, dtype=np.str_) if ids else np.zeros(0, dtype="<U1"), nb, sc, meta)


def refresh_table(old: NeighbourTable, index, k: int, *, changed: set[str], removed: set[str]) -> tuple[NeighbourTable, int]:
    """``old`` brought up to date with ``index`` after ``changed`` ids were added or
    replaced and ``removed`` ids dropped; returns ``(table, rows searched again)``.

    A row is searched again when it is new or replaced, when it listed a removed
    or replaced item, or when a new vector scores at least its K-th neighbour
    (or the row was not full). Other rows cannot have changed.
    """
    if old.k != k:
        raise ValueError("refresh_table needs the same k")
    ids = index.ids
    gone = removed | changed
    redo = {i for i in ids if i not in old or i in changed}
    kept = [i for i in ids if i not in redo]
    if kept:
        kept_rows = np.array([old._row[i] for i in kept], dtype=np.int64)
        if gone:
            gone_rows = np.array(sorted(old._row[i] for i in gone if i in old), dtype=np.int64)
            if len(gone_rows):
                hit = np.isin(old.neighbours[kept_rows], gone_rows).any(axis=1)
                redo.update(kept[j] for j in np.flatnonzero(hit))
        new = [i for i in ids if i in changed or i not in old]
        if new:
            labels = np.array([index._pos[i] for i in kept], dtype=np.int64)
            v_old = index._reconstruct(labels)
            v_new = index._reconstruct(np.array([index._pos[i] for i in new], dtype=np.int64))
            best = np.full(len(kept), -np.inf, dtype=np.float32)
            for s in range(0, len(new), 1024):
                best = np.maximum(best, (v_old @ v_new[s : s + 1024].T).max(axis=1))
            kth = old.scores[kept_rows, -1] if k else np.full(len(kept), np.inf, dtype=np.float32)
            enter = best >= kth - _MARGIN  # -inf K-th (a row that was not full) always enters
            redo.update(kept[j] for j in np.flatnonzero(enter))
    redo_list = [i for i in ids if i in redo]
    new_rows, new_scores = compute_rows(index, redo_list, k)
    rows = {i: (r, s) for i, r, s in zip(redo_list, new_rows, new_scores)}
    old_ids = old._ids_list
    for i in ids:
        if i not in rows:
            r = old._row[i]
            nb = old.neighbours[r]
            n = int(np.count_nonzero(nb >= 0))
            rows[i] = ([old_ids[j] for j in nb[:n].tolist()], old.scores[r, :n])
    return _assemble(ids, rows, k, index), len(redo_list)


# ----------------------------------------------------------------------- io
def save_table(table: NeighbourTable, path: str | Path) -> None:
    """Write ``table`` atomically (uncompressed npz, so it can be memory-mapped)."""
    buf = io.BytesIO()
    np.savez(buf, ids=table.ids, neighbours=np.ascontiguousarray(table.neighbours, dtype=np.int32),
             scores=np.ascontiguousarray(table.scores, dtype=np.float32), meta=np.array(json.dumps(table.meta)))
    atomic_write_bytes(Path(path), buf.getvalue())


def load_table(path: str | Path, *, vectors_fingerprint: str | None = None, mmap: bool = True) -> NeighbourTable:
    """The table at ``path``, its arrays memory-mapped (read-only) when ``mmap``.

    ``NotFoundError`` when absent; ``StaleArtifactError`` when it was computed
    from other vectors than ``vectors_fingerprint`` (the index it must match).
    """
    from reelmatch.errors import StaleArtifactError

    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"no neighbour table at {path}: run 'reelmatch index'")
    try:
        arrays = load_npz(path, mmap=mmap)
        meta = json.loads(str(arrays["meta"]))
        table = NeighbourTable(arrays["ids"], arrays["neighbours"], arrays["scores"], meta)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise InputError(f"{path} is not a reelmatch neighbour table ({e})") from e
    if meta.get("format") != FORMAT_VERSION:
        raise StaleArtifactError(f"{path} has table format {meta.get('format')}, this reelmatch reads {FORMAT_VERSION}")
    if vectors_fingerprint is not None and table.vectors_fingerprint != vectors_fingerprint:
        raise StaleArtifactError(f"neighbour table {path.name} was computed from other vectors: run 'reelmatch index'")
    return table


def table_k(path: str | Path) -> int | None:
    """K of the table at ``path``, None when there is no readable table."""
    from reelmatch.errors import ReelmatchError

    try:
        return load_table(path).k
    except ReelmatchError:
        return None
