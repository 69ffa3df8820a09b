"""The clip store: sharded clip records with an index for random access.

Layout (one directory per clip config, so records of two configs never mix)::

    <ws>/clips/current.json                the config of the last extract run
    <ws>/clips/<fingerprint>/clips.json    sidecar: config, versions, counts
    <ws>/clips/<fingerprint>/index.sqlite  id -> shard and byte ranges of its members
    <ws>/clips/<fingerprint>/shards/clips-<run>-<n>.tar

Shards are plain tar files in the WebDataset layout: each record is a group of
members sharing a key: ``<key>.mask.npy``, ``<key>.timestamps.npy``, the
spectrogram (``.spectrogram.npy``; with a lossy frame codec ``.spectrogram.png``,
8-bit grayscale over the range in the json, or ``.spectrogram.npy.gz`` float16), the frames (``<key>.frames.npy`` raw, or one
``<key>.fNN.jpg``/``.webp`` per real frame) and ``<key>.json`` (id, split,
has_audio, meta, ``format_version``, ``frame_codec``). Format 1 records (raw
only, no codec field) and format 2 ones (no PNG spectrogram) still read. Arrays are ``.npy`` (read with
``allow_pickle=False``): nothing is ever unpickled. A shard streams
sequentially with ``tar`` or ``webdataset``; the index gives random access by id
(class-balanced sampling needs it).

Writing is append-only: each run writes new shards (the driver's, or one per
worker process with :func:`worker_append`); records are fsynced before their
index rows commit (:meth:`ClipStore.commit`, one transaction per batch), and only
then are the items marked done in the catalogue, so a killed run loses nothing
committed; a record written but never committed is never indexed and
:meth:`ClipStore.recover` removes it. Re-extracting an item appends a new record
and repoints the index; the old bytes stay until :meth:`ClipStore.compact`.

**Shards on object storage.** A workspace made with a storage URL
(``Workspace.init(path, storage="s3://bucket/ws")``, ``reelmatch init --storage``)
puts the shards of each new store under ``<storage>/clips/<fingerprint>/shards/``
(any fsspec URL: ``s3://``, ``gs://``, ``file://``...); the index, the sidecar
(which records the store's ``shard_url``) and the catalogue stay in the local
workspace. Objects cannot be appended to, so a writer keeps the shard it is
filling in a local temporary file and :meth:`ShardWriter.sync` uploads it whole
as one object, then starts the next one: the driver's batch is one object, a
worker's record (synced alone) is one object. The index row is still the commit:
an object is uploaded before any ref to it is returned, an object no record
points to is never read and :meth:`ClipStore.recover` deletes it (objects are
never trimmed: unreferenced bytes in a referenced object are only never read).
Readers fetch one record with one byte-range read (``fs.cat_file``).
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import sqlite3
import sys
import tarfile
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reelmatch.config import atomic_write_json, read_sidecar, sidecar_path, write_sidecar
from reelmatch.dataset.clip import Clip, ClipConfig
from reelmatch.errors import InputError, NotFoundError, StaleArtifactError, WorkspaceError

if TYPE_CHECKING:  # numpy is imported where records are encoded or decoded (workers, readers): a
    import numpy as np  # process that only indexes and commits records (the extract driver) starts without it

log = logging.getLogger(__name__)

ARRAYS = ("frames", "mask", "timestamps", "spectrogram")
#: 1: raw arrays only; 2: ``frame_codec`` in the record's json, frames raw or one picture per real frame;
#: 3: with a lossy frame codec the log-mel may be a PNG (``spectrogram_codec``/``spectrogram_range`` in the json)
FORMAT_VERSION = 3
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
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def decode_npy(b: bytes) -> np.ndarray:
    import numpy as np

    return np.load(io.BytesIO(b), allow_pickle=False)


def clip_members(clip: Clip, config: ClipConfig | None = None) -> dict[str, bytes]:
    """The members of one record, suffix -> bytes (WebDataset layout), in format :data:`FORMAT_VERSION`.

    ``config.frame_codec`` (default: raw) says how frames are kept: ``frames.npy``
    (raw uint8), or one ``fNN.jpg``/``fNN.webp`` picture per real frame; with a
    lossy codec a float32 [H,W] spectrogram (the log-mel) is kept as ``config.spectrogram_codec``
    says: an 8-bit PNG over its range (``spectrogram.png``) or float16, gzipped (``spectrogram.npy.gz``).
    """
    import numpy as np

    codec = "raw" if config is None else config.frame_codec
    doc = {"id": clip.id, "split": clip.split, "has_audio": bool(clip.has_audio), "meta": clip.meta,
           "format_version": FORMAT_VERSION, "frame_codec": codec, "frame_shape": list(clip.frames.shape)}
    spec = clip.spectrogram
    if codec == "raw":
        out = {f"{name}.npy": encode_npy(getattr(clip, name)) for name in ARRAYS}
    else:
        from reelmatch.dataset.codec import encode_frames

        doc["frame_quality"] = config.quality
        out = {"mask.npy": encode_npy(clip.mask), "timestamps.npy": encode_npy(clip.timestamps)}
        # a non-finite spectrogram keeps its NaN/inf (float16) so that embed fails the item, naming it
        if (spec.dtype == np.float32 and spec.ndim == 2 and config.spectrogram_codec == "png"
                and np.isfinite(spec).all()):
            from reelmatch.dataset.codec import encode_spectrogram_png

            out["spectrogram.png"], doc["spectrogram_range"] = encode_spectrogram_png(spec)
            doc.update(spectrogram_codec="png", spectrogram_shape=list(spec.shape), spectrogram_dtype="float32")
        elif spec.dtype in (np.float32, np.float16):  # smooth: ~30% smaller gzipped (WebDataset decodes .gz)
            import gzip

            if spec.dtype == np.float32:
                doc["spectrogram_dtype"] = "float32"
            out["spectrogram.npy.gz"] = gzip.compress(encode_npy(spec.astype(np.float16)), compresslevel=6, mtime=0)
        else:
            out["spectrogram.npy"] = encode_npy(spec)
        out.update(encode_frames(clip.frames, clip.mask, codec, config.quality))
    out["json"] = json.dumps(doc, sort_keys=True, default=_json_default).encode()
    return out


def clip_from_members(members: dict[str, bytes], where: str = "record") -> Clip:
    """The clip of a record's members (any format version: 1 raw, 2 raw or compressed frames, 3 PNG log-mel)."""
    doc = json.loads(members["json"])
    version = doc.get("format_version", 1)
    if version > FORMAT_VERSION:
        raise StaleArtifactError(f"{where} has clip format {version}, this reelmatch reads up to {FORMAT_VERSION}")
    codec = doc.get("frame_codec", "raw")
    if codec == "raw":
        arrays = {name: decode_npy(members[f"{name}.npy"]) for name in ARRAYS}
    else:
        from reelmatch.dataset.codec import decode_frames

        mask = decode_npy(members["mask.npy"])
        if "spectrogram.png" in members:
            from reelmatch.dataset.codec import decode_spectrogram_png

            spec = decode_spectrogram_png(members["spectrogram.png"], doc["spectrogram_range"],
                                          doc["spectrogram_shape"], where)
        elif "spectrogram.npy.gz" in members:
            import gzip

            spec = decode_npy(gzip.decompress(members["spectrogram.npy.gz"]))
        else:
            spec = decode_npy(members["spectrogram.npy"])
        arrays = {"mask": mask, "timestamps": decode_npy(members["timestamps.npy"]), "spectrogram": spec,
                  "frames": decode_frames(members, mask, tuple(doc["frame_shape"]), codec, where)}
        if doc.get("spectrogram_dtype"):
            arrays["spectrogram"] = arrays["spectrogram"].astype(doc["spectrogram_dtype"])
    return Clip(id=doc["id"], has_audio=bool(doc["has_audio"]), meta=doc.get("meta") or {},
                split=doc.get("split", "train"), **arrays)


@dataclass(frozen=True)
class EncodedRecord:
    """A clip record ready to append (made where the clip is, e.g. in an extract worker): small to send."""

    id: str
    split: str
    has_audio: bool
    num_valid: int
    members: dict

    @property
    def size(self) -> int:
        return sum(len(b) for b in self.members.values())


def encode_record(clip: Clip, config: ClipConfig | None = None) -> EncodedRecord:
    """:func:`clip_members` of ``clip`` with the index fields of its record."""
    return EncodedRecord(clip.id, clip.split, bool(clip.has_audio), clip.num_valid, clip_members(clip, config))


@dataclass(frozen=True)
class RecordRef:
    """Where a written record is (what a worker that wrote it returns and the index commits).

    shard: file name in the store's ``shards/``; spans: member suffix -> [offset, size];
    size: bytes of the record in the shard; crc32: of those bytes.
    """

    id: str
    shard: str
    spans: dict
    split: str
    has_audio: bool
    num_valid: int
    size: int
    crc32: int


def _tar_bytes(key: str, members: dict[str, bytes], pos: int, mtime: int) -> tuple[bytes, dict]:
    """The tar bytes of one record written at byte ``pos`` of a shard, and its member spans."""
    spans, buf = {}, bytearray()
    for suffix, data in members.items():
        info = tarfile.TarInfo(f"{key}.{suffix}")
        info.size = len(data)
        info.mtime = mtime
        info.mode = 0o644
        header = info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")
        spans[suffix] = [pos + len(buf) + len(header), len(data)]
        buf += header
        buf += data
        buf += b"\0" * ((-len(data)) % _BLOCK)
    return bytes(buf), spans


def _tail(path: Path, start: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(start)
        return f.read()


def _json_default(o):
    np = sys.modules.get("numpy")  # no numpy loaded: no numpy values to convert
    if np is None:
        return str(o)
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
        self._fs = None
        self._rows: dict = {}
        side = read_sidecar(self.root / "clips")
        if side is not None and side.get("fingerprint") != self.fingerprint:
            raise StaleArtifactError(
                f"{self.root} holds clips of config {side.get('fingerprint')}, expected {self.fingerprint}"
            )
        storage = getattr(ws, "storage", None)
        if side is not None or self.index_path.exists() or not storage:
            self.shard_url = (side or {}).get("shard_url")  # where the store's shards were put when it was made
        else:  # a new store of a workspace with a storage URL
            self.shard_url = f"{storage.rstrip('/')}/clips/{self.fingerprint}/shards"

    @classmethod
    def open_dir(cls, root: Path, config: ClipConfig, shard_url: str | None = None) -> "ClipStore":
        """The store in directory ``root`` (``<ws>/clips/<fingerprint>``) without a workspace: for workers.

        ``shard_url``: where its shards are when they are on an fsspec URL (default: what the
        store's sidecar in ``root`` says, if it has one; else ``root/shards``).
        """
        self = cls.__new__(cls)
        self.ws, self.config, self.fingerprint = None, config, config.fingerprint
        self.root = Path(root)
        self.shard_dir = self.root / "shards"
        self.index_path = self.root / "index.sqlite"
        self._conn, self._schema_ok, self._pid, self._files, self._fs, self._rows = None, False, None, {}, None, {}
        if shard_url is None:
            shard_url = (read_sidecar(self.root / "clips") or {}).get("shard_url")
        self.shard_url = shard_url
        return self

    def __repr__(self) -> str:
        return f"ClipStore({str(self.root)!r}, {len(self)} clips)"

    def __getstate__(self) -> dict:
        # picklable for spawned data-loading workers: no connection, no file handles
        state = dict(self.__dict__)
        state.update(ws=None, _conn=None, _schema_ok=False, _pid=None, _files={}, _fs=None)
        return state

    def __setstate__(self, state: dict) -> None:
        state.setdefault("shard_url", None)
        state.setdefault("_fs", None)
        state.setdefault("_rows", {})
        self.__dict__.update(state)

    # ------------------------------------------------------------ internals
    def _db(self, create: bool = False):
        if self._pid != os.getpid():  # forked (e.g. a DataLoader worker): never share handles
            self._conn, self._files, self._fs, self._pid = None, {}, None, os.getpid()
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

    def _shard_fs(self):
        """``(fsspec filesystem, path of the shard folder in it)`` of a store whose shards are on a URL."""
        if self._fs is None or self._fs[0] != os.getpid():
            from reelmatch.runtime import storage_fs

            self._fs = (os.getpid(), *storage_fs(self.shard_url))
        return self._fs[1], self._fs[2]

    def _read_range(self, shard: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of the object ``shard`` (shards on a URL): one range request."""
        fs, base = self._shard_fs()
        try:
            data = fs.cat_file(f"{base}/{shard}", start=start, end=end)
        except FileNotFoundError:
            raise StaleArtifactError(f"shard {self.shard_url}/{shard} is missing (re-run 'reelmatch extract')") from None
        if len(data) != end - start:
            raise StaleArtifactError(f"shard {self.shard_url}/{shard} is truncated at byte {start}"
                                     " (re-run 'reelmatch extract')")
        return data

    def _list_shards(self) -> dict[str, int]:
        """Shard file name -> size, of every ``*.tar`` in the shard folder (local or on the URL)."""
        if self.shard_url is None:
            if not self.shard_dir.exists():
                return {}
            return {p.name: p.stat().st_size for p in self.shard_dir.glob("*.tar")}
        fs, base = self._shard_fs()
        try:
            entries = fs.ls(base, detail=True)
        except FileNotFoundError:
            return {}
        out = {}
        for e in entries:
            name = e["name"].rstrip("/").rsplit("/", 1)[-1]
            if e.get("type") == "file" and name.endswith(".tar"):
                out[name] = int(e.get("size") or 0)
        return out

    def _remove_shard(self, name: str) -> None:
        if self.shard_url is None:
            (self.shard_dir / name).unlink()
        else:
            fs, base = self._shard_fs()
            fs.rm_file(f"{base}/{name}")

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
        if self.shard_url is not None:  # the record's members are contiguous: one range read
            start = min(off for off, _ in spans.values())
            data = self._read_range(shard, start, max(off + n for off, n in spans.values()))
            return clip_from_members({suffix: data[off - start : off - start + n] for suffix, (off, n) in spans.items()},
                                     where=f"clip record {item_id!r} in {self.shard_url}/{shard}")
        return clip_from_members({suffix: self._read_member(shard, off, n) for suffix, (off, n) in spans.items()},
                                 where=f"clip record {item_id!r} in {shard}")

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

    def locate(self, ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """``id -> (shard, member spans as JSON)`` of the records of ``ids`` that have one."""
        db = self._db()
        if db is None:
            return {}
        ids, out = list(ids), {}
        for s in range(0, len(ids), 500):
            chunk = ids[s : s + 500]
            sql = f"SELECT id, shard, members FROM records WHERE id IN ({','.join('?' * len(chunk))})"
            out.update({r[0]: (r[1], r[2]) for r in db.execute(sql, chunk)})
        return out

    def use_batch(self, ids) -> None:
        """Worker side: a :class:`LocatedIds` batch says where its records are; ``get`` and ``in``
        answer from it first (a worker whose node cannot open the index reads the shards anyway)."""
        records = getattr(ids, "records", None)
        if records is not None:
            self._rows = dict(records)

    def get(self, item_id: str) -> Clip:
        """The clip of ``item_id`` (``NotFoundError`` if it has none)."""
        if item_id in self._rows:
            return self._load((item_id, *self._rows[item_id]))
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
        if item_id in self._rows:
            return True
        db = self._db()
        return db is not None and db.execute("SELECT 1 FROM records WHERE id=?", (item_id,)).fetchone() is not None

    def __len__(self) -> int:
        db = self._db()
        return 0 if db is None else db.execute("SELECT count(*) FROM records").fetchone()[0]

    def shards(self) -> list:
        """Shard files holding indexed records (for WebDataset-style streaming): paths, or
        URLs (``str``) when the store's shards are on a URL."""
        db = self._db()
        if db is None:
            return []
        names = [r[0] for r in db.execute("SELECT DISTINCT shard FROM records ORDER BY shard")]
        if self.shard_url is not None:
            return [f"{self.shard_url.rstrip('/')}/{n}" for n in names]
        return [self.shard_dir / n for n in names]

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

    def commit(self, refs: Iterable[RecordRef]) -> int:
        """Point the index at written, durable records, in one transaction; returns how many."""
        refs = list(refs)
        if not refs:
            return 0
        db = self._db(create=True)
        now = time.time()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT INTO records (id, shard, members, split, has_audio, num_valid, written) VALUES (?,?,?,?,?,?,?)"
                " ON CONFLICT (id) DO UPDATE SET shard=excluded.shard, members=excluded.members, split=excluded.split,"
                " has_audio=excluded.has_audio, num_valid=excluded.num_valid, written=excluded.written",
                [(r.id, r.shard, json.dumps(r.spans), r.split, int(bool(r.has_audio)), int(r.num_valid), now)
                 for r in refs],
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return len(refs)

    def recover(self) -> dict:
        """Clean up after a killed run: what was written but never committed goes.

        Shard files no record points to are deleted; a shard whose last bytes hold
        no committed record (a worker or the driver died after writing them) is cut
        after its last committed record and closed with the end-of-archive marker.
        Returns ``{"removed": files, "trimmed": files, "bytes": freed}``. Call it
        only while no writer runs (the extract stage holds its lock).
        """
        out = {"removed": 0, "trimmed": 0, "bytes": 0}
        if self.shard_url is None and not self.shard_dir.exists():
            return out
        ends: dict[str, int] = {}
        db = self._db()
        for shard, members in ([] if db is None else db.execute("SELECT shard, members FROM records")):
            end = max(off + n for off, n in json.loads(members).values())
            ends[shard] = max(ends.get(shard, 0), end)
        if self.shard_url is not None:  # objects are written whole, never appended to: only unreferenced ones go
            for name, size in self._list_shards().items():
                if name not in ends:
                    self._remove_shard(name)
                    out["removed"] += 1
                    out["bytes"] += size
            if out["removed"]:
                log.info("clip store %s: removed %d uncommitted shard object(s) from %s (%d bytes)",
                         self.root.name, out["removed"], self.shard_url, out["bytes"])
            return out
        for p in self.shard_dir.glob("*.tar"):
            size = p.stat().st_size
            if p.name not in ends:
                p.unlink()
                out["removed"] += 1
                out["bytes"] += size
                continue
            end = ends[p.name] + (-ends[p.name]) % _BLOCK
            if size > end + 2 * _BLOCK or (size > end and _tail(p, end) != b"\0" * (size - end)):
                with open(p, "r+b") as f:
                    f.truncate(end)
                    f.seek(end)
                    f.write(b"\0" * (2 * _BLOCK))
                    f.flush()
                    os.fsync(f.fileno())
                out["trimmed"] += 1
                out["bytes"] += max(size - end - 2 * _BLOCK, 0)
            elif size == end:  # a worker's shard (never closed): add the end-of-archive marker
                with open(p, "ab") as f:
                    f.write(b"\0" * (2 * _BLOCK))
        if out["removed"] or out["trimmed"]:
            log.info("clip store %s: removed %d uncommitted shard(s), trimmed %d (%d bytes)",
                     self.root.name, out["removed"], out["trimmed"], out["bytes"])
        return out

    def discard(self, item_id: str) -> bool:
        """Forget the record of ``item_id`` (bytes stay until :meth:`compact`). True if it had one."""
        db = self._db()
        if db is None:
            return False
        return db.execute("DELETE FROM records WHERE id=?", (item_id,)).rowcount > 0

    def compact(self) -> int:
        """Delete shard files no record points to; returns how many were removed."""
        db = self._db()
        live = set() if db is None else {r[0] for r in db.execute("SELECT DISTINCT shard FROM records")}
        removed = 0
        for name in self._list_shards():
            if name not in live and not name.startswith("."):
                self._remove_shard(name)
                removed += 1
        return removed

    def write_sidecar(self, **extra) -> dict:
        if self.shard_url is not None:
            extra["shard_url"] = self.shard_url
        return write_sidecar(self.root / "clips", self.config, clips=len(self), shards=len(self.shards()),
                             layout="webdataset-tar+sqlite-index", format_version=FORMAT_VERSION, **extra)


class ShardWriter:
    """Appends records to fresh shard files of this process.

    ``add(clip)`` is durable and indexed when it returns (one fsync and one index
    transaction per record). For batches: ``append(encoded) -> RecordRef`` writes
    the bytes, ``sync()`` makes every appended record durable, and
    :meth:`ClipStore.commit` indexes the refs in one transaction, in that order.
    """

    def __init__(self, store: ClipStore, *, shard_max_bytes: int = SHARD_MAX_BYTES, run: str | None = None,
                 tag: str = "", index: bool = True):
        self.store = store
        self.shard_max_bytes = shard_max_bytes
        self.run = run or new_run_id()
        self.tag = tag
        self._n = 0
        self._f = None
        self._name = None
        self._dirty = False
        self.written = 0
        if store.shard_url is None:
            store.shard_dir.mkdir(parents=True, exist_ok=True)
        else:
            fs, base = store._shard_fs()
            fs.makedirs(base, exist_ok=True)
        if index:  # the driver's writer; a worker's only writes shards
            store._db(create=True)
            if not sidecar_path(store.root / "clips").exists():
                store.write_sidecar()

    def _open(self) -> None:
        self._n += 1
        self._name = f"clips-{self.run}{self.tag}-{self._n:05d}.tar"
        if self.store.shard_url is not None:  # filled locally, uploaded whole by sync()
            import tempfile

            self._f = tempfile.TemporaryFile(prefix="reelmatch-shard-")  # noqa: SIM115 - closed in _upload()
            return
        self._f = open(self.store.shard_dir / self._name, "ab")  # noqa: SIM115 - closed in close()

    def _upload(self) -> None:
        """Shards on a URL: the shard being filled, closed and uploaded whole as one object."""
        self._f.write(b"\0" * (2 * _BLOCK))  # end-of-archive marker
        self._f.flush()
        self._f.seek(0)
        fs, base = self.store._shard_fs()
        with fs.open(f"{base}/{self._name}", "wb") as out:
            while chunk := self._f.read(8 << 20):
                out.write(chunk)
        self._f.close()
        self._f = None

    def _finish_shard(self) -> None:
        if self.store.shard_url is not None:
            if self._f is not None:  # nothing appended since the last upload
                self._f.close()
                self._f = None
            return
        if self._f is not None:
            self._f.write(b"\0" * (2 * _BLOCK))  # end-of-archive marker
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
            self._f = None

    def append(self, record: "EncodedRecord | Clip") -> RecordRef:
        """Write a record (not yet durable: :meth:`sync`) and return where it is."""
        if isinstance(record, Clip):
            record = encode_record(record, self.store.config)
        if self._f is None or self._f.tell() > self.shard_max_bytes:
            if self._dirty:
                self.sync()
            self._finish_shard()
            self._open()
        pos = self._f.tell()
        data, spans = _tar_bytes(record_key(record.id), record.members, pos, int(time.time()))
        self._f.write(data)
        self._dirty = True
        self.written += 1
        return RecordRef(record.id, self._name, spans, record.split, bool(record.has_audio), int(record.num_valid),
                         len(data), zlib.crc32(data))

    def sync(self) -> None:
        """Make every appended record durable (flush + fsync; on a URL: upload the shard, start a new one)."""
        if self.store.shard_url is not None:
            if self._f is not None and self._dirty:
                self._upload()
            self._dirty = False
            return
        if self._f is not None and self._dirty:
            self._f.flush()
            os.fsync(self._f.fileno())
        self._dirty = False

    def add(self, clip: Clip) -> None:
        """Append ``clip``, fsync, and point the index at it (replacing an older record of its id)."""
        ref = self.append(clip)
        self.sync()
        self.store.commit([ref])

    def close(self) -> None:
        self.sync()
        self._finish_shard()
        self.store.write_sidecar()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class LocatedIds(tuple):
    """A batch of ids sent to a features or embed worker, with where their records are
    (``records``: id -> (shard, member spans JSON), :meth:`ClipStore.locate`).

    Sent when the store's shards are on a URL, so a worker on a node without the
    workspace reads its clips from the storage without the index (:meth:`ClipStore.use_batch`).
    """

    records: dict

    def __new__(cls, ids, records: dict):
        self = super().__new__(cls, ids)
        self.records = records
        return self

    def __reduce__(self):
        return (LocatedIds, (tuple(self), self.records))


def id_batch(store: ClipStore, ids) -> tuple:
    """``ids`` as a worker's batch: a plain tuple, or :class:`LocatedIds` when ``store``'s shards are on a URL."""
    ids = tuple(ids)
    return LocatedIds(ids, store.locate(ids)) if store.shard_url is not None else ids


def new_run_id() -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:6]


#: per worker process: (shard dir, run) -> its open ShardWriter
_WORKER_WRITERS: dict = {}


def worker_append(root: str, config: ClipConfig, run: str, record: "EncodedRecord",
                  shard_url: str | None = None) -> RecordRef:
    """Worker side: append ``record`` to this process's own shard of run ``run`` in the store at ``root``, durably.

    Each worker process writes its own shard files (``clips-<run>-<host>-<pid>-<n>.tar``)
    and returns the small :class:`RecordRef`; only the driver indexes it
    (:meth:`ClipStore.commit`). A record written but never committed (the driver
    died first) is ignored, and its shard deleted or cut by :meth:`ClipStore.recover`.
    ``shard_url``: the store's shards are on this fsspec URL (each record is then
    uploaded as an object of its own; ``root`` need not exist on this node).
    """
    import socket

    key = (str(root), run)
    w = _WORKER_WRITERS.get(key)
    if w is None:
        for old_key in [k for k in _WORKER_WRITERS if k[0] == key[0]]:  # a previous run's shard: finish it
            old = _WORKER_WRITERS.pop(old_key)
            old.sync()
            if old._f is not None:
                old._f.close()
        store = ClipStore.open_dir(Path(root), config, shard_url)
        host = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:16] or "host"
        w = _WORKER_WRITERS[key] = ShardWriter(store, run=run, tag=f"-{host}-{os.getpid()}", index=False)
    ref = w.append(record)
    w.sync()
    return ref
