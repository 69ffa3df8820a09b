"""``import --movielens DIR``: MovieLens movies + links + the YouTube trailer list.

Reads, from ``DIR``:

- ``movies.csv``  ``movieId,title,genres`` (genres ``A|B``; ``(no genres listed)``
  means none; the year is the ``(1995)`` at the end of the title);
- ``links.csv``   ``movieId,imdbId,tmdbId`` (optional; stored as
  ``extra["imdb_id"] = "tt0114709"`` and ``extra["tmdb_id"]``);
- ``ml-youtube.csv`` ``youtubeId,movieId,title``: one trailer item per row, with
  the URL ``https://www.youtube.com/watch?v=<youtubeId>``.

The published trailer list has rows whose id a spreadsheet mangled (``#NAME?``)
and titles with broken quoting: such rows are reported with their file and line
number and skipped; every valid row imports.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from reelmatch.catalog.db import Item, item_id_for
from reelmatch.errors import InputError
from reelmatch.ingest.csvlines import csv_records, read_text_lines
from reelmatch.ingest.fields import YOUTUBE_ID, split_movielens_title, youtube_url
from reelmatch.ingest.report import IngestReport
from reelmatch.ingest.store import save_item

log = logging.getLogger(__name__)

NO_GENRES = "(no genres listed)"
TRAILERS = "ml-youtube.csv"


def _table(path: Path, columns: tuple[str, ...], report: IngestReport):
    """Rows of a MovieLens CSV as ``(line, {column: value})``; the header must name ``columns``."""
    lines = read_text_lines(path, report, path.name)
    header = None
    # MovieLens rows never span lines: a quote left open breaks only its own line
    for n, fields in csv_records(lines, report, path.name, max_lines=1):
        if header is None:
            header = [h.strip() for h in fields]
            missing = [c for c in columns if c not in header]
            if missing:
                raise InputError(
                    f"{path}:{n}: header {','.join(header)!r} lacks {', '.join(missing)}; expected {','.join(columns)}"
                )
            continue
        yield n, dict(zip(header, fields))


def _movie_id(value: str) -> int:
    v = value.strip()
    if not v.isdigit() or int(v) <= 0:
        raise ValueError(f"{value!r} is not a MovieLens id")
    return int(v)


def import_movielens(ws, directory: str | os.PathLike, *, progress: Callable[[int], None] | None = None) -> IngestReport:
    """Import a MovieLens folder as trailer items (see the module doc).

    Raises :class:`InputError` if ``movies.csv`` or ``ml-youtube.csv`` is missing
    or has the wrong header; bad rows go to ``report.errors``.
    """
    d = Path(directory).expanduser().absolute()
    if not d.is_dir():
        raise InputError(f"{d}: no such folder (expected a MovieLens folder with movies.csv and {TRAILERS})")
    for name in ("movies.csv", TRAILERS):
        if not (d / name).is_file():
            hint = " (the MovieLens YouTube trailer list, ml-20m-youtube)" if name == TRAILERS else ""
            raise InputError(f"{d}: no {name}{hint}")
    report = IngestReport()

    movies: dict[int, tuple[str, tuple[str, ...]]] = {}
    first_line: dict[int, int] = {}
    for n, row in _table(d / "movies.csv", ("movieId", "title", "genres"), report):
        try:
            mid = _movie_id(row["movieId"])
        except ValueError as e:
            report.error("movies.csv", n, "movieId", f"{e}; row skipped")
            continue
        if mid in movies:
            report.error("movies.csv", n, "movieId", f"movie {mid} is already on line {first_line[mid]}; row skipped")
            continue
        if not row["title"].strip():
            report.error("movies.csv", n, "title", "missing title; row skipped")
            continue
        raw = row["genres"].strip()
        genres = () if raw in ("", NO_GENRES) else tuple(g for g in raw.split("|") if g.strip())
        movies[mid], first_line[mid] = (row["title"].strip(), genres), n

    links: dict[int, dict] = {}
    if (d / "links.csv").is_file():
        for n, row in _table(d / "links.csv", ("movieId", "imdbId", "tmdbId"), report):
            try:
                mid = _movie_id(row["movieId"])
            except ValueError as e:
                report.error("links.csv", n, "movieId", f"{e}; row skipped")
                continue
            ids = {}
            imdb, tmdb = row["imdbId"].strip(), row["tmdbId"].strip()
            if imdb:
                if not imdb.isdigit():
                    report.error("links.csv", n, "imdbId", f"{imdb!r} is not an IMDb number; row skipped")
                    continue
                ids["imdb_id"] = "tt%07d" % int(imdb)
            if tmdb:
                if not tmdb.isdigit():
                    report.error("links.csv", n, "tmdbId", f"{tmdb!r} is not a TMDB number; row skipped")
                    continue
                ids["tmdb_id"] = int(tmdb)
            links[mid] = ids
    else:
        report.notes.append(f"{d / 'links.csv'} not found: no IMDb/TMDB ids")

    cat = ws.catalog
    seen: dict[str, int] = {}
    no_movie = 0
    for k, (n, row) in enumerate(_table(d / TRAILERS, ("youtubeId", "movieId", "title"), report), 1):
        yid = row["youtubeId"].strip()
        if not YOUTUBE_ID.match(yid):
            report.error(TRAILERS, n, "youtubeId", f"{yid!r} is not a YouTube video id; row skipped")
            continue
        try:
            mid = _movie_id(row["movieId"])
        except ValueError as e:
            report.error(TRAILERS, n, "movieId", f"{e}; row skipped")
            continue
        if yid in seen:
            report.error(TRAILERS, n, "youtubeId", f"{yid} is already on line {seen[yid]}; row skipped")
            continue
        seen[yid] = n
        raw_title, genres = movies.get(mid, (row["title"].strip(), ()))
        if mid not in movies:
            no_movie += 1
        if not raw_title:
            report.error(TRAILERS, n, "title", "missing title and movie not in movies.csv; row skipped")
            continue
        title, year = split_movielens_title(raw_title)
        url = youtube_url(yid)
        item_id = item_id_for("url", url)
        old = cat.maybe_get(item_id)
        extra = dict(old.extra) if old is not None else {}
        extra.update({"movielens_id": mid, "movielens_title": raw_title, "youtube_id": yid, **links.get(mid, {})})
        item = Item(
            id=item_id,
            title=title,
            kind="trailer",
            genres=genres,
            year=year,
            plot=old.plot if old is not None else None,
            source=url,
            media_path=old.media_path if old is not None else None,
            sha256=old.sha256 if old is not None else None,
            duration=old.duration if old is not None else None,
            extra=extra,
            flags=old.flags if old is not None else (),
        )
        try:
            outcome = save_item(cat, item, old)
        except InputError as e:
            report.error(TRAILERS, n, None, f"{e}; row skipped")
            continue
        report.count(outcome, item_id)
        if progress is not None:
            progress(k)
    if no_movie:
        report.notes.append(f"{no_movie} trailers name a movieId missing from movies.csv: imported without genres")
    log.info("import --movielens %s: %s", d, report.summary())
    return report
