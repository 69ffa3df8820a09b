"""What the server's requests share, without a global lock.

* :class:`ReadCatalog`: read-only SQLite connections (``mode=ro``, the WAL
  catalogue), one per thread, and a cache of item rows that is dropped as soon
  as anyone commits to the catalogue (``PRAGMA data_version`` on a watcher
  connection, checked once per request); catalogue pages and counts likewise.
* :class:`Artifacts`: the embeddings, index and neighbour table, loaded once,
  read-only and shared by every thread (the table memory-mapped, so several
  server processes share one copy). When their files change, the next request
  starts a reload in the background and keeps answering from the loaded set;
  the new set replaces it in one assignment once it has loaded and its files
  agree (fingerprints), so no request sees a half-written or mismatched set.
* :class:`ServedWorkspace`: the workspace as the query code sees it inside the
  server: its ``catalog`` is the calling thread's read-only view, its searcher
  the shared one.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from urllib.parse import quote

from reelmatch.catalog.db import Catalog
from reelmatch.workspace import Workspace

log = logging.getLogger(__name__)


def _connect_ro(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=60, isolation_level=None,
                           check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA query_only=ON")
    conn.execute("PRAGMA busy_timeout=60000")
    return conn


class ReadOnlyCatalog(Catalog):
    """A :class:`Catalog` on a read-only connection (every write raises ``sqlite3.OperationalError``)."""

    def __init__(self, path: Path):  # noqa: D107 - no create, no schema changes, no WAL switch
        self.path = Path(path)
        self._conn = _connect_ro(self.path)
        self._check_schema(migrate=False)  # an older schema is read as it is (the writer migrates it)

    def stages_of(self, item_id: str) -> dict[str, dict]:
        """``{stage: {"status", "error"}}`` of the stages recorded for ``item_id`` (one query)."""
        rows = self._conn.execute("SELECT stage, status, error FROM stages WHERE item_id=?", (item_id,)).fetchall()
        return {r[0]: {"status": r[1], "error": r[2]} for r in rows}


class _ItemLookup:
    """``get`` over a view's ``maybe_get``: :class:`NotFoundError` (a 404) for an unknown id."""

    def get(self, item_id: str):
        from reelmatch.errors import NotFoundError

        item = self.maybe_get(item_id)
        if item is None:
            raise NotFoundError(f"no item with id {item_id!r}")
        return item


class _CachedView(_ItemLookup):
    """One thread's read-only catalogue, with item lookups served from the shared cache."""

    def __init__(self, reads: "ReadCatalog", catalog: ReadOnlyCatalog):
        self._reads = reads
        self._catalog = catalog

    def maybe_get(self, item_id: str):
        reads = self._reads
        gen = reads.generation
        try:
            return reads.items[item_id]
        except KeyError:
            pass
        item = self._catalog.maybe_get(item_id)
        reads.remember(gen, item_id, item)
        return item

    def search(self, text=None, *, genre=None, kind=None, limit=None, offset=0):
        """A catalogue page (:meth:`Catalog.search`); pages (``limit`` given) are kept until the catalogue changes."""
        reads = self._reads
        gen = reads.generation
        key = (text, genre, kind, limit, offset)
        hit = reads.pages.get(key) if limit is not None else None
        if hit is not None and hit[0] == gen:
            return hit[1]
        rows = self._catalog.search(text, genre=genre, kind=kind, limit=limit, offset=offset)
        if limit is not None and limit <= 1000 and gen == reads.generation:
            if len(reads.pages) >= reads.max_pages:
                reads.pages = {}
            reads.pages[key] = (gen, rows)
        return rows

    def count(self) -> int:
        reads = self._reads
        gen = reads.generation
        n = reads.counts.get(gen)
        if n is None:
            n = reads.counts[gen] = self._catalog.count()  # a full count: once per catalogue version
        return n

    def __getattr__(self, name):
        return getattr(self._catalog, name)


class CacheMiss(Exception):
    """A cache-only view was asked for something it has not cached."""


class _CacheOnlyView(_ItemLookup):
    """Item lookups from the shared cache only (no SQLite): what the event loop may do inline."""

    def __init__(self, reads: "ReadCatalog"):
        self._reads = reads

    def maybe_get(self, item_id: str):
        try:
            return self._reads.items[item_id]
        except KeyError:
            raise CacheMiss(item_id) from None

    def __getattr__(self, name):
        raise CacheMiss(name)


class ReadCatalog:
    """Per-thread read-only catalogue connections and a shared item cache (``cache`` rows at most)."""

    def __init__(self, path: Path, *, cache: int = 200_000):
        self.path = Path(path)
        self.cache = cache
        self.items: dict = {}
        self.counts: dict[int, int] = {}
        self.pages: dict[tuple, tuple] = {}  # search key -> (generation, rows)
        self.max_pages = 2048
        self.generation = 0
        self._local = threading.local()
        self._watch = _connect_ro(self.path)
        self._watch_lock = threading.Lock()
        self._version = self._data_version()
        self._views: list[ReadOnlyCatalog] = []
        self._views_lock = threading.Lock()
        self.cache_only = _CacheOnlyView(self)

    def _data_version(self) -> int:
        return self._watch.execute("PRAGMA data_version").fetchone()[0]

    def check(self) -> None:
        """Drop the item cache when the catalogue changed since the last check (once per request)."""
        with self._watch_lock:
            v = self._data_version()
            if v == self._version:
                return
            self._version = v
            self.items = {}
            self.counts = {}
            self.pages = {}
            self.generation += 1

    def remember(self, generation: int, item_id: str, item) -> None:
        # a row read before a change that a check has seen since is not kept
        if generation == self.generation and len(self.items) < self.cache:
            self.items[item_id] = item

    def view(self) -> _CachedView:
        """The calling thread's view (its own connection, opened on first use)."""
        v = getattr(self._local, "view", None)
        if v is None:
            cat = ReadOnlyCatalog(self.path)
            with self._views_lock:
                self._views.append(cat)
            v = self._local.view = _CachedView(self, cat)
        return v

    def close(self) -> None:
        with self._views_lock:
            for c in self._views:
                c.close()
            self._views.clear()
        self._watch.close()


class Artifacts:
    """The shared :class:`reelmatch.query.Searcher` s (one per embeddings name), swapped atomically.

    ``table=False`` serves without the neighbour table (the index answers every query).
    """

    #: seconds between reload attempts while the files on disk do not agree (mid-rebuild)
    retry_after = 0.2
    #: seconds between looks at the files' modification times
    check_every = 0.05

    def __init__(self, ws: Workspace, *, table: bool = True):
        self.ws = ws
        self.table = table
        self._current: dict = {}
        self._lock = threading.Lock()
        self._loading: set[str] = set()
        self._failed_at: dict[str, float] = {}
        self._next_check: dict[str, float] = {}
        self._paths: dict[str, tuple[str, ...]] = {}
        self.reloads = 0

    def _load(self, name: str):
        from reelmatch.query.search import Searcher

        s = Searcher(self.ws, name, table=self.table, mmap=True)
        old = self._current.get(name) or self.ws.__dict__.get("_searchers", {}).get(name)
        embedder = getattr(old, "_embedder", None)
        if embedder is not None and embedder.fingerprint == s.emb.model_fingerprint:
            s.use_embedder(embedder)  # a loaded model is kept across reloads of the same model's vectors
        return s

    def searcher(self, name: str = "default"):
        """The loaded searcher; a changed set of files is loaded in the background meanwhile."""
        cur = self._current.get(name)
        if cur is None:
            with self._lock:
                cur = self._current.get(name)
                if cur is None:
                    cur = self._current[name] = self._load(name)  # NotFoundError etc. -> the caller
            return cur
        now = time.monotonic()
        if now >= self._next_check.get(name, 0.0):  # the files are looked at every check_every seconds
            self._next_check[name] = now + self.check_every
            if cur.stamp != self._stamp(name):
                self._reload_soon(name)
        return cur

    def _stamp(self, name: str) -> tuple:
        """``Searcher.stamp`` of the files on disk now (modification times in ns, None when absent)."""
        paths = self._paths.get(name)
        if paths is None:
            from reelmatch.query.search import artifact_paths

            paths = self._paths[name] = tuple(str(p) for p in artifact_paths(self.ws, name))
        out = []
        for p in paths:
            try:
                out.append(os.stat(p).st_mtime_ns)
            except FileNotFoundError:
                out.append(None)
        return tuple(out)

    def _reload_soon(self, name: str) -> None:
        with self._lock:
            if name in self._loading or time.monotonic() - self._failed_at.get(name, -1e9) < self.retry_after:
                return
            self._loading.add(name)
        threading.Thread(target=self._reload, args=(name,), name=f"reelmatch-reload-{name}", daemon=True).start()

    def _reload(self, name: str) -> None:
        from reelmatch.errors import ReelmatchError

        try:
            new = self._load(name)
        except (ReelmatchError, OSError, ValueError) as e:  # files of two builds, or one being replaced
            log.info("reload of %s deferred: %s", name, e)
            self._failed_at[name] = time.monotonic()
        except Exception:  # a bug: logged, the loaded set keeps answering
            log.exception("reload of %s failed", name)
            self._failed_at[name] = time.monotonic()
        else:
            self._current[name] = new  # one assignment: a request sees the old set or the new one
            self.reloads += 1
            log.info("loaded new embeddings/index %s (%d vectors)", name, len(new.emb))
        finally:
            with self._lock:
                self._loading.discard(name)


class ServedWorkspace(Workspace):
    """``ws`` as the query code sees it in the server: per-thread read-only catalogue, shared searchers."""

    def __init__(self, ws: Workspace, reads: ReadCatalog, artifacts: Artifacts, *, cache_only: bool = False):  # noqa: D107
        self.root = ws.root
        self._reads = reads
        self._cache_only = cache_only
        self.searcher_provider = artifacts.searcher

    @property
    def catalog(self):  # overrides Workspace.catalog (a cached writable connection)
        """The calling thread's read-only view; with ``cache_only``, the cache alone (:class:`CacheMiss` otherwise)."""
        return self._reads.cache_only if self._cache_only else self._reads.view()

    def close(self) -> None:
        pass
