"""``import --tmdb``: the three TMDB CSV layouts, the join onto MovieLens items, bad rows by line and field."""

from __future__ import annotations

import json

import pytest

from reelmatch.catalog.db import item_id_for
from reelmatch.errors import InputError
from reelmatch.ingest import import_movielens
from reelmatch.ingest.tmdb import (
    MAX_PLOT_CHARS, TmdbConfig, clean_plot, import_tmdb, parse_release_year, parse_tmdb_genres,
)  # fmt: skip

# TMDB 5000 layout: genres as JSON, a multi-line quoted overview, release_date
TMDB5000 = (
    "budget,genres,homepage,id,keywords,original_language,original_title,overview,popularity,"
    "production_companies,production_countries,release_date,revenue,runtime,spoken_languages,status,"
    "tagline,title,vote_average,vote_count\n"
    '30000000,"[{""id"": 16, ""name"": ""Animation""}, {""id"": 35, ""name"": ""Comedy""}]",,862,[],en,'
    'Toy Story,"Led by Woody, Andy\'s toys live happily in his room.\nThen Buzz arrives.",21.9,[],[],'
    "1995-10-30,373554033,81,[],Released,,Toy Story,7.7,5415\n"
    '62000000,"[{""id"": 35, ""name"": ""Comedy""}, {""id"": 18, ""name"": ""Drama""}]",,9087,[],en,'
    "The American President,A widowed U.S. president falls for a lobbyist.,10.1,[],[],1995-11-17,"
    "107879496,114,[],Released,,The American President,6.5,200\n"
    '1,"[{""id"": 18, ""name"": ""Drama""}]",,278,[],en,Shawshank,Two imprisoned men bond.,1,[],[],'
    "1994-09-23,1,142,[],Released,,The Shawshank Redemption,8.5,8205\n"
    '1,"[{""id"": 99}]",,5,[],en,Four Rooms,No names here.,1,[],[],1995-12-09,1,98,[],Released,,Four Rooms,6,5\n'
    '1,"[{""id"": 18, ""name"": ""Drama""}]",,abc,[],en,Bad id,x,1,[],[],1995-12-09,1,98,[],Released,,Bad,6,5\n'
    '1,"[{""id"": 18, ""name"": ""Drama""}]",,77,[],en,Bad date,x,1,[],[],December 1995,1,98,[],Released,,Bad date,6,5\n'
    '1,"[{""id"": 18, ""name"": ""Drama""}]",,99999,[],en,Not in catalogue,A plot.,1,[],[],2001-01-01,1,98,[],'
    "Released,,Not In Catalogue,6,5\n"
)


def _movielens(d):
    d.mkdir(parents=True, exist_ok=True)
    (d / "movies.csv").write_text(
        "movieId,title,genres\n1,Toy Story (1995),Animation|Children|Comedy\n"
        '11,"American President, The (1995)",Comedy|Drama|Romance\n1920,"Shawshank Redemption, The (1994)",(no genres listed)\n'
    )
    (d / "links.csv").write_text("movieId,imdbId,tmdbId\n1,0114709,862\n11,0112346,9087\n1920,0111161,\n")
    (d / "ml-youtube.csv").write_text(
        "youtubeId,movieId,title\nK26_sDKnvMU,1,Toy Story (1995)\nMa4xqVRRqaA,11,American President (1995)\n"
        "kUQ_u-4f5dg,1920,Shawshank Redemption (1994)\n"
    )
    return d


def test_field_parsers():
    assert parse_tmdb_genres('[{"id": 28, "name": "Action"}, {"id": 18, "name": "Drama"}]') == ("Action", "Drama")
    assert parse_tmdb_genres("[{'id': 16, 'name': 'Animation'}]") == ("Animation",)  # movies_metadata.csv
    assert parse_tmdb_genres("Adventure|Science Fiction") == ("Adventure", "Science Fiction")
    assert parse_tmdb_genres("[]") == () and parse_tmdb_genres("") == ()
    for bad in ("[{'id': 1}]", "[{'name': __import__('os').system('true')}]", "{'name': 'x'}", "[1, 2"):
        with pytest.raises(ValueError):
            parse_tmdb_genres(bad)
    assert parse_release_year("1995-10-30") == 1995 and parse_release_year("") is None
    with pytest.raises(ValueError, match="not a date"):
        parse_release_year("30/10/1995")
    plot, cut = clean_plot("word " * (MAX_PLOT_CHARS // 2))
    assert cut and len(plot) <= MAX_PLOT_CHARS and plot.endswith("word")
    assert clean_plot("  two\n lines ") == ("two lines", False) and clean_plot(" \n") == (None, False)


def test_tmdb5000_joins_movielens_items(ws, tmp_path):
    import_movielens(ws, _movielens(tmp_path / "ml"))
    p = tmp_path / "tmdb_5000_movies.csv"
    p.write_text(TMDB5000)
    rep = import_tmdb(ws, p)
    where = {(e.line, e.field) for e in rep.errors}
    # line 2-3: Toy Story (a quoted overview over two lines); 6: Four Rooms' genre has no name;
    # 7: "abc" is not an id; 8: "December 1995" is not a date
    assert where == {(6, "genres"), (7, "id"), (8, "release_date")}, [str(e) for e in rep.errors]
    assert (rep.rows, rep.matched, rep.unmatched) == (7, 2, 2)
    cat = ws.catalog
    toy = cat.get(item_id_for("url", "https://www.youtube.com/watch?v=K26_sDKnvMU"))
    assert toy.plot == "Led by Woody, Andy's toys live happily in his room. Then Buzz arrives."
    assert toy.genres == ("Animation", "Children", "Comedy")  # MovieLens genres kept: gaps only are filled
    assert toy.extra["tmdb_genres"] == ["Animation", "Comedy"] and toy.extra["tmdb_title"] == "Toy Story"
    # Shawshank has no TMDB id in links.csv and TMDB 5000 has no IMDb column: no join
    shaw = cat.find_title("The Shawshank Redemption")[0]
    assert shaw.plot is None and shaw.genres == ()
    assert any("matched no catalogue item" in n for n in rep.notes)

    again = import_tmdb(ws, p)  # idempotent
    assert (again.updated, again.unchanged) == (0, 2)
    over = import_tmdb(ws, p, TmdbConfig(overwrite=True))  # TMDB authoritative
    assert cat.get(toy.id).genres == ("Animation", "Comedy") and over.updated >= 1


def test_movies_metadata_layout_joins_by_imdb_id_and_adds_unmatched(ws, tmp_path):
    import_movielens(ws, _movielens(tmp_path / "ml"))
    p = tmp_path / "movies_metadata.csv"
    p.write_text(
        "adult,belongs_to_collection,budget,genres,homepage,id,imdb_id,original_language,original_title,overview,"
        "release_date,title\n"
        "False,,0,\"[{'id': 18, 'name': 'Drama'}, {'id': 80, 'name': 'Crime'}]\",,278,tt0111161,en,Shawshank,"
        "\"Framed in the 1940s, a banker begins a new life at Shawshank prison.\",1994-09-23,The Shawshank Redemption\n"
        "False,,0,\"[{'id': 18, 'name': 'Drama'}]\",,1997-08-20,tt0113002,en,x,y,1,Ørnås\n"  # the file's known id=date rows
        "False,,0,\"[{'id': 35, 'name': 'Comedy'}]\",,31357,tt0114885,en,Waiting,Four women wait.,1995-12-22,"
        "Waiting to Exhale\n"
        "False,,0,\"[{'id': 35, 'name': 'Comedy'}]\",,31358,nm123,en,Bad imdb,x,1995-12-22,Bad Imdb\n"
    )
    rep = import_tmdb(ws, p, TmdbConfig(add_unmatched=True))
    assert {(e.line, e.field) for e in rep.errors} == {(3, "id"), (5, "imdb_id")}, [str(e) for e in rep.errors]
    shaw = ws.catalog.find_title("The Shawshank Redemption")[0]
    assert shaw.genres == ("Drama", "Crime") and shaw.plot.startswith("Framed in the 1940s")
    assert shaw.extra["tmdb_id"] == 278  # joined by IMDb id, the TMDB id learnt
    new = ws.catalog.get(item_id_for("tmdb", "31357"))
    assert (new.title, new.year, new.genres, new.media_path, new.source) == (
        "Waiting to Exhale", 1995, ("Comedy",), None, None)  # fmt: skip
    assert rep.inserted == 1 and rep.matched == 1
    again = import_tmdb(ws, p, TmdbConfig(add_unmatched=True))
    assert again.inserted == 0 and again.unchanged == 2 and ws.catalog.count() == 4


def test_plain_layout_and_hostile_rows(ws, tmp_path):
    p = tmp_path / "plots.csv"
    data = (
        "tmdb_id,title,year,genres,plot\n"
        "11,Star Wars,1977,Adventure|Action|Science Fiction,Princess Leia is captured.\n"
        "12,Empty Plot,2003,Animation,\n"
        '13,Huge,1994,Drama,"' + "long " * 5000 + '"\n'
        "14,Other Language,2001,Drama,Le fabuleux destin d'Amélie Poulain.\n"
        '15,Broken quote,2000,Drama,"never closed\n'
    ).encode() + b"16,Not text,2000,Drama,\xff\xfe\x00bin\n" + b"11,Star Wars again,1977,Action,dup\n"
    p.write_bytes(data)
    rep = import_tmdb(ws, p, TmdbConfig(add_unmatched=True))
    lines = {e.line for e in rep.errors}
    assert {6, 7, 8} <= lines, [str(e) for e in rep.errors]  # broken quote, not UTF-8, duplicate id
    assert rep.inserted == 4
    items = {i.title: i for i in ws.catalog.items()}
    assert items["Empty Plot"].plot is None and items["Huge"].plot is not None
    assert len(items["Huge"].plot) <= MAX_PLOT_CHARS and any("cut" in n for n in rep.notes)
    assert items["Other Language"].plot.startswith("Le fabuleux")


def test_bad_files(ws, tmp_path):
    with pytest.raises(InputError, match="no such file"):
        import_tmdb(ws, tmp_path / "missing.csv")
    p = tmp_path / "x.csv"
    p.write_text("title,year\nA,2000\n")
    with pytest.raises(InputError, match=r"x.csv:1: header names no id column"):
        import_tmdb(ws, p)
    p.write_text("")
    with pytest.raises(InputError, match="empty file"):
        import_tmdb(ws, p)


def test_cli_import_tmdb(ws, tmp_path, capsys):
    from reelmatch.cli.main import main

    p = tmp_path / "tmdb.csv"
    p.write_text("id,title,overview,genres,release_date\n7,Seven,Two detectives.,\"[{\"\"name\"\": \"\"Crime\"\"}]\",1995-09-22\n")
    assert main(["-w", str(ws.root), "import", "--tmdb", str(p), "--add-unmatched", "--json"]) == 0
    out = capsys.readouterr()
    doc = json.loads(out.out)
    assert doc["inserted"] == 1 and doc["rows"] == 1 and "import TMDB" in out.err
    assert ws.catalog.find_title("Seven")[0].genres == ("Crime",)
    assert main(["-w", str(ws.root), "import", "--tmdb", str(p), "--movielens", str(tmp_path)]) != 0
    assert "exactly one source" in capsys.readouterr().err
    assert main(["-w", str(ws.root), "import", str(p), "--add-unmatched"]) != 0
    assert "--add-unmatched is for --tmdb only" in capsys.readouterr().err


def test_catalogue_transactions_nest_as_savepoints(ws):
    """import --tmdb groups its writes into one commit per batch: nested transactions are savepoints."""
    from reelmatch.catalog.db import Item

    cat = ws.catalog
    with cat.transaction():
        cat.upsert(Item(id="kept", title="Kept"))
        with pytest.raises(RuntimeError):
            with cat.transaction() as c:
                c.execute("UPDATE items SET title='Changed' WHERE id='kept'")
                raise RuntimeError("only the inner writes roll back")
        cat.upsert(Item(id="also", title="Also"))
    assert cat.get("kept").title == "Kept" and cat.get("also").title == "Also"
    with pytest.raises(RuntimeError):
        with cat.transaction():
            cat.upsert(Item(id="gone", title="Gone"))
            raise RuntimeError("the outer transaction rolls back everything in it")
    assert cat.maybe_get("gone") is None
    cat.upsert(Item(id="after", title="After"))  # the catalogue is usable afterwards
    assert cat.get("after").title == "After"
