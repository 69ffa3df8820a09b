"""``import --tmdb FILE``: plots and genres from TMDB metadata files, joined onto catalogue items.

Three CSV layouts are recognised by their header (columns in any order):

| layout | file people have | columns used |
|---|---|---|
| TMDB 5000 | ``tmdb_5000_movies.csv`` | ``id``, ``title``, ``overview``, ``genres`` (JSON ``[{"id": 28, "name": "Action"}]``), ``release_date`` |
| The Movies Dataset | ``movies_metadata.csv`` | ``id``, ``imdb_id``, ``title``, ``overview``, ``genres`` (Python-literal list of dicts), ``release_date`` |
| plain | a hand-made file | ``tmdb_id`` (or ``id``), ``title``, ``plot`` (or ``overview``), ``genres`` (``A|B``), ``year`` |

A row joins the catalogue items that carry its TMDB id (``extra["tmdb_id"]``, as
MovieLens ``links.csv`` sets it) or, failing that, its IMDb id. By default it
fills what the item lacks: the plot, the genres and the year; the TMDB values are
always kept in ``extra`` (``tmdb_genres``, ``tmdb_title``). With
``overwrite=True`` TMDB is authoritative for plot, genres and year. Rows that
match no item are counted, or with ``add_unmatched=True`` added as plot-only
items (no media yet) whose id is derived from the TMDB id.

A bad row (no usable id, unparsable genres, impossible date, broken quoting, not
UTF-8) is reported with its line and field and skipped; the rest imports.
"""

from __future__ import annotations

import ast
import json
import logging
import re
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from reelmatch.catalog.db import Item, item_id_for, normalise_genres
from reelmatch.errors import InputError
from reelmatch.ingest.csvlines import csv_records, read_text_lines
from reelmatch.ingest.fields import parse_year
from reelmatch.ingest.imdb import item_imdb_id, normalise_imdb_id
from reelmatch.ingest.report import IngestReport

log = logging.getLogger(__name__)
#: rows per catalogue commit
COMMIT_ROWS = 1000

#: a plot longer than this (characters) is cut at a word boundary and the cut noted
MAX_PLOT_CHARS = 10_000
_DATE = re.compile(r"^\s*(\d{4})(?:-\d{1,2}(?:-\d{1,2})?)?\s*$")
#: header column -> field, first present wins
_COLUMNS = {
    "tmdb_id": ("tmdb_id", "id"),
    "imdb_id": ("imdb_id",),
    "title": ("title", "original_title"),
    "plot": ("overview", "plot"),
    "genres": ("genres",),
    "year": ("year",),
    "date": ("release_date",),
}


@dataclass(frozen=True)
class TmdbConfig:
    """How TMDB rows merge into items (see the module doc)."""

    overwrite: bool = False
    add_unmatched: bool = False


@dataclass
class TmdbReport(IngestReport):
    """An :class:`IngestReport` plus the join's counts.

    ``matched``: items a row joined onto; ``rows``: data rows read;
    ``unmatched``: valid rows that matched no item (added as new items with
    ``add_unmatched``, then also counted in ``inserted``).
    """

    rows: int = 0
    matched: int = 0
    unmatched: int = 0

    def summary(self) -> str:
        return (
            f"{self.rows} rows read, {self.matched} items matched, {self.unmatched} rows matched no item; "
            + super().summary()
        )

    def to_dict(self) -> dict:
        return {**super().to_dict(), "rows": self.rows, "matched": self.matched, "unmatched": self.unmatched}


def parse_tmdb_genres(value: str) -> tuple[str, ...]:
    """TMDB genres in any of the published spellings, to a tuple of names.

    ``'[{"id": 28, "name": "Action"}]'`` (JSON), ``"[{'id': 28, 'name': 'Action'}]"``
    (a Python literal, as ``movies_metadata.csv`` has it), ``'["Action"]'`` or
    ``"Action|Drama"``. Raises ``ValueError`` with a one-line reason.
    """
    s = (value or "").strip()
    if not s:
        return ()
    if not s.startswith(("[", "{")):
        return tuple(g.strip() for g in s.split("|") if g.strip())
    try:
        data = json.loads(s)
    except json.JSONDecodeError:
        try:
            data = ast.literal_eval(s)  # literals only: never evaluates code
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise ValueError(f"{_short(s)} is neither JSON nor a list literal") from None
    if not isinstance(data, list):
        raise ValueError(f"{_short(s)} is not a list of genres")
    names = []
    for g in data:
        name = g.get("name") if isinstance(g, dict) else g
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{_short(s)}: genre {g!r} has no name")
        names.append(name.strip())
    return normalise_genres(names)


def parse_tmdb_id(value: str) -> int | None:
    """A positive TMDB id, None when empty; ``ValueError`` otherwise."""
    s = (value or "").strip()
    if not s:
        return None
    if s.endswith(".0"):
        s = s[:-2]
    if not s.isdigit() or int(s) <= 0:
        raise ValueError(f"{_short(s)} is not a TMDB id")
    return int(s)


def parse_release_year(value: str) -> int | None:
    """The year of a ``YYYY-MM-DD`` release date (or a bare year), None when empty."""
    s = (value or "").strip()
    if not s:
        return None
    m = _DATE.match(s)
    if not m:
        raise ValueError(f"{_short(s)} is not a date (YYYY-MM-DD)")
    return parse_year(m.group(1))


def clean_plot(value: str) -> tuple[str | None, bool]:
    """``(plot, was_cut)``: whitespace collapsed, None when empty, cut to ``MAX_PLOT_CHARS``."""
    s = " ".join((value or "").split())
    if not s:
        return None, False
    if len(s) <= MAX_PLOT_CHARS:
        return s, False
    cut = s[:MAX_PLOT_CHARS].rsplit(" ", 1)[0] or s[:MAX_PLOT_CHARS]
    return cut, True


def _short(s: str, n: int = 60) -> str:
    return repr(s if len(s) <= n else s[:n] + "...")


def _header_map(header: list[str], path: Path) -> dict[str, tuple[int, str]]:
    """field -> (column index, the column's name as the file spells it)."""
    names = [h.strip().lower() for h in header]
    pos = {}
    for fld, candidates in _COLUMNS.items():
        for c in candidates:
            if c in names:
                pos[fld] = (names.index(c), header[names.index(c)].strip())
                break
    if "tmdb_id" not in pos and "imdb_id" not in pos:
        raise InputError(f"{path}:1: header names no id column (tmdb_id, id or imdb_id); is this a TMDB file?")
    if "plot" not in pos and "genres" not in pos:
        raise InputError(f"{path}:1: header names neither overview/plot nor genres: nothing to import")
    return pos


def parse_row(fields: list[str], pos: dict[str, tuple[int, str]]) -> dict:
    """One row's values; raises ``_RowProblem(column, reason)``."""

    def get(name: str) -> str:
        return fields[pos[name][0]] if name in pos else ""

    def column(name: str) -> str:
        return pos[name][1] if name in pos else name

    out: dict = {}
    for name, parse, key in (
        ("tmdb_id", parse_tmdb_id, "tmdb_id"),
        ("genres", parse_tmdb_genres, "genres"),
        ("date", parse_release_year, "year"),
        ("year", parse_year, "year"),
    ):
        if name not in pos:
            continue
        try:
            value = parse(get(name))
        except ValueError as e:
            raise _RowProblem(column(name), str(e)) from None
        if value is not None or key not in out:
            out[key] = value
    raw_imdb = get("imdb_id").strip()
    out["imdb_id"] = normalise_imdb_id(raw_imdb) if raw_imdb else None
    if raw_imdb and out["imdb_id"] is None:
        raise _RowProblem(column("imdb_id"), f"{_short(raw_imdb)} is not an IMDb id")
    if out.get("tmdb_id") is None and out["imdb_id"] is None:
        raise _RowProblem(column("tmdb_id" if "tmdb_id" in pos else "imdb_id"), "no TMDB or IMDb id")
    out["title"] = " ".join(get("title").split()) or None
    out["plot"], out["plot_cut"] = clean_plot(get("plot"))
    out.setdefault("genres", ())
    out.setdefault("year", None)
    return out


class _RowProblem(Exception):
    def __init__(self, field_name: str | None, message: str):
        super().__init__(message)
        self.field = field_name
        self.message = message


def merge_tmdb(item: Item, row: dict, config: TmdbConfig) -> dict:
    """The field changes (for ``Catalog.update_fields``) that ``row`` brings to ``item``."""
    changes: dict = {}
    plot, genres, year = row["plot"], tuple(row["genres"]), row["year"]
    if plot and (config.overwrite or not item.plot) and plot != item.plot:
        changes["plot"] = plot
    if genres and (config.overwrite or not item.genres) and normalise_genres(genres) != tuple(item.genres):
        changes["genres"] = list(normalise_genres(genres))
    if year and (config.overwrite or item.year is None) and year != item.year:
        changes["year"] = year
    extra = dict(item.extra or {})
    new_extra = dict(extra)
    if row.get("tmdb_id") is not None:
        new_extra["tmdb_id"] = row["tmdb_id"]
    if row.get("imdb_id") and not item_imdb_id(item):
        new_extra["imdb_id"] = row["imdb_id"]
    if genres:
        new_extra["tmdb_genres"] = list(genres)
    if row.get("title"):
        new_extra["tmdb_title"] = row["title"]
    if new_extra != extra:
        changes["extra"] = new_extra
    return changes


def _new_item(row: dict) -> Item:
    key = f"{row['tmdb_id']}" if row.get("tmdb_id") is not None else row["imdb_id"]
    extra = {k: row[k] for k in ("tmdb_id", "imdb_id") if row.get(k) is not None}
    if row["genres"]:
        extra["tmdb_genres"] = list(row["genres"])
    if row["title"]:
        extra["tmdb_title"] = row["title"]
    return Item(
        id=item_id_for("tmdb", key),
        title=row["title"] or f"TMDB {key}",
        genres=tuple(row["genres"]),
        year=row["year"],
        plot=row["plot"],
        extra=extra,
    )


def import_tmdb(ws, path, config: TmdbConfig = TmdbConfig()) -> TmdbReport:
    """Join the rows of a TMDB CSV onto the catalogue of ``ws`` (see the module doc).

    Raises :class:`InputError` if the file cannot be read or its header is not a
    TMDB layout; bad rows go to ``report.errors`` with their line and field.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"{path}: no such file (expected a TMDB CSV such as tmdb_5000_movies.csv)")
    report = TmdbReport()
    lines = read_text_lines(path, report, path.name)
    join = _TmdbJoin(ws, path, report, config)
    # one commit per COMMIT_ROWS rows, not one per item (a 45K-row movies_metadata.csv); a run killed mid-way
    # keeps every committed batch, and a re-run finds those rows unchanged
    with ExitStack() as batch:
        batch.enter_context(ws.catalog.transaction())
        for n, fields in csv_records(lines, report, path.name):
            if report.rows and report.rows % COMMIT_ROWS == 0:
                batch.close()
                batch.enter_context(ws.catalog.transaction())
            join.record(n, fields)
    pos, cut = join.pos, join.cut
    if pos is None:
        raise InputError(f"{path}: empty file (expected a header such as id,title,overview,genres)")
    if cut:
        report.notes.append(f"{cut} plot(s) longer than {MAX_PLOT_CHARS} characters were cut")
    if report.unmatched and not config.add_unmatched:
        report.notes.append(
            f"{report.unmatched} row(s) matched no catalogue item by TMDB or IMDb id "
            "(--add-unmatched adds them as plot-only items)"
        )
    log.info("import --tmdb %s: %s", path, report.summary())
    return report


class _TmdbJoin:
    """The state of one :func:`import_tmdb` run: the header's column map, the lookups, the report."""

    def __init__(self, ws, path: Path, report: TmdbReport, config: TmdbConfig):
        self.cat, self.path, self.name, self.report, self.config = ws.catalog, path, path.name, report, config
        self.pos: dict | None = None
        self.seen: dict[tuple, int] = {}
        self.cut = 0
        self.by_tmdb: dict[int, list[str]] = {}
        self.by_imdb: dict[str, list[str]] = {}
        for item in self.cat.items():
            tid = (item.extra or {}).get("tmdb_id")
            if tid is not None:
                try:
                    self.by_tmdb.setdefault(int(tid), []).append(item.id)
                except (TypeError, ValueError):
                    pass
            iid = item_imdb_id(item)
            if iid:
                self.by_imdb.setdefault(iid, []).append(item.id)

    def record(self, n: int, fields: list[str]) -> None:
        """One CSV record: the header (its column map) or a row joined onto the catalogue."""
        if self.pos is None:
            self.pos = _header_map(fields, self.path)
            return
        self.report.rows += 1
        try:
            row = parse_row(fields, self.pos)
        except _RowProblem as e:
            self.report.error(self.name, n, e.field, f"{e.message}; row skipped")
            return
        key = (row.get("tmdb_id"), row.get("imdb_id"))
        if key in self.seen:
            self.report.error(self.name, n, self.pos.get("tmdb_id", self.pos.get("imdb_id"))[1], f"the same title is already on line {self.seen[key]}; row skipped")
            return
        self.seen[key] = n
        self.cut += row["plot_cut"]
        targets = self.by_tmdb.get(row["tmdb_id"], []) if row.get("tmdb_id") is not None else []
        if not targets and row.get("imdb_id"):
            targets = self.by_imdb.get(row["imdb_id"], [])
        if not targets:
            self.report.unmatched += 1
            if self.config.add_unmatched:
                item = _new_item(row)
                old = self.cat.maybe_get(item.id)
                if old is None:
                    self.cat.upsert(item)
                    self.report.count("inserted", item.id)
                else:
                    changes = merge_tmdb(old, row, self.config)
                    if changes:
                        self.cat.update_fields(item.id, **changes)
                    self.report.count("updated" if changes else "unchanged", item.id)
            return
        for item_id in targets:
            self.report.matched += 1
            changes = merge_tmdb(self.cat.get(item_id), row, self.config)
            if changes:
                self.cat.update_fields(item_id, **changes)
            self.report.count("updated" if changes else "unchanged", item_id)
