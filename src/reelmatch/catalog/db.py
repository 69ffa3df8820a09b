"""The catalogue: one SQLite file (stdlib sqlite3, WAL).

Items are the videos (trailers and ads) with their labels; ``stages`` records,
per item and stage, its status (``done``/``failed``; no row means pending), the
one-line error of a failure and the config fingerprint of the work done. Every
write runs in a transaction; the schema version is stored and checked on open.

Schema history (a catalogue of an older version is migrated in place when
opened for writing; a read-only connection reads it as it is):

1. items, stages.
2. ``items.flags``: content flags for brand safety (``["violence", "alcohol"]``),
   JSON like ``genres``; old rows get ``[]``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from reelmatch.errors import InputError, NotFoundError, WorkspaceError

SCHEMA_VERSION = 2
KINDS = ("trailer", "ad")
#: Stages tracked per item, in pipeline order.
STAGES = ("download", "extract", "features", "embed", "dedupe", "scenes")
STATUSES = ("done", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    id          TEXT PRIMARY KEY,
    title       TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('trailer', 'ad')),
    genres      TEXT NOT NULL DEFAULT '[]',
    year        INTEGER,
    plot        TEXT,
    source      TEXT,
    media_path  TEXT,
    sha256      TEXT,
    duration    REAL,
    extra       TEXT NOT NULL DEFAULT '{}',
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    flags       TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS items_sha256 ON items (sha256);
CREATE INDEX IF NOT EXISTS items_title ON items (title COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS stages (
    item_id     TEXT NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    stage       TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    error       TEXT,
    fingerprint TEXT,
    attempts    INTEGER NOT NULL DEFAULT 1,
    updated_at  REAL NOT NULL,
    PRIMARY KEY (item_id, stage)
);
"""

#: schema version -> the statements that bring a catalogue of the version before up to it
_MIGRATIONS = {
    2: ("ALTER TABLE items ADD COLUMN flags TEXT NOT NULL DEFAULT '[]'",),
}


def item_id_for(kind_of_source: str, key: str) -> str:
    """Stable item id derived from the source, so re-imports match.

    ``kind_of_source`` is a short prefix (``file``, ``url``, ``ml``...), ``key`` the
    identifying string (sha256 of a file, a normalised URL, a MovieLens id).
    """
    digest = hashlib.sha256(f"{kind_of_source}:{key}".encode()).hexdigest()[:12]
    return f"{kind_of_source}-{digest}"


@dataclass(frozen=True)
class Item:
    """One catalogue entry."""

    id: str
    title: str
    kind: str = "trailer"
    genres: tuple[str, ...] = ()
    year: int | None = None
    plot: str | None = None
    source: str | None = None
    media_path: str | None = None
    sha256: str | None = None
    duration: float | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False)
    flags: tuple[str, ...] = ()

    @property
    def is_url(self) -> bool:
        return bool(self.source) and self.source.startswith(("http://", "https://"))

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "kind": self.kind,
            "genres": list(self.genres),
            "year": self.year,
            "plot": self.plot,
            "source": self.source,
            "media_path": self.media_path,
            "sha256": self.sha256,
            "duration": self.duration,
            "flags": list(self.flags),
        }


def _row_to_item(row: sqlite3.Row) -> Item:
    return Item(
        id=row["id"],
        title=row["title"],
        kind=row["kind"],
        genres=tuple(json.loads(row["genres"])),
        year=row["year"],
        plot=row["plot"],
        source=row["source"],
        media_path=row["media_path"],
        sha256=row["sha256"],
        duration=row["duration"],
        extra=json.loads(row["extra"] or "{}"),
        flags=tuple(json.loads(row["flags"] or "[]")) if "flags" in row.keys() else (),
    )


def normalise_genres(genres: Iterable[str]) -> tuple[str, ...]:
    """Trimmed, de-duplicated, order-preserving genre labels (case kept); also used for flags."""
    seen: dict[str, None] = {}
    for g in genres:
        g = str(g).strip()
        if g and g.lower() not in {k.lower() for k in seen}:
            seen[g] = None
    return tuple(seen)


class Catalog:
    """The catalogue database of a workspace.

    >>> cat = Catalog.create(tmp_path / "catalog.db")   # doctest: +SKIP
    >>> cat.upsert(Item(id="x", title="Alien", genres=("Horror",)))  # doctest: +SKIP
    """

    def __init__(self, path: Path, *, _create: bool = False):
        self.path = Path(path)
        if not _create and not self.path.exists():
            raise WorkspaceError(f"no catalogue at {self.path}: run 'reelmatch init' first")
        self._conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as e:
            self._conn.close()
            raise WorkspaceError(f"{self.path} is not a reelmatch catalogue ({e})") from e
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=60000")
        if _create:
            with self.transaction() as c:
                for stmt in filter(str.strip, _SCHEMA.split(";")):
                    c.execute(stmt)
                c.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
        self._check_schema()

    @classmethod
    def create(cls, path: Path) -> "Catalog":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return cls(path, _create=True)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _check_schema(self, *, migrate: bool = True) -> None:
        """Check the stored schema version; an older one is migrated in place (``migrate``) or read as is."""
        try:
            row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.DatabaseError as e:
            raise WorkspaceError(f"{self.path} is not a reelmatch catalogue ({e})") from e
        if row is None:
            raise WorkspaceError(f"{self.path} has no schema version: not a reelmatch catalogue")
        version = int(row[0])
        if version > SCHEMA_VERSION or version < 1:
            raise WorkspaceError(
                f"{self.path} has catalogue schema {row[0]}, this reelmatch reads {SCHEMA_VERSION}"
            )
        if version < SCHEMA_VERSION and migrate:
            with self.transaction() as c:
                now = int(c.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])
                for v in range(now + 1, SCHEMA_VERSION + 1):  # another process may have migrated meanwhile
                    for stmt in _MIGRATIONS[v]:
                        c.execute(stmt)
                c.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back on any exception.

        Nested inside another transaction it is a savepoint: an exception rolls back
        only its own writes, and nothing is committed before the outer one ends (so a
        caller can group many writes into one commit: ``with cat.transaction(): ...``).
        """
        depth = getattr(self, "_depth", 0)
        if depth:
            name = f"sp{depth}"
            self._conn.execute(f"SAVEPOINT {name}")
            self._depth = depth + 1
            try:
                yield self._conn
            except BaseException:
                self._conn.execute(f"ROLLBACK TO {name}")
                self._conn.execute(f"RELEASE {name}")
                raise
            else:
                self._conn.execute(f"RELEASE {name}")
            finally:
                self._depth = depth
            return
        self._conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")
        finally:
            self._depth = 0

    # ----------------------------------------------------------------- items
    def upsert(self, item: Item) -> str:
        """Insert or update ``item`` by id. Returns ``"inserted"`` or ``"updated"``/``"unchanged"``."""
        if item.kind not in KINDS:
            raise InputError(f"item {item.id}: kind {item.kind!r} is not one of {', '.join(KINDS)}")
        if not item.title or not item.title.strip():
            raise InputError(f"item {item.id}: empty title")
        now = time.time()
        with self.transaction() as c:
            old = c.execute("SELECT * FROM items WHERE id=?", (item.id,)).fetchone()
            values = (
                item.title.strip(),
                item.kind,
                json.dumps(list(normalise_genres(item.genres))),
                item.year,
                item.plot,
                item.source,
                item.media_path,
                item.sha256,
                item.duration,
                json.dumps(item.extra or {}, sort_keys=True),
                json.dumps(list(normalise_genres(item.flags))),
            )
            if old is None:
                c.execute(
                    "INSERT INTO items (title, kind, genres, year, plot, source, media_path, sha256,"
                    " duration, extra, flags, id, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    values + (item.id, now, now),
                )
                return "inserted"
            if _row_to_item(old) == replace(item, title=item.title.strip(), genres=normalise_genres(item.genres),
                                            flags=normalise_genres(item.flags)):
                return "unchanged"
            c.execute(
                "UPDATE items SET title=?, kind=?, genres=?, year=?, plot=?, source=?, media_path=?,"
                " sha256=?, duration=?, extra=?, flags=?, updated_at=? WHERE id=?",
                values + (now, item.id),
            )
            # media changed: work derived from the old media is no longer valid
            if old["sha256"] != item.sha256 or old["media_path"] != item.media_path:
                c.execute("DELETE FROM stages WHERE item_id=? AND stage != 'download'", (item.id,))
            return "updated"

    def update_fields(self, item_id: str, **fields) -> None:
        """Update some columns of one item (``genres`` as a list)."""
        allowed = {"title", "kind", "genres", "year", "plot", "source", "media_path", "sha256", "duration", "extra",
                   "flags"}
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"unknown item fields: {sorted(bad)}")
        for key in ("genres", "flags"):
            if key in fields:
                fields[key] = json.dumps(list(normalise_genres(fields[key])))
        if "extra" in fields:
            fields["extra"] = json.dumps(fields["extra"], sort_keys=True)
        cols = ", ".join(f"{k}=?" for k in fields)
        with self.transaction() as c:
            cur = c.execute(
                f"UPDATE items SET {cols}, updated_at=? WHERE id=?", (*fields.values(), time.time(), item_id)
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no item with id {item_id!r}")

    def get(self, item_id: str) -> Item:
        row = self._conn.execute("SELECT * FROM items WHERE id=?", (item_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no item with id {item_id!r}")
        return _row_to_item(row)

    def maybe_get(self, item_id: str) -> Item | None:
        row = self._conn.execute("SELECT * FROM items WHERE id=?", (item_id,)).fetchone()
        return None if row is None else _row_to_item(row)

    def by_sha256(self, sha256: str) -> Item | None:
        row = self._conn.execute("SELECT * FROM items WHERE sha256=? ORDER BY created_at LIMIT 1", (sha256,)).fetchone()
        return None if row is None else _row_to_item(row)

    def find_title(self, title: str) -> list[Item]:
        """Items whose title equals ``title`` (case-insensitive)."""
        rows = self._conn.execute(
            "SELECT * FROM items WHERE title = ? COLLATE NOCASE ORDER BY id", (title.strip(),)
        ).fetchall()
        return [_row_to_item(r) for r in rows]

    def search(
        self,
        text: str | None = None,
        *,
        genre: str | None = None,
        kind: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Item]:
        """Items whose title contains ``text`` (case-insensitive), filtered, by title."""
        sql, args = "SELECT * FROM items WHERE 1=1", []
        if text:
            sql += " AND title LIKE ? ESCAPE '\\'"
            esc = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            args.append(f"%{esc}%")
        if kind:
            sql += " AND kind=?"
            args.append(kind)
        if genre:
            sql += " AND EXISTS (SELECT 1 FROM json_each(items.genres) WHERE lower(value)=lower(?))"
            args.append(genre)
        sql += " ORDER BY title COLLATE NOCASE, id"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += [int(limit), int(offset)]
        return [_row_to_item(r) for r in self._conn.execute(sql, args).fetchall()]

    def filter_ids(self, *, kind: str | None = None, genre: str | None = None, exclude_genres=(), exclude_kinds=(),
                   exclude_flags=(), require_genres=()) -> list[str]:
        """Ids of the items passing every filter (one SQL query; genres and flags compared case-insensitively).

        kind / genre: only this kind / items with this genre; exclude_*: leave out items of these kinds or
        with any of these genres or flags; require_genres: only items with at least one of these genres.
        """
        sql, args = "SELECT id FROM items WHERE 1=1", []
        if kind:
            sql += " AND kind=?"
            args.append(kind)
        if exclude_kinds:
            sql += f" AND kind NOT IN ({','.join('?' * len(exclude_kinds))})"
            args += list(exclude_kinds)

        def any_of(column: str, values) -> str:
            args.extend(v.lower() for v in values)
            return (f"EXISTS (SELECT 1 FROM json_each(items.{column})"
                    f" WHERE lower(value) IN ({','.join('?' * len(values))}))")

        if genre:
            sql += " AND " + any_of("genres", [genre])
        if require_genres:
            sql += " AND " + any_of("genres", list(require_genres))
        if exclude_genres:
            sql += " AND NOT " + any_of("genres", list(exclude_genres))
        if exclude_flags:
            if self._has_flags():
                sql += " AND NOT " + any_of("flags", list(exclude_flags))
        return [r[0] for r in self._conn.execute(sql + " ORDER BY id", args).fetchall()]

    def stamp(self) -> tuple:
        """Changes whenever the catalogue may have changed (a commit by this connection or another):
        ``(connection, data_version, total_changes)``; only comparable for the same connection."""
        return (id(self._conn), self._conn.execute("PRAGMA data_version").fetchone()[0], self._conn.total_changes)

    def _has_flags(self) -> bool:
        """False on a schema-1 catalogue read without migrating (no item has flags there)."""
        cols = [r[1] for r in self._conn.execute("PRAGMA table_info(items)").fetchall()]
        return "flags" in cols

    def flag_vocabulary(self) -> list[str]:
        if not self._has_flags():
            return []
        rows = self._conn.execute("SELECT DISTINCT value FROM items, json_each(items.flags) ORDER BY value").fetchall()
        return [r[0] for r in rows]

    def items(self, *, kind: str | None = None) -> list[Item]:
        return self.search(kind=kind)

    def count(self) -> int:
        return self._conn.execute("SELECT count(*) FROM items").fetchone()[0]

    def delete(self, item_id: str) -> None:
        with self.transaction() as c:
            c.execute("DELETE FROM items WHERE id=?", (item_id,))

    def genre_vocabulary(self) -> list[str]:
        rows = self._conn.execute("SELECT DISTINCT value FROM items, json_each(items.genres) ORDER BY value").fetchall()
        return [r[0] for r in rows]

    # ---------------------------------------------------------------- stages
    def _check_stage(self, stage: str) -> None:
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")

    def mark_done(self, item_id: str, stage: str, fingerprint: str | None = None) -> None:
        self._set_stage(item_id, stage, "done", None, fingerprint)

    def mark_failed(self, item_id: str, stage: str, error: str, fingerprint: str | None = None) -> None:
        # errors are one line, bounded
        line = " ".join(str(error).split())[:500] or "unknown error"
        self._set_stage(item_id, stage, "failed", line, fingerprint)

    def _set_stage(self, item_id, stage, status, error, fingerprint) -> None:
        self._check_stage(stage)
        with self.transaction() as c:
            c.execute(
                "INSERT INTO stages (item_id, stage, status, error, fingerprint, attempts, updated_at)"
                " VALUES (?,?,?,?,?,1,?) ON CONFLICT (item_id, stage) DO UPDATE SET status=excluded.status,"
                " error=excluded.error, fingerprint=excluded.fingerprint, attempts=stages.attempts+1,"
                " updated_at=excluded.updated_at",
                (item_id, stage, status, error, fingerprint, time.time()),
            )

    def mark_many(self, stage: str, outcomes: "Iterable[tuple[str, str | None]]", fingerprint: str | None = None,
                  *, done: bool = True) -> int:
        """Record ``(item_id, error)`` outcomes of ``stage`` in ONE transaction: done when ``error`` is None
        (only with ``done``; else such items are left alone), else failed with the one-line reason.

        The batched form of :meth:`mark_done` / :meth:`mark_failed` that the stage runner
        commits per N items or T seconds. Returns the rows written.
        """
        self._check_stage(stage)
        now = time.time()
        rows = [(item_id, stage, "done" if err is None else "failed",
                 None if err is None else (" ".join(str(err).split())[:500] or "unknown error"), fingerprint, now)
                for item_id, err in outcomes if err is not None or done]
        if rows:
            with self.transaction() as c:
                c.executemany(
                    "INSERT INTO stages (item_id, stage, status, error, fingerprint, attempts, updated_at)"
                    " VALUES (?,?,?,?,?,1,?) ON CONFLICT (item_id, stage) DO UPDATE SET status=excluded.status,"
                    " error=excluded.error, fingerprint=excluded.fingerprint, attempts=stages.attempts+1,"
                    " updated_at=excluded.updated_at",
                    rows,
                )
        return len(rows)

    def clear_stage(self, stage: str, item_id: str | None = None) -> None:
        self._check_stage(stage)
        with self.transaction() as c:
            if item_id is None:
                c.execute("DELETE FROM stages WHERE stage=?", (stage,))
            else:
                c.execute("DELETE FROM stages WHERE stage=? AND item_id=?", (stage, item_id))

    def stage_of(self, item_id: str, stage: str) -> dict | None:
        """``{"status", "error", "fingerprint", "attempts"}`` or None when pending."""
        row = self._conn.execute(
            "SELECT status, error, fingerprint, attempts FROM stages WHERE item_id=? AND stage=?", (item_id, stage)
        ).fetchone()
        return None if row is None else dict(row)

    def todo(self, stage: str, fingerprint: str | None, *, retry_failed: bool = False, kind: str | None = None) -> list[Item]:
        """Items whose ``stage`` is not done with ``fingerprint`` (failed ones only if ``retry_failed``).

        A done item with another fingerprint is stale and is returned (recompute, never mix).
        """
        self._check_stage(stage)
        out = []
        states = {
            r["item_id"]: r
            for r in self._conn.execute("SELECT item_id, status, fingerprint FROM stages WHERE stage=?", (stage,))
        }
        for item in self.items(kind=kind):
            st = states.get(item.id)
            if st is None:
                out.append(item)
            elif st["status"] == "done":
                if fingerprint is not None and st["fingerprint"] != fingerprint:
                    out.append(item)
            elif st["status"] == "failed":
                if retry_failed or (fingerprint is not None and st["fingerprint"] != fingerprint):
                    out.append(item)
        return out

    def done_ids(self, stage: str, fingerprint: str | None = None) -> list[str]:
        sql, args = "SELECT item_id FROM stages WHERE stage=? AND status='done'", [stage]
        if fingerprint is not None:
            sql += " AND fingerprint=?"
            args.append(fingerprint)
        return [r[0] for r in self._conn.execute(sql + " ORDER BY item_id", args)]

    def status(self) -> dict:
        """The ``status`` JSON document of the design (a public contract)."""
        n = self.count()
        n_url = self._conn.execute(
            "SELECT count(*) FROM items WHERE source LIKE 'http://%' OR source LIKE 'https://%'"
        ).fetchone()[0]
        stages = {}
        for stage in STAGES:
            counts = dict(
                self._conn.execute(
                    "SELECT status, count(*) FROM stages JOIN items ON items.id = stages.item_id"
                    " WHERE stage=? GROUP BY status",
                    (stage,),
                ).fetchall()
            )
            applicable = n_url if stage == "download" else n
            done, failed = counts.get("done", 0), counts.get("failed", 0)
            stages[stage] = {"done": done, "failed": failed, "pending": max(applicable - done - failed, 0)}
        failures = [
            {"id": r["id"], "title": r["title"], "stage": r["stage"], "error": r["error"]}
            for r in self._conn.execute(
                "SELECT items.id, items.title, stages.stage, stages.error FROM stages JOIN items"
                " ON items.id = stages.item_id WHERE status='failed' ORDER BY stages.stage, items.title"
            )
        ]
        return {"items": n, "stages": stages, "failures": failures}
