"""IMDb ids and IMDb's published ``title.basics.tsv.gz`` dataset file.

``import_imdb_basics`` merges genres, start years and titles from the dataset
(https://developer.imdb.com/non-commercial-datasets/, personal and
non-commercial use only) into catalogue items that carry an IMDb id: the item id
itself (``tt0111161``, as crawled manifests make them) or ``extra["imdb_id"]``
(MovieLens and manifest imports). The file is streamed line by line (it is
several GB uncompressed) and reading stops once every catalogue id was seen.
"""

from __future__ import annotations

import gzip
import io
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from reelmatch.errors import InputError

log = logging.getLogger(__name__)

_IMDB_ID = re.compile(r"^\s*(?:tt)?0*(\d{1,10})\s*$", re.IGNORECASE)
_IMDB_ID_IN_TEXT = re.compile(r"\btt(\d{7,10})\b")
#: columns of title.basics.tsv(.gz), in the published order
BASICS_COLUMNS = (
    "tconst", "titleType", "primaryTitle", "originalTitle", "isAdult",
    "startYear", "endYear", "runtimeMinutes", "genres",
)  # fmt: skip
NULL = "\\N"


def normalise_imdb_id(value) -> str | None:
    """``"tt0111161"``, ``"0111161"``, ``111161`` -> ``"tt0111161"`` (None if not an IMDb id).

    IMDb ids are ``tt`` + at least 7 digits, zero-padded.
    """
    if value is None or isinstance(value, bool):
        return None
    m = _IMDB_ID.match(str(value))
    if not m or int(m.group(1)) == 0:
        return None
    return f"tt{int(m.group(1)):07d}"


def find_imdb_id(text: str) -> str | None:
    """The first ``tt1234567`` in ``text`` (a line of an ids file, a title URL)."""
    m = _IMDB_ID_IN_TEXT.search(text or "")
    return normalise_imdb_id(m.group(1)) if m else None


def item_imdb_id(item) -> str | None:
    """The IMDb id of a catalogue item: ``extra["imdb_id"]`` or its id."""
    return normalise_imdb_id((item.extra or {}).get("imdb_id")) or (
        normalise_imdb_id(item.id) if str(item.id).lower().startswith("tt") else None
    )


@dataclass(frozen=True)
class ImdbBasicsConfig:
    """How dataset rows merge into items.

    By default genres are added to the item's (union, item's first), the year
    is filled in when the item has none, and the title is kept (the IMDb title
    always goes to ``extra["imdb_title"]``). ``overwrite=True`` makes IMDb authoritative:
    title, year and genres are replaced where the dataset has a value.
    """

    overwrite: bool = False


@dataclass
class ImdbBasicsReport:
    rows: int = 0  # data lines read
    matched: int = 0  # catalogue items whose IMDb id is in the file
    updated: int = 0  # items changed
    unchanged: int = 0
    bad_rows: list[str] = field(default_factory=list)  # one line each: "file:line: reason"
    not_found: list[str] = field(default_factory=list)  # catalogue IMDb ids absent from the file
    stopped_early: bool = False  # stopped reading once every id was found

    # the interface ``reelmatch import`` prints (shared with the manifest/MovieLens reports)
    @property
    def errors(self) -> list[str]:
        return list(self.bad_rows)

    @property
    def imported(self) -> int:
        return self.matched

    @property
    def notes(self) -> list[str]:
        if not self.not_found:
            return []
        shown = ", ".join(self.not_found[:10]) + (" ..." if len(self.not_found) > 10 else "")
        return [f"{len(self.not_found)} catalogue IMDb id(s) not in the file: {shown}"]

    def summary(self) -> str:
        return (
            f"{self.rows} rows read{' (then stopped: every id found)' if self.stopped_early else ''}, "
            f"{self.matched} items matched, {self.updated} updated, {self.unchanged} unchanged, "
            f"{len(self.bad_rows)} bad rows, {len(self.not_found)} ids not in the file"
        )

    def to_dict(self) -> dict:
        return {
            "rows": self.rows, "matched": self.matched, "updated": self.updated,
            "unchanged": self.unchanged, "bad_rows": list(self.bad_rows),
            "not_found": list(self.not_found), "stopped_early": self.stopped_early,
        }  # fmt: skip


def _open_text(path: Path) -> io.TextIOBase:
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace", newline="")
    return open(path, encoding="utf-8", errors="replace", newline="")


def _null(v: str) -> str | None:
    v = v.strip()
    return None if v in (NULL, "") else v


def iter_basics(path: str | Path, report: ImdbBasicsReport | None = None, want: set[str] | None = None):
    """Stream ``(line_number, row dict)`` of a title.basics TSV (gzip or plain).

    Values ``\\N`` become None; ``genres`` becomes a tuple. Malformed rows are
    skipped and noted in ``report.bad_rows``. The header must name the published
    columns (``InputError`` otherwise). With ``want`` (normalised ids), only
    those rows are parsed and yielded (the fast path over the 10M-row file).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        f = _open_text(path)
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e}") from e
    with f:
        try:
            header = f.readline().rstrip("\r\n").split("\t")
        except (OSError, EOFError) as e:
            raise InputError(f"{path}: not a readable (gzip) TSV file: {e}") from e
        missing = [c for c in ("tconst", "primaryTitle", "startYear", "genres") if c not in header]
        if missing:
            raise InputError(
                f"{path}:1: header lacks column(s) {', '.join(missing)}; expected IMDb title.basics columns "
                f"{' '.join(BASICS_COLUMNS)}"
            )
        pos = {c: i for i, c in enumerate(header)}
        ncol = len(header)
        lineno = 1
        while True:
            try:
                line = f.readline()
            except (OSError, EOFError) as e:  # truncated gzip: keep what was read
                if report is not None:
                    report.bad_rows.append(f"{path.name}:{lineno + 1}: file is truncated or corrupt ({e})")
                return
            if not line:
                return
            lineno += 1
            if report is not None:
                report.rows = lineno - 1
            line = line.rstrip("\r\n")
            if not line:
                continue
            if want is not None:
                raw = line[: line.find("\t")]
                if raw not in want and (raw[2:].isdigit() and len(raw) >= 9 or normalise_imdb_id(raw) not in want):
                    continue
            parts = line.split("\t")
            if len(parts) != ncol:
                if report is not None:
                    report.bad_rows.append(f"{path.name}:{lineno}: {len(parts)} fields, expected {ncol}")
                continue
            row = {c: _null(parts[i]) for c, i in pos.items()}
            tconst = normalise_imdb_id(row["tconst"])
            if tconst is None:
                if report is not None:
                    report.bad_rows.append(f"{path.name}:{lineno}: field tconst: {parts[pos['tconst']]!r} is not an IMDb id")
                continue
            row["tconst"] = tconst
            g = row.get("genres")
            row["genres"] = tuple(x.strip() for x in g.split(",") if x.strip()) if g else ()
            y = row.get("startYear")
            row["startYear"] = int(y) if y and y.isdigit() else None
            yield lineno, row


def merge_basics(item, row: dict, config: ImdbBasicsConfig) -> dict:
    """The field changes (for ``Catalog.update_fields``) that ``row`` brings to ``item``."""
    from reelmatch.catalog.db import normalise_genres

    changes: dict = {}
    title, year, genres = row.get("primaryTitle"), row.get("startYear"), tuple(row.get("genres") or ())
    if config.overwrite:
        if title and title != item.title:
            changes["title"] = title
        if year and year != item.year:
            changes["year"] = year
        if genres and normalise_genres(genres) != tuple(item.genres):
            changes["genres"] = list(normalise_genres(genres))
    else:
        if year and item.year is None:
            changes["year"] = year
        merged = normalise_genres(tuple(item.genres) + genres)
        if merged != tuple(item.genres):
            changes["genres"] = list(merged)
    extra = dict(item.extra or {})
    new_extra = dict(extra)
    new_extra["imdb_id"] = row["tconst"]
    if title:
        new_extra["imdb_title"] = title
    if row.get("titleType"):
        new_extra["imdb_type"] = row["titleType"]
    if new_extra != extra:
        changes["extra"] = new_extra
    return changes


def import_imdb_basics(ws, path: str | Path, config: ImdbBasicsConfig = ImdbBasicsConfig()) -> ImdbBasicsReport:
    """Merge ``title.basics.tsv(.gz)`` into the catalogue items of ``ws`` that have an IMDb id.

    Returns counts: rows read, items matched / updated / unchanged, bad rows
    (one line each, with the line number) and catalogue ids missing from the file.
    """
    report = ImdbBasicsReport()
    wanted: dict[str, list] = {}
    for item in ws.catalog.items():
        iid = item_imdb_id(item)
        if iid:
            wanted.setdefault(iid, []).append(item.id)
    if not wanted:
        log.warning("no catalogue item has an IMDb id; nothing to merge from %s", path)
    remaining = set(wanted)
    rows = iter_basics(path, report, want=set(wanted)) if remaining else iter(())
    for _lineno, row in rows:
        if row["tconst"] not in remaining:  # a repeated row: the first one counts
            continue
        remaining.discard(row["tconst"])
        for item_id in wanted[row["tconst"]]:
            item = ws.catalog.get(item_id)
            report.matched += 1
            changes = merge_basics(item, row, config)
            if changes:
                ws.catalog.update_fields(item_id, **changes)
                report.updated += 1
            else:
                report.unchanged += 1
        if not remaining:  # the rest of the file is not read
            report.stopped_early = True
            break
    report.not_found = sorted(remaining)
    for line in report.bad_rows:
        log.warning("%s", line)
    return report
