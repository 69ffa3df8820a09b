"""``import FILE``: CSV/TSV or JSONL manifests into the catalogue.

Fields (a CSV header names them, in any order and case):

| field  | meaning |
|--------|---------|
| title  | required |
| genres | ``A|B`` (JSONL: also a list of strings) |
| kind   | ``trailer`` (default) or ``ad`` |
| year   | release year |
| plot   | plot text |
| path   | a local video file; relative paths are relative to the manifest's folder |
| url    | an http(s) URL for ``reelmatch download`` |
| id     | optional stable id; default derived from the url, else the file's content |
| flags  | content flags for brand safety, ``violence|alcohol`` (JSONL: also a list) |

Other fields are kept in ``Item.extra``. An id like ``tt0114709`` is also stored
as ``extra["imdb_id"]``. Re-importing updates items, never duplicates them. A bad
row is reported with its line number and field; the other rows import.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from reelmatch.catalog.db import Item, item_id_for
from reelmatch.errors import InputError
from reelmatch.ingest.csvlines import csv_records, read_text_lines
from reelmatch.ingest.fields import IMDB_ID, normalise_url, parse_genres, parse_kind, parse_year
from reelmatch.ingest.files import media_facts
from reelmatch.ingest.probe import probe_video, sha256_file
from reelmatch.ingest.report import IngestReport
from reelmatch.ingest.store import MEDIA_EXTRA_KEYS, save_item

log = logging.getLogger(__name__)

FIELDS = ("id", "title", "genres", "kind", "year", "plot", "path", "url", "flags")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


class RowProblem(Exception):
    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def manifest_format(path: Path) -> str:
    """``jsonl``, ``csv`` or ``tsv`` from the extension, else from the first character."""
    ext = path.suffix.lower()
    if ext in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if ext in (".tsv", ".tab"):
        return "tsv"
    if ext == ".csv":
        return "csv"
    with open(path, "rb") as f:
        head = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return "jsonl" if head.startswith(b"{") else "csv"


def read_manifest_rows(path: Path, report: IngestReport) -> Iterator[tuple[int, dict]]:
    """``(line number, row dict)`` of a manifest; unreadable rows go to ``report``."""
    name = path.name
    lines = read_text_lines(path, report, name)
    fmt = manifest_format(path)
    if fmt == "jsonl":
        for n, line in enumerate(lines, 1):
            if line is None or not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                report.error(name, n, None, f"malformed JSON ({e.msg} at column {e.colno}); row skipped")
                continue
            if not isinstance(row, dict):
                report.error(name, n, None, f"expected a JSON object, found {type(row).__name__}; row skipped")
                continue
            yield n, {str(k).strip().lower(): v for k, v in row.items()}
        return
    records = csv_records(lines, report, name, delimiter="\t" if fmt == "tsv" else ",")
    header = None
    for n, fields in records:
        if header is None:
            header = [h.strip().lower() for h in fields]
            if "title" not in header:
                raise InputError(
                    f"{path}:{n}: the header has no 'title' column (columns: {', '.join(header) or 'none'}); "
                    f"expected {', '.join(FIELDS)}"
                )
            continue
        yield n, {h: v for h, v in zip(header, fields) if h}


def import_manifest(ws, path: str | os.PathLike, *, progress: Callable[[int], None] | None = None) -> IngestReport:
    """Import a CSV/TSV or JSONL manifest (see the module doc for its fields).

    Returns an :class:`IngestReport`; bad rows are in ``report.errors`` (file,
    line, field, reason) and every other row is imported. Raises
    :class:`InputError` only when the file as a whole cannot be read.
    """
    path = Path(path).expanduser().absolute()
    if not path.is_file():
        raise InputError(f"{path}: no such manifest file")
    report = IngestReport()
    cat = ws.catalog
    by_path = {it.media_path: it for it in cat.items() if it.media_path}
    seen: dict[str, int] = {}
    for n, (line, row) in enumerate(read_manifest_rows(path, report), 1):
        try:
            item, old = _row_item(ws, row, path.parent, by_path)
            if item.id in seen:
                raise RowProblem("id", f"item {item.id} is already given on line {seen[item.id]}")
            seen[item.id] = line
            if old is not None and old.source != item.source and (old.is_url or item.is_url):
                cat.clear_stage("download", item.id)  # another URL: download again
            outcome = save_item(cat, item, old)
        except RowProblem as e:
            report.error(path.name, line, e.field, f"{e.message}; row skipped")
            continue
        except InputError as e:
            report.error(path.name, line, None, f"{e}; row skipped")
            continue
        report.count(outcome, item.id)
        if item.media_path:
            by_path[item.media_path] = cat.get(item.id)
        if progress is not None:
            progress(n)
    log.info("import %s: %s", path.name, report.summary())
    return report


def _text(row: dict, key: str) -> str | None:
    v = row.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (str, int, float)):
        raise RowProblem(key, f"expected text, found {json.dumps(v)[:60]}")
    s = str(v).strip()
    return s or None


def _row_item(ws, row: dict, base: Path, by_path: dict) -> tuple[Item, Item | None]:
    title = _text(row, "title")
    if not title:
        raise RowProblem("title", "missing title")
    fields = {}
    for key, parse in (("kind", parse_kind), ("year", parse_year)):
        try:
            fields[key] = parse(row.get(key))
        except ValueError as e:
            raise RowProblem(key, str(e)) from None
    try:
        genres = parse_genres(row.get("genres"), allow_list=True)
    except ValueError as e:
        raise RowProblem("genres", str(e)) from None
    try:
        flags = parse_genres(row.get("flags"), allow_list=True)
    except ValueError as e:
        raise RowProblem("flags", str(e).replace("genre", "flag")) from None
    plot = _text(row, "plot")
    given_id = _text(row, "id")
    if given_id is not None and not _ID_RE.match(given_id):
        raise RowProblem("id", f"{given_id!r} is not a usable id (letters, digits, . _ : - ; at most 128)")
    url = _text(row, "url")
    if url is not None:
        try:
            url = normalise_url(url)
        except ValueError as e:
            raise RowProblem("url", str(e)) from None
    raw_path = _text(row, "path")
    media = None
    if raw_path is not None:
        media = _local_media(Path(raw_path), base, by_path)
    if url is None and media is None and given_id is None:
        raise RowProblem("path", "the row has neither a path nor a url (nor an id)")

    cat = ws.catalog
    if given_id is not None:
        item_id = given_id
    elif url is not None:
        item_id = item_id_for("url", url)
    else:
        same = cat.by_sha256(media["sha256"]) or media["old_here"]
        item_id = same.id if same is not None else item_id_for("file", media["sha256"])
    old = cat.maybe_get(item_id)

    extra = dict(old.extra) if old is not None else {}
    for k, v in row.items():
        if k not in FIELDS and v not in (None, "", [], {}):
            extra[k] = v
    if given_id is not None and IMDB_ID.match(given_id):
        extra["imdb_id"] = given_id
    source = url or (str(media["path"]) if media else (old.source if old is not None else None))
    item = Item(
        id=item_id,
        title=title,
        kind=fields["kind"],
        genres=genres,
        flags=flags,
        year=fields["year"],
        plot=plot,
        source=source,
        extra=extra,
    )
    if media is not None:
        extra.update(media["facts"])
        item = replace(item, media_path=str(media["path"]), sha256=media["sha256"], duration=media["duration"])
    elif old is not None and old.source == source:
        item = replace(item, media_path=old.media_path, sha256=old.sha256, duration=old.duration)
    else:  # a new source: whatever media the old one had is gone
        for k in MEDIA_EXTRA_KEYS:
            extra.pop(k, None)
    return item, old


def _local_media(p: Path, base: Path, by_path: dict) -> dict:
    p = p.expanduser()
    if not p.is_absolute():
        p = base / p
    p = p.resolve()
    if not p.exists():
        raise RowProblem("path", f"{p}: no such file")
    if not p.is_file():
        raise RowProblem("path", f"{p}: not a file")
    if not os.access(p, os.R_OK):
        raise RowProblem("path", f"{p}: not readable")
    try:
        info = probe_video(p)
        facts = media_facts(p, info)
        old_here = by_path.get(str(p))
        if old_here is not None and old_here.sha256 and (old_here.extra or {}).get("file_stat") == facts["file_stat"]:
            sha = old_here.sha256
        else:
            sha = sha256_file(p)
    except InputError as e:
        raise RowProblem("path", f"{p}: {e}") from None
    except OSError as e:
        raise RowProblem("path", f"{p}: unreadable ({e.strerror or e})") from None
    return {"path": p, "sha256": sha, "duration": info.duration, "facts": facts, "old_here": old_here}
