"""IMDb ids and the title.basics.tsv.gz merge (a small generated file with the real columns)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from reelmatch.catalog import Item
from reelmatch.errors import InputError
from reelmatch.ingest.imdb import (
    BASICS_COLUMNS, ImdbBasicsConfig, import_imdb_basics, iter_basics, normalise_imdb_id,
)  # fmt: skip

ROWS = [
    # tconst titleType primaryTitle originalTitle isAdult startYear endYear runtimeMinutes genres
    ("tt0000001", "short", "Carmencita", "Carmencita", "0", "1894", "\\N", "1", "Documentary,Short"),
    ("tt0068646", "movie", "The Godfather", "The Godfather", "0", "1972", "\\N", "175", "Crime,Drama"),
    ("tt0111161", "movie", "The Shawshank Redemption", "The Shawshank Redemption", "0", "1994", "\\N", "142", "Drama"),
    ("tt0114709", "movie", "Toy Story", "Toy Story", "0", "1995", "\\N", "81", "Adventure,Animation,Comedy"),
    ("tt0133093", "movie", 'The "Matrix"', "The Matrix", "0", "\\N", "\\N", "136", "Action,Sci-Fi"),
    ("tt0903747", "tvSeries", "Breaking Bad", "Breaking Bad", "0", "2008", "2013", "49", "\\N"),
    ("tt9999999", "movie", "Nobody Has This", "Nobody Has This", "0", "2020", "\\N", "\\N", "Horror"),
]


def write_basics(path: Path, rows=ROWS, extra_lines: list[str] = ()) -> Path:
    lines = ["\t".join(BASICS_COLUMNS)] + ["\t".join(r) for r in rows] + list(extra_lines)
    with gzip.open(path, "wt", encoding="utf-8", newline="") as f:
        f.write("\n".join(lines) + "\n")
    return path


def test_normalise_imdb_id():
    assert normalise_imdb_id("tt0111161") == "tt0111161"
    assert normalise_imdb_id("0114709") == "tt0114709"
    assert normalise_imdb_id(114709) == "tt0114709"
    assert normalise_imdb_id("tt10872600") == "tt10872600"
    assert normalise_imdb_id("TT111161") == "tt0111161"
    for bad in (None, "", "#NAME?", "tt", "nm0000001", "tt0000000", True):
        assert normalise_imdb_id(bad) is None


def test_iter_basics_streams_rows_with_nulls(tmp_path):
    p = write_basics(tmp_path / "title.basics.tsv.gz", extra_lines=["tt0000002\tshort\ttoo few fields", "xx123\tmovie\tA\tA\t0\t2000\t\\N\t90\tDrama"])
    from reelmatch.ingest.imdb import ImdbBasicsReport

    rep = ImdbBasicsReport()
    rows = {r["tconst"]: r for _, r in iter_basics(p, rep)}
    assert len(rows) == len(ROWS)
    assert rows["tt0903747"]["genres"] == () and rows["tt0903747"]["startYear"] == 2008
    assert rows["tt0133093"]["startYear"] is None and rows["tt0133093"]["primaryTitle"] == 'The "Matrix"'
    assert rows["tt0114709"]["genres"] == ("Adventure", "Animation", "Comedy")
    assert rows["tt0114709"]["runtimeMinutes"] == "81" and rows["tt0068646"]["endYear"] is None
    assert rep.bad_rows == [
        "title.basics.tsv.gz:9: 3 fields, expected 9",
        "title.basics.tsv.gz:10: field tconst: 'xx123' is not an IMDb id",
    ]


def test_iter_basics_rejects_other_files(tmp_path):
    p = tmp_path / "x.tsv.gz"
    with gzip.open(p, "wt") as f:
        f.write("a\tb\n1\t2\n")
    with pytest.raises(InputError, match="header lacks column"):
        list(iter_basics(p))
    with pytest.raises(InputError, match="no such file"):
        list(iter_basics(tmp_path / "missing.tsv.gz"))


def test_import_basics_merges_genres_years_titles(ws, tmp_path):
    p = write_basics(tmp_path / "title.basics.tsv.gz")
    cat = ws.catalog
    # a crawled item (id = IMDb id), a MovieLens-style item (extra imdb_id without padding),
    # a file item without IMDb id, and an item whose IMDb id is absent from the file
    cat.upsert(Item(id="tt0111161", title="Shawshank", genres=("Drama",), source="https://x.org/a.mp4"))
    cat.upsert(Item(id="ml-1", title="Toy Story (1995)", genres=("Children",), extra={"imdb_id": "tt114709"}))
    cat.upsert(Item(id="ml-2", title="The Matrix", year=1999, extra={"imdb_id": "tt0133093"}))
    cat.upsert(Item(id="file-1", title="red box", genres=("Horror",)))
    cat.upsert(Item(id="ml-3", title="Lost", extra={"imdb_id": "tt7777777"}))
    rep = import_imdb_basics(ws, p)
    assert (rep.matched, rep.updated, rep.not_found) == (3, 3, ["tt7777777"])
    assert rep.rows == len(ROWS) and not rep.stopped_early and rep.bad_rows == []

    s = cat.get("tt0111161")
    assert s.title == "Shawshank" and s.year == 1994 and s.genres == ("Drama",)
    assert s.extra["imdb_title"] == "The Shawshank Redemption" and s.extra["imdb_type"] == "movie"
    t = cat.get("ml-1")
    assert t.genres == ("Children", "Adventure", "Animation", "Comedy") and t.year == 1995
    m = cat.get("ml-2")
    assert m.year == 1999 and m.genres == ("Action", "Sci-Fi")  # \N year: kept
    assert cat.get("file-1").genres == ("Horror",)

    # idempotent
    rep2 = import_imdb_basics(ws, p)
    assert (rep2.matched, rep2.updated, rep2.unchanged) == (3, 0, 3)

    # IMDb authoritative
    rep3 = import_imdb_basics(ws, p, ImdbBasicsConfig(overwrite=True))
    assert rep3.updated == 3
    s = cat.get("tt0111161")
    assert s.title == "The Shawshank Redemption" and s.extra["imdb_title"] == s.title
    assert cat.get("ml-1").genres == ("Adventure", "Animation", "Comedy")
    assert cat.get("ml-2").title == 'The "Matrix"' and cat.get("ml-2").year == 1999


def test_import_basics_stops_reading_when_all_found(ws, tmp_path):
    # sorted by tconst like the real file; a corrupt tail after the last wanted id is never read
    p = tmp_path / "title.basics.tsv.gz"
    data = gzip.compress(("\t".join(BASICS_COLUMNS) + "\n" + "\n".join("\t".join(r) for r in ROWS[:3]) + "\n").encode())
    p.write_bytes(data + b"\x00garbage that is not gzip" * 100)
    ws.catalog.upsert(Item(id="tt0068646", title="Godfather"))
    rep = import_imdb_basics(ws, p)
    assert rep.matched == 1 and rep.stopped_early and rep.rows == 2
    assert ws.catalog.get("tt0068646").genres == ("Crime", "Drama")


def test_truncated_file_reports_and_keeps_what_was_read(ws, tmp_path):
    p = write_basics(tmp_path / "t.tsv.gz")
    p.write_bytes(p.read_bytes()[:-20])
    ws.catalog.upsert(Item(id="tt0000001", title="Carmencita"))
    ws.catalog.upsert(Item(id="tt9999999", title="Last row"))
    rep = import_imdb_basics(ws, p)
    assert rep.matched == 1 and rep.not_found == ["tt9999999"]
    assert any("truncated or corrupt" in b for b in rep.bad_rows)


def test_malformed_line_of_a_catalogue_id_is_reported(ws, tmp_path):
    p = write_basics(tmp_path / "b.tsv.gz", rows=ROWS[:2], extra_lines=["tt0111161\tmovie\tShawshank"])
    ws.catalog.upsert(Item(id="tt0111161", title="Shawshank"))
    rep = import_imdb_basics(ws, p)
    assert rep.matched == 0 and rep.not_found == ["tt0111161"]
    assert rep.errors == ["b.tsv.gz:4: 3 fields, expected 9"] and rep.imported == 0
