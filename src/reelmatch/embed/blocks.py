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

In a workspace with a storage URL (``reelmatch init --storage``) the block files
are objects under ``<storage>/embeddings/<name>.blocks/`` (any fsspec URL), each
uploaded whole in one write by the worker; the index stays in the workspace.
A torn or lost object is caught by its CRC-32 like a damaged file.
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


def blocks_url(storage: str, embeddings_file: Path) -> str:
    """Where the block files of ``embeddings_file`` go in a workspace whose storage is the URL ``storage``."""
    return f"{storage.rstrip('/')}/embeddings/{blocks_dir(embeddings_file).name}"


def _block_bytes(emb: Embeddings) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, ids=np.array(emb.ids, dtype=np.str_) if emb.ids else np.zeros(0, dtype="<U1"),
             vectors=emb.vectors, visual=emb.visual, audio=emb.audio, has_audio=emb.has_audio,
             text=emb.text, has_text=emb.has_text, has_visual=emb.has_visual)
    return buf.getvalue()


#: per worker process: how many blocks it wrote (block names are unique per process and run)
_COUNTERS: dict = {}


def write_block(folder: str | Path, run: str, emb: Embeddings) -> BlockRef:
    """Worker side: write ``emb`` as a new block of run ``run`` in ``folder``, durably and atomically.

    ``folder`` may be an fsspec URL: the block is then uploaded whole as one object.
    """
    import socket

    from reelmatch.runtime import is_url

    key = (str(folder), run)
    _COUNTERS[key] = n = _COUNTERS.get(key, 0) + 1
    host = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:16] or "host"
    name = f"block-{run}-{host}-{os.getpid()}-{n:05d}.npz"
    data = _block_bytes(emb)
    if is_url(folder):
        from reelmatch.runtime import storage_fs

        fs, base = storage_fs(str(folder))
        fs.makedirs(base, exist_ok=True)
        fs.pipe_file(f"{base}/{name}", data)
        return BlockRef(tuple(emb.ids), name, len(emb), zlib.crc32(data))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
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


def read_block(path: Path | str, crc32: int | None = None) -> Embeddings:
    """The rows of a block file or object URL (``ValueError`` when its checksum is not ``crc32``)."""
    from reelmatch.runtime import is_url, storage_fs

    if is_url(path):
        fs, p = storage_fs(str(path))
        data = fs.cat_file(p)
    else:
        data = Path(path).read_bytes()
    name = str(path).rstrip("/").rsplit("/", 1)[-1]
    if crc32 is not None and zlib.crc32(data) != crc32:
        raise ValueError(f"vector block {name} is damaged (CRC-32 mismatch)")
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return Embeddings([str(i) for i in z["ids"].tolist()], z["vectors"], z["visual"], z["audio"],
                          np.asarray(z["has_audio"], bool), text=z["text"], has_text=np.asarray(z["has_text"], bool),
                          has_visual=np.asarray(z["has_visual"], bool))


class BlockIndex:
    """The committed vector blocks of one embeddings file (the driver's side).

    ``url``: the block files are objects there (the index stays in ``self.dir``).
    """

    def __init__(self, embeddings_file: Path, url: str | None = None):
        self.dir = blocks_dir(embeddings_file)
        self.path = self.dir / "index.sqlite"
        self.url = url.rstrip("/") if url else None
        self._conn = None

    @property
    def location(self) -> str:
        """Where workers write the block files: the folder, or the URL."""
        return self.url or str(self.dir)

    def _files(self) -> dict[str, int]:
        """Block and temp file name -> size, in the folder or under the URL."""
        if self.url is None:
            if not self.dir.exists():
                return {}
            return {p.name: p.stat().st_size
                    for p in list(self.dir.glob("block-*.npz")) + list(self.dir.glob(".block-*.tmp"))}
        from reelmatch.runtime import storage_fs

        fs, base = storage_fs(self.url)
        fs.invalidate_cache(base)
        try:
            entries = fs.ls(base, detail=True)
        except FileNotFoundError:
            return {}
        names = {e["name"].rstrip("/").rsplit("/", 1)[-1]: int(e.get("size") or 0) for e in entries
                 if e.get("type") == "file"}
        return {n: size for n, size in names.items() if n.startswith("block-") and n.endswith(".npz")}

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
        files = self._files()
        if not files:
            return out
        names = {n for n, _, _ in self.committed()}
        for name, size in files.items():
            if name not in names:
                out["bytes"] += size
                self._remove(name)
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
                part = read_block(f"{self.url}/{name}" if self.url else self.dir / name, crc)
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
        if self.url is not None:
            for name in self._files():
                self._remove(name)
        if self.dir.exists():
            shutil.rmtree(self.dir)

    def exists(self) -> bool:
        """True when there is a blocks folder (index or block files) to clear."""
        return self.dir.exists() or (self.url is not None and bool(self._files()))

    def _remove(self, name: str) -> None:
        if self.url is None:
            (self.dir / name).unlink()
        else:
            from reelmatch.runtime import storage_fs

            fs, base = storage_fs(self.url)
            fs.rm_file(f"{base}/{name}")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
