"""The clip store: sharded clip records with an index for random access.

Layout (one directory per clip config, so records of two configs never mix)::

    <ws>/clips/current.json                the config of the last extract run
    <ws>/clips/<fingerprint>/clips.json    sidecar: config, versions, counts
    <ws>/clips/<fingerprint>/index.sqlite  id -> shard and byte ranges of its members
    <ws>/clips/<fingerprint>/shards/clips-<run>-<n>.tar

Shards are plain tar files in the WebDataset layout: each record is a group of
members sharing a key, ``<key>.frames.npy``, ``<key>.mask.npy``,
``<key>.timestamps.npy``, ``<key>.spectrogram.npy`` and ``<key>.json`` (id, split,
has_audio, meta). Arrays are ``.npy`` (read with ``allow_pickle=False``): nothing
is ever unpickled. A shard streams sequentially with ``tar`` or ``webdataset``;
the index gives random access by id (class-balanced sampling needs it).

Writing is append-only: each run writes new shards, each record is flushed and
fsynced before its index row commits, and only then is the item marked done in
the catalogue, so a killed run loses nothing finished (a half-written record is
never indexed). Re-extracting an item appends a new record and repoints the
index; the old bytes stay until :meth:`ClipStore.compact`.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import sqlite3
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from reelmatch.config import atomic_write_json, read_sidecar, sidecar_path, write_sidecar
from reelmatch.dataset.clip import Clip, ClipConfig
from reelmatch.errors import InputError, NotFoundError, StaleArtifactError, WorkspaceError

log = logging.getLogger(__name__)

ARRAYS = ("frames", "mask", "timestamps", "spectrogram")
FORMAT_VERSION = 1
#: a shard is closed and a new one started past this many bytes
SHARD_MAX_BYTES = 512 * 1024 * 1024
_BLOCK = tarfile.BLOCKSIZE

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id        TEXT PRIMARY KEY,
    shard     TEXT NOT NULL,
    members   TEXT NOT NULL,
    split     TEXT NOT NULL,
    has_audio INTEGER NOT NULL,
    num_valid INTEGER NOT NULL,
    written   REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS records_split ON records (split);
"""


def clips_root(ws) -> Path:
    return ws.dir("clips")


_NO_DEFAULT = object()


def resolve_clip_config(ws, *, default=_NO_DEFAULT) -> ClipConfig:
    """The workspace's clip config: the one its last ``extract`` recorded in ``clips/current.json``.

    This is the only reader of ``current.json``: the CLI and the Workspace API
    resolve the config once and pass it to the stages. When nothing was extracted
    yet, ``default`` is returned if given, else ``NotFoundError``; a corrupt file is
    a ``WorkspaceError`` naming it (never silently the default).
    """
    p = clips_root(ws) / "current.json"
    if not p.exists():
        if default is not _NO_DEFAULT:
            return default
        raise NotFoundError(f"no clips in {ws.root}: run 'reelmatch extract' first")
    try:
        doc = json.loads(p.read_text())
        return ClipConfig.from_dict(doc["config"])
    except (OSError, ValueError, KeyError, TypeError, InputError) as e:
        reason = f"missing field {e}" if isinstance(e, KeyError) else " ".join(str(e).split())
        raise WorkspaceError(
            f"{p} is corrupt ({reason}): run 'reelmatch extract' with the clip options you want to rewrite it"
        ) from None


def current_config(ws) -> ClipConfig:
    """The clip config recorded by the last ``extract`` of ``ws`` (``NotFoundError`` if none).

    Same as :func:`resolve_clip_config` (kept for callers of the older name).
    """
    return resolve_clip_config(ws)


def set_current_config(ws, config: ClipConfig) -> None:
    atomic_write_json(
        clips_root(ws) / "current.json",
        {"fingerprint": config.fingerprint, "config": config, "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
    )


def record_key(item_id: str) -> str:
    """WebDataset key of an id: no dots or slashes (they delimit the member suffix)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", item_id) or "_"


def encode_npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def decode_npy(b: bytes) -> np.ndarray:
    return np.load(io.BytesIO(b), allow_pickle=False)


def clip_members(clip: Clip) -> dict[str, bytes]:
    """The members of one record, suffix -> bytes (WebDataset layout)."""
    doc = {"id": clip.id, "split": clip.split, "has_audio": bool(clip.has_audio), "meta": clip.meta,
           "format_version": FORMAT_VERSION}
    out = {f"{name}.npy": encode_npy(getattr(clip, name)) for name in ARRAYS}
    out["json"] = json.dumps(doc, sort_keys=True, default=_json_default).encode()
    return out


def clip_from_members(members: dict[str, bytes]) -> Clip:
    doc = json.loads(members["json"])
    arrays = {name: decode_npy(members[f"{name}.npy"]) for name in ARRAYS}
    return Clip(id=doc["id"], has_audio=bool(doc["has_audio"]), meta=doc.get("meta") or {},
                split=doc.get("split", "train"), **arrays)


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


class ClipStore:
    """Clip records of one clip config in a workspace.

    ``ClipStore(ws)`` opens the records of the workspace's current clip config
    (the last extract's); ``ClipStore(ws, config)`` those of ``config`` (empty if
    none were made). ``ids(split)``, ``get(id)`` (random access), ``iter(split)``
    (sequential, shard order), ``id in store``, ``len(store)``.
    """

    def __init__(self, ws, config: ClipConfig | None = None):
        self.ws = ws
        self.config = config if config is not None else resolve_clip_config(ws)
        self.fingerprint = self.config.fingerprint
        self.root = clips_root(ws) / self.fingerprint
        self.shard_dir = self.root / "shards"
        self.index_path = self.root / "index.sqlite"
        self._conn = None
        self._schema_ok = False
        self._pid = None
        self._files: dict[str, object] = {}
        side = read_sidecar(self.root / "clips")
        if side is not None and side.get("fingerprint") != self.fingerprint:
            raise StaleArtifactError(
                f"{self.root} holds clips of config {side.get('fingerprint')}, expected {self.fingerprint}"
            )

    def __repr__(self) -> str:
        return f"ClipStore({str(self.root)!r}, {len(self)} clips)"

    def __getstate__(self) -> dict:
        # picklable for spawned data-loading workers: no connection, no file handles
        state = dict(self.__dict__)
        state.update(ws=None, _conn=None, _schema_ok=False, _pid=None, _files={})
        return state

    # ------------------------------------------------------------ internals
    def _db(self, create: bool = False):
        if self._pid != os.getpid():  # forked (e.g. a DataLoader worker): never share handles
            self._conn, self._files, self._pid = None, {}, os.getpid()
        if self._conn is None:
            if not self.index_path.exists() and not create:
                return None
            self.root.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.index_path, timeout=60, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=60000")
            self._conn, self._schema_ok = conn, False
        if create and not self._schema_ok:  # readers never write (a read-only workspace works)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            for stmt in filter(str.strip, _SCHEMA.split(";")):
                self._conn.execute(stmt)
            self._schema_ok = True
        return self._conn

    def _read_member(self, shard: str, offset: int, size: int) -> bytes:
        f = self._files.get(shard)
        if f is None:
            f = open(self.shard_dir / shard, "rb")  # noqa: SIM115 - cached handle, closed in close()
            self._files[shard] = f
        f.seek(offset)
        data = f.read(size)
        if len(data) != size:
            raise StaleArtifactError(f"shard {shard} is truncated at byte {offset} (re-run 'reelmatch extract')")
        return data

    def _load(self, row) -> Clip:
        item_id, shard, members = row
        spans = json.loads(members)
        return clip_from_members({suffix: self._read_member(shard, off, n) for suffix, (off, n) in spans.items()})

    # ------------------------------------------------------------- reading
    def ids(self, split: str | None = None) -> list[str]:
        """Ids with a record, sorted (only ``split`` when given)."""
        db = self._db()
        if db is None:
            return []
        if split is None:
            rows = db.execute("SELECT id FROM records ORDER BY id")
        else:
            rows = db.execute("SELECT id FROM records WHERE split=? ORDER BY id", (split,))
        return [r[0] for r in rows]

    def splits(self) -> dict[str, str]:
        """id -> split of every record."""
        db = self._db()
        return {} if db is None else dict(db.execute("SELECT id, split FROM records"))

    def get(self, item_id: str) -> Clip:
        """The clip of ``item_id`` (``NotFoundError`` if it has none)."""
        db = self._db()
        row = None if db is None else db.execute(
            "SELECT id, shard, members FROM records WHERE id=?", (item_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no clip for item {item_id!r} (config {self.fingerprint}): run 'reelmatch extract'")
        return self._load(row)

    def iter(self, split: str | None = None) -> Iterator[Clip]:
        """Every clip (of ``split``), in shard order: sequential reads."""
        db = self._db()
        if db is None:
            return
        sql = "SELECT id, shard, members FROM records"
        args: tuple = ()
        if split is not None:
            sql += " WHERE split=?"
            args = (split,)
        rows = db.execute(sql, args).fetchall()
        rows.sort(key=lambda r: (r[1], min(o for o, _ in json.loads(r[2]).values())))
        for row in rows:
            yield self._load(row)

    def __iter__(self) -> Iterator[Clip]:
        return self.iter()

    def __contains__(self, item_id: object) -> bool:
        db = self._db()
        return db is not None and db.execute("SELECT 1 FROM records WHERE id=?", (item_id,)).fetchone() is not None

    def __len__(self) -> int:
        db = self._db()
        return 0 if db is None else db.execute("SELECT count(*) FROM records").fetchone()[0]

    def shards(self) -> list[Path]:
        """Shard files holding indexed records (for WebDataset-style streaming)."""
        db = self._db()
        if db is None:
            return []
        return [self.shard_dir / r[0] for r in db.execute("SELECT DISTINCT shard FROM records ORDER BY shard")]

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files = {}
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------- writing
    def writer(self, *, shard_max_bytes: int = SHARD_MAX_BYTES) -> "ShardWriter":
        """A writer appending records to new shards of this store (use as a context manager)."""
        return ShardWriter(self, shard_max_bytes=shard_max_bytes)

    def discard(self, item_id: str) -> bool:
        """Forget the record of ``item_id`` (bytes stay until :meth:`compact`). True if it had one."""
        db = self._db()
        if db is None:
            return False
        return db.execute("DELETE FROM records WHERE id=?", (item_id,)).rowcount > 0

    def compact(self) -> int:
        """Delete shard files no record points to; returns how many were removed."""
        live = {p.name for p in self.shards()}
        removed = 0
        for p in self.shard_dir.glob("*.tar"):
            if p.name not in live and not p.name.startswith("."):
                p.unlink()
                removed += 1
        return removed

    def write_sidecar(self, **extra) -> dict:
        return write_sidecar(self.root / "clips", self.config, clips=len(self), shards=len(self.shards()),
                             layout="webdataset-tar+sqlite-index", format_version=FORMAT_VERSION, **extra)


class ShardWriter:
    """Appends records to fresh shard files; each ``add`` is durable when it returns."""

    def __init__(self, store: ClipStore, *, shard_max_bytes: int = SHARD_MAX_BYTES):
        self.store = store
        self.shard_max_bytes = shard_max_bytes
        self.run = time.strftime("%Y%m%d%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:6]
        self._n = 0
        self._f = None
        self._name = None
        self.written = 0
        store.shard_dir.mkdir(parents=True, exist_ok=True)
        store._db(create=True)
        if not sidecar_path(store.root / "clips").exists():
            store.write_sidecar()

    def _open(self) -> None:
        self._n += 1
        self._name = f"clips-{self.run}-{self._n:05d}.tar"
        self._f = open(self.store.shard_dir / self._name, "ab")  # noqa: SIM115 - closed in close()

    def _finish_shard(self) -> None:
        if self._f is not None:
            self._f.write(b"\0" * (2 * _BLOCK))  # end-of-archive marker
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
            self._f = None

    def add(self, clip: Clip) -> None:
        """Append ``clip`` and point the index at it (replacing an older record of its id)."""
        if self._f is None or self._f.tell() > self.shard_max_bytes:
            self._finish_shard()
            self._open()
        key = record_key(clip.id)
        spans = {}
        f = self._f
        pos = f.tell()
        buf = bytearray()
        now = time.time()
        for suffix, data in clip_members(clip).items():
            info = tarfile.TarInfo(f"{key}.{suffix}")
            info.size = len(data)
            info.mtime = int(now)
            info.mode = 0o644
            header = info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")
            offset = pos + len(buf) + len(header)
            buf += header
            buf += data
            buf += b"\0" * ((-len(data)) % _BLOCK)
            spans[suffix] = [offset, len(data)]
        f.write(buf)
        f.flush()
        os.fsync(f.fileno())
        db = self.store._db(create=True)
        db.execute(
            "INSERT INTO records (id, shard, members, split, has_audio, num_valid, written) VALUES (?,?,?,?,?,?,?)"
            " ON CONFLICT (id) DO UPDATE SET shard=excluded.shard, members=excluded.members, split=excluded.split,"
            " has_audio=excluded.has_audio, num_valid=excluded.num_valid, written=excluded.written",
            (clip.id, self._name, json.dumps(spans), clip.split, int(bool(clip.has_audio)), clip.num_valid, now),
        )
        self.written += 1

    def close(self) -> None:
        self._finish_shard()
        self.store.write_sidecar()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
