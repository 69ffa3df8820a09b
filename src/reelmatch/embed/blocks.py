"""Vector blocks: embed workers write their vectors themselves, the driver commits small refs.

Layout, next to the embeddings file ``<ws>/embeddings/<name>.npz``::

    <ws>/embeddings/<name>.blocks/block-<run>-<host>-<pid>-<n>.npz   one per embedded batch
    <ws>/embeddings/<name>.blocks/index.sqlite                       committed blocks, in commit order

A block holds the arrays of an embeddings file (``ids``, ``vectors``, ``visual``,
``audio``, ``has_audio``, ``text``, ``has_text``, ``has_visual``; no pickle) for the
rows of one batch. A worker writes it atomically (temp file, fsync, rename, fsync
of the folder) and returns a :class:`BlockRef` (ids, block name, rows, CRC-32 of the
file); the driver commits refs in one transaction per batch (:meth:`BlockIndex.commit`),
before the catalogue marks the items done, and folds the committed blocks into the
embeddings file once, at the end of the stage (:meth:`BlockIndex.load`), so readers
(index, query, serve) read the embeddings file as before. A block written but never
committed (a killed worker or driver) is never read and :meth:`BlockIndex.recover`
deletes it; committed blocks of a killed run are folded in by the next run.
"""

from __future__ import annotations

import io
import logging
import os
import re
import sqlite3
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reelmatch.embed.vectors import Embeddings

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    fingerprint TEXT NOT NULL,
    rows        INTEGER NOT NULL,
    crc32       INTEGER NOT NULL,
    written     REAL NOT NULL
)
"""


@dataclass(frozen=True)
class BlockRef:
    """Where a worker put the vectors of a batch: ``ids`` [rows], the block's file name, its CRC-32."""

    ids: tuple
    name: str
    rows: int
    crc32: int


def blocks_dir(embeddings_file: Path) -> Path:
    p = Path(embeddings_file)
    return p.with_name(p.stem + ".blocks")


def _block_bytes(emb: Embeddings) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, ids=np.array(emb.ids, dtype=np.str_) if emb.ids else np.zeros(0, dtype="<U1"),
             vectors=emb.vectors, visual=emb.visual, audio=emb.audio, has_audio=emb.has_audio,
             text=emb.text, has_text=emb.has_text, has_visual=emb.has_visual)
    return buf.getvalue()


#: per worker process: how many blocks it wrote (block names are unique per process and run)
_COUNTERS: dict = {}


def write_block(folder: str | Path, run: str, emb: Embeddings) -> BlockRef:
    """Worker side: write ``emb`` as a new block of run ``run`` in ``folder``, durably and atomically."""
    import socket

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key = (str(folder), run)
    _COUNTERS[key] = n = _COUNTERS.get(key, 0) + 1
    host = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:16] or "host"
    name = f"block-{run}-{host}-{os.getpid()}-{n:05d}.npz"
    data = _block_bytes(emb)
    tmp = folder / f".{name}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / name)
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return BlockRef(tuple(emb.ids), name, len(emb), zlib.crc32(data))


def read_block(path: Path, crc32: int | None = None) -> Embeddings:
    """The rows of a block file (``ValueError`` when its checksum is not ``crc32``)."""
    data = Path(path).read_bytes()
    if crc32 is not None and zlib.crc32(data) != crc32:
        raise ValueError(f"vector block {Path(path).name} is damaged (CRC-32 mismatch)")
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return Embeddings([str(i) for i in z["ids"].tolist()], z["vectors"], z["visual"], z["audio"],
                          np.asarray(z["has_audio"], bool), text=z["text"], has_text=np.asarray(z["has_text"], bool),
                          has_visual=np.asarray(z["has_visual"], bool))


class BlockIndex:
    """The committed vector blocks of one embeddings file (the driver's side)."""

    def __init__(self, embeddings_file: Path):
        self.dir = blocks_dir(embeddings_file)
        self.path = self.dir / "index.sqlite"
        self._conn = None

    def _db(self, create: bool = False):
        if self._conn is None:
            if not self.path.exists() and not create:
                return None
            self.dir.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(_SCHEMA)
        return self._conn

    def commit(self, refs, fingerprint: str) -> int:
        """Record written blocks as committed, in one transaction (call before marking their items done)."""
        refs = list(refs)
        if not refs:
            return 0
        db = self._db(create=True)
        now = time.time()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT OR REPLACE INTO blocks (name, fingerprint, rows, crc32, written) VALUES (?,?,?,?,?)",
                           [(r.name, fingerprint, int(r.rows), int(r.crc32), now) for r in refs])
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return len(refs)

    def committed(self) -> list[tuple[str, str, int]]:
        """``(name, fingerprint, crc32)`` of the committed blocks, in commit order."""
        db = self._db()
        if db is None:
            return []
        return [tuple(r) for r in db.execute("SELECT name, fingerprint, crc32 FROM blocks ORDER BY seq")]

    def recover(self) -> dict:
        """Delete what was written but never committed (block files and temp files no row names)."""
        out = {"removed": 0, "bytes": 0}
        if not self.dir.exists():
            return out
        names = {n for n, _, _ in self.committed()}
        for p in list(self.dir.glob("block-*.npz")) + list(self.dir.glob(".block-*.tmp")):
            if p.name not in names:
                out["bytes"] += p.stat().st_size
                p.unlink()
                out["removed"] += 1
        if out["removed"]:
            log.info("embed: removed %d uncommitted vector block(s) (%d bytes)", out["removed"], out["bytes"])
        return out

    def load(self, fingerprint: str) -> tuple[Embeddings | None, dict[str, str]]:
        """The rows of the committed blocks of ``fingerprint`` in commit order (later rows win);
        also ``{id: reason}`` for the rows of blocks that cannot be read."""
        out, bad = None, {}
        for name, fp, crc in self.committed():
            if fp != fingerprint:
                continue
            try:
                part = read_block(self.dir / name, crc)
            except (OSError, ValueError, KeyError) as e:
                log.warning("embed: %s", e)
                bad[name] = " ".join(str(e).split())
                continue
            out = part if out is None else out.concat(part)
        return out, bad

    def clear(self) -> None:
        """Forget every block (after they were folded into the embeddings file): the folder goes."""
        import shutil

        self.close()
        if self.dir.exists():
            shutil.rmtree(self.dir)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
