"""Ingest: add (videos by content), CSV/JSONL manifests, MovieLens files. Real files, real SQLite."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from reelmatch.catalog import item_id_for
from reelmatch.errors import InputError
from reelmatch.ingest import add_paths, import_manifest, import_movielens, sha256_file
from reelmatch.ingest.fields import normalise_url, parse_year, split_movielens_title, title_from_filename



@pytest.fixture
def folder(tmp_path, media_dir):
    """Videos (one duplicated under another name, one nested) among files that are not videos."""
    from PIL import Image

    d = tmp_path / "incoming"
    (d / "nested" / "deeper").mkdir(parents=True)
    shutil.copy(media_dir / "red box.mp4", d / "The_Red.Box.mp4")
    shutil.copy(media_dir / "red box.mp4", d / "nested" / "copy of red.mov")  # same bytes, other name
    shutil.copy(media_dir / "blue box.webm", d / "nested" / "deeper" / "blue_box")  # no extension at all
    shutil.copy(media_dir / "silent.mkv", d / "silent.mkv")
    (d / "notes.mp4").write_text("a text file dressed as a video\n")  # extension lies
    (d / "README.md").write_text("# not a video\n")
    Image.new("RGB", (32, 32), (200, 10, 10)).save(d / "poster.png")
    (d / ".hidden.mp4").write_bytes((media_dir / "silent.mkv").read_bytes())
    return d


def test_add_folder_by_content(ws, folder):
    rep = add_paths(ws, [folder], genres=["Drama"])
    assert (rep.inserted, rep.updated, rep.unchanged) == (3, 0, 1)  # the copy is the same item
    skipped = {Path(e.source).name: e.message for e in rep.errors}
    assert set(skipped) == {"notes.mp4", "README.md", "poster.png"}
    assert "not a video" in skipped["notes.mp4"]
    assert "still image" in skipped["poster.png"]
    assert any("same content" in n for n in rep.notes)
    items = {i.title: i for i in ws.catalog.items()}
    assert set(items) == {"The Red Box", "blue box", "silent"}
    red = items["The Red Box"]
    assert red.id == item_id_for("file", sha256_file(folder / "The_Red.Box.mp4"))
    assert red.media_path == str((folder / "The_Red.Box.mp4").resolve()) and Path(red.media_path).is_absolute()
    assert red.sha256 == sha256_file(folder / "The_Red.Box.mp4")
    assert red.duration == pytest.approx(2.0, abs=0.2)
    assert red.genres == ("Drama",) and red.kind == "trailer"
    assert items["blue box"].extra["width"] == 64


def test_add_again_is_idempotent_and_merges(ws, folder, media_dir):
    add_paths(ws, [folder])
    rep = add_paths(ws, [folder])
    assert (rep.inserted, rep.updated, rep.unchanged) == (0, 0, 4)
    assert ws.catalog.count() == 3
    one = folder / "silent.mkv"
    rep = add_paths(ws, [one], genres=["Horror"], kind="ad", title="Quiet Ad")
    assert rep.updated == 1
    item = ws.catalog.get(item_id_for("file", sha256_file(one)))
    assert (item.title, item.kind, item.genres) == ("Quiet Ad", "ad", ("Horror",))
    rep = add_paths(ws, [one], genres=["Thriller"], kind=None)  # kind=None keeps the ad
    item = ws.catalog.get(item.id)
    assert item.kind == "ad" and item.genres == ("Horror", "Thriller")


def test_add_reports_missing_paths_and_rejects_bad_kind(ws, tmp_path, media_dir):
    rep = add_paths(ws, [tmp_path / "nope", media_dir / "silent.mkv"])
    assert rep.inserted == 1
    assert [e.message for e in rep.errors] == ["no such file or directory"]
    with pytest.raises(InputError):
        add_paths(ws, [media_dir], kind="movie")


def test_add_skips_the_workspace_itself(ws, media_dir):
    shutil.copy(media_dir / "silent.mkv", ws.dir("media") / "downloaded.mkv")
    rep = add_paths(ws, [ws.root.parent])
    assert rep.inserted == 0 and rep.errors == []


# ------------------------------------------------------------------ manifests
def _write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_manifest_bad_rows_named_rest_imports(ws, tmp_path, media_dir):
    d = tmp_path / "cat"
    (d / "clips").mkdir(parents=True)
    shutil.copy(media_dir / "red box.mp4", d / "clips" / "red.mp4")
    (d / "clips" / "text.mp4").write_text("no video here\n")
    man = _write_csv(
        d / "catalogue.csv",
        "title,genres,kind,year,plot,path,url,id,rating\n"
        'Red Box,Action|Drama,trailer,1999,"A box, red, runs.\nSecond line of plot.",clips/red.mp4,,,7.5\n'  # 2-3
        "Toy Story,Animation|Comedy,,1995,,,https://youtu.be/v-PjgYDrg70,tt0114709,\n"  # 4
        ",Drama,trailer,2001,,,https://example.org/a.mp4,,\n"  # 5 missing title
        "Odd Kind,Drama,movie,2001,,,https://example.org/b.mp4,,\n"  # 6 unknown kind
        "Future,Drama,ad,3021,,,https://example.org/c.mp4,,\n"  # 7 impossible year
        "Nowhere,Drama,,,,clips/missing.mp4,,,\n"  # 8 nonexistent path
        "Text,Drama,,,,clips/text.mp4,,,\n"  # 9 not a video
        "Folder,Drama,,,,clips,,,\n"  # 10 a folder
        "FTP,Drama,,,,,ftp://example.org/x.mp4,,\n"  # 11 bad scheme
        'Broken "quote,Drama,,,,,https://example.org/q.mp4,,\n'  # 12 broken quoting
        "Ad Spot,Food,AD,2020,,,http://example.org/ad.webm,,\n",  # 13
    )
    rep = import_manifest(ws, man)
    assert (rep.inserted, rep.updated, rep.unchanged) == (3, 0, 0), [str(e) for e in rep.errors]
    got = {(e.line, e.field) for e in rep.errors}
    assert got == {(5, "title"), (6, "kind"), (7, "year"), (8, "path"), (9, "path"), (10, "path"), (11, "url"), (12, None)}
    msgs = {e.line: str(e) for e in rep.errors}
    assert msgs[5].startswith("catalogue.csv:5: title:")
    assert "3021" in msgs[7] and "missing.mp4" in msgs[8] and "not a video" in msgs[9] and "ftp" in msgs[11]
    assert "quot" in msgs[12]
    assert all("\n" not in m for m in msgs.values())

    red = ws.catalog.find_title("Red Box")[0]
    assert red.media_path == str((d / "clips" / "red.mp4").resolve())  # relative to the manifest's folder
    assert red.genres == ("Action", "Drama") and red.year == 1999 and "Second line" in red.plot
    assert red.extra["rating"] == "7.5" and red.duration > 1.5 and red.sha256
    toy = ws.catalog.get("tt0114709")
    assert toy.extra["imdb_id"] == "tt0114709" and toy.kind == "trailer"
    assert toy.source == "https://www.youtube.com/watch?v=v-PjgYDrg70"
    ad = ws.catalog.find_title("Ad Spot")[0]
    assert ad.kind == "ad" and ad.id == item_id_for("url", "http://example.org/ad.webm")

    # re-import: nothing new; an edit updates in place, never duplicates
    rep = import_manifest(ws, man)
    assert (rep.inserted, rep.updated, rep.unchanged) == (0, 0, 3)
    man.write_text(man.read_text().replace("Ad Spot,Food", "Ad Spot,Food|Travel"))
    rep = import_manifest(ws, man)
    assert (rep.inserted, rep.updated, rep.unchanged) == (0, 1, 2)
    assert ws.catalog.count() == 3
    assert ws.catalog.get(ad.id).genres == ("Food", "Travel")


def test_reimport_keeps_downloaded_media_and_new_url_resets_download(ws, tmp_path):
    man = tmp_path / "m.csv"
    man.write_text("title,url,id\nAlien,https://example.org/alien.mp4,alien\n")
    import_manifest(ws, man)
    ws.catalog.update_fields("alien", media_path="media/alien.mp4", sha256="ab" * 32, duration=90.0)
    ws.catalog.mark_done("alien", "download", "fp")
    man.write_text("title,url,id,year\nAlien,https://example.org/alien.mp4,alien,1979\n")
    assert import_manifest(ws, man).updated == 1
    item = ws.catalog.get("alien")
    assert (item.year, item.media_path, item.duration) == (1979, "media/alien.mp4", 90.0)
    assert ws.catalog.stage_of("alien", "download")["status"] == "done"
    man.write_text("title,url,id,year\nAlien,https://example.org/alien-hd.mp4,alien,1979\n")
    import_manifest(ws, man)
    item = ws.catalog.get("alien")
    assert item.media_path is None and item.sha256 is None
    assert ws.catalog.stage_of("alien", "download") is None  # pending again


def test_jsonl_manifest(ws, tmp_path, media_dir):
    man = tmp_path / "m.jsonl"
    lines = [
        json.dumps({"title": "Blue", "genres": ["Sci-Fi", "Drama"], "path": str(media_dir / "blue box.webm"), "year": 2004}),
        json.dumps({"title": "Green", "genres": "Comedy|Romance", "url": "https://example.org/g.mp4", "kind": "ad"}),
        "",
        '{"title": "Half", "url": ',  # malformed JSON (line 4)
        json.dumps(["not", "an", "object"]),  # line 5
        json.dumps({"title": "Bad genres", "genres": 5, "url": "https://example.org/x"}),  # line 6
        json.dumps({"title": "Year", "year": "nineteen", "url": "https://example.org/y"}),  # line 7
        json.dumps({"title": "Nothing"}),  # line 8: neither path nor url
        json.dumps({"title": "Dup", "url": "https://example.org/g.mp4"}),  # line 9: same item as line 2
        json.dumps({"title": 1917, "id": "tt8579674", "url": "https://example.org/1917"}),  # line 10
    ]
    man.write_text("\n".join(lines) + "\n")
    rep = import_manifest(ws, man)
    assert rep.inserted == 3, [str(e) for e in rep.errors]
    assert {(e.line, e.field) for e in rep.errors} == {(4, None), (5, None), (6, "genres"), (7, "year"), (8, "path"), (9, "id")}
    assert "malformed JSON" in next(e.message for e in rep.errors if e.line == 4)
    assert "line 2" in next(e.message for e in rep.errors if e.line == 9)
    blue = ws.catalog.find_title("Blue")[0]
    assert blue.genres == ("Sci-Fi", "Drama") and blue.year == 2004
    assert blue.id == item_id_for("file", sha256_file(media_dir / "blue box.webm"))  # same id as 'add' gives
    assert ws.catalog.find_title("Green")[0].genres == ("Comedy", "Romance")
    assert ws.catalog.get("tt8579674").extra["imdb_id"] == "tt8579674"


def test_manifest_without_title_column_is_refused(ws, tmp_path):
    man = _write_csv(tmp_path / "m.csv", "name,url\nAlien,https://example.org/a\n")
    with pytest.raises(InputError, match="title"):
        import_manifest(ws, man)
    with pytest.raises(InputError):
        import_manifest(ws, tmp_path / "absent.csv")


def test_field_parsers():
    assert parse_year("1995") == 1995 and parse_year("") is None and parse_year(1995.0) == 1995
    for bad in ("1795", "3000", "abc", "19x5", True):
        with pytest.raises(ValueError):
            parse_year(bad)
    assert normalise_url("https://www.youtube.com/watch?v=v-PjgYDrg70&t=3") == "https://www.youtube.com/watch?v=v-PjgYDrg70"
    assert normalise_url("HTTPS://Example.org/A.mp4#frag") == "https://example.org/A.mp4"
    for bad in ("ftp://x.org/a", "file:///etc/passwd", "javascript:alert(1)", "example.org/a", "http://"):
        with pytest.raises(ValueError):
            normalise_url(bad)
    assert split_movielens_title("American President, The (1995)") == ("The American President", 1995)
    assert split_movielens_title("City of Lost Children, The (Cité des enfants perdus, La) (1995)") == (
        "The City of Lost Children (Cité des enfants perdus, La)", 1995)  # fmt: skip
    assert split_movielens_title("Babylon 5") == ("Babylon 5", None)
    assert title_from_filename(Path("a/The_Big.Short-trailer.mp4")) == "The Big Short-trailer"


# ------------------------------------------------------------------ MovieLens
def _movielens(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "movies.csv").write_text(
        "movieId,title,genres\n"
        "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
        '11,"American President, The (1995)",Comedy|Drama|Romance\n'
        '29,"City of Lost Children, The (Cité des enfants perdus, La) (1995)",Adventure|Drama|Fantasy|Mystery|Sci-Fi\n'
        '1920,"Shawshank ""Redemption"", The (1994)",Crime|Drama\n'
        "114335,La cravate (1957),(no genres listed)\n"
        "#NAME?,Broken Movie (2000),Drama\n"  # line 7
        "\n"
        "2000,Lethal Weapon (1987),Action|Comedy|Crime|Drama\n"
    )
    (d / "links.csv").write_text(
        "movieId,imdbId,tmdbId\n1,0114709,862\n11,0112346,9087\n29,0112682,902\n1920,0111161,278\n114335,0049366,\n"
        "2000,abc,941\n"  # line 7: mangled imdb id
    )
    (d / "ml-youtube.csv").write_text(
        "youtubeId,movieId,title\n"
        "K26_sDKnvMU,1,Toy Story (1995)\n"
        'Ma4xqVRRqaA,11,"American President, The (1995)"\n'
        "#NAME?,29,City of Lost Children (1995)\n"  # line 4: mangled id
        'kUQ_u-4f5dg,1920,"Shawshank ""Redemption"", The (1994)"\n'
        'ZZZ_abc-def,114335,"La cravate (1957)\n'  # line 6: quote never closed
        "VQmvKuFGYkY,29,\"City of Lost Children, The\" (1995)\n"  # line 7: stray text after a quoted field
        "-xYz12345_0,2000,Lethal Weapon (1987)\n"
        "Jn8xYyVQ2zM,notanid,Something (2001)\n"  # line 9
        "K26_sDKnvMU,1,Toy Story (1995)\n"  # line 10: the same trailer again
        "abcdefghijk,999999,Unknown Movie (2010)\n"
    )
    return d


def test_movielens_import(ws, tmp_path):
    d = _movielens(tmp_path / "ml")
    rep = import_movielens(ws, d)
    assert rep.inserted == 5, [str(e) for e in rep.errors]
    where = {(e.source, e.line, e.field) for e in rep.errors}
    assert where == {
        ("movies.csv", 7, "movieId"),
        ("links.csv", 7, "imdbId"),
        ("ml-youtube.csv", 4, "youtubeId"),
        ("ml-youtube.csv", 6, None),
        ("ml-youtube.csv", 7, None),
        ("ml-youtube.csv", 9, "movieId"),
        ("ml-youtube.csv", 10, "youtubeId"),
    }, [str(e) for e in rep.errors]
    assert "#NAME?" in next(e.message for e in rep.errors if e.line == 4)
    cat = ws.catalog
    toy = cat.get(item_id_for("url", "https://www.youtube.com/watch?v=K26_sDKnvMU"))
    assert (toy.title, toy.year, toy.kind) == ("Toy Story", 1995, "trailer")
    assert toy.genres == ("Adventure", "Animation", "Children", "Comedy", "Fantasy")
    assert toy.source == "https://www.youtube.com/watch?v=K26_sDKnvMU"
    assert toy.extra["imdb_id"] == "tt0114709" and toy.extra["tmdb_id"] == 862 and toy.extra["movielens_id"] == 1
    pres = cat.find_title("The American President")[0]
    assert pres.genres == ("Comedy", "Drama", "Romance") and pres.extra["imdb_id"] == "tt0112346"
    shaw = cat.find_title('The Shawshank "Redemption"')[0]
    assert shaw.year == 1994 and shaw.extra["imdb_id"] == "tt0111161"
    lethal = cat.find_title("Lethal Weapon")[0]
    assert lethal.source.endswith("v=-xYz12345_0") and "imdb_id" not in lethal.extra
    unknown = cat.find_title("Unknown Movie")[0]
    assert unknown.genres == () and unknown.year == 2010
    assert any("missing from movies.csv" in n for n in rep.notes)
    assert cat.count() == 5
    assert ws.status()["stages"]["download"]["pending"] == 5

    rep = import_movielens(ws, d)  # re-import: same items
    assert (rep.inserted, rep.updated, rep.unchanged) == (0, 0, 5)


def test_movielens_no_genres_and_missing_files(ws, tmp_path):
    d = tmp_path / "ml"
    d.mkdir()
    (d / "movies.csv").write_text("movieId,title,genres\n114335,La cravate (1957),(no genres listed)\n")
    with pytest.raises(InputError, match="ml-youtube.csv"):
        import_movielens(ws, d)
    (d / "ml-youtube.csv").write_text("youtubeId,movieId,title\nZZZ_abc-def,114335,La cravate (1957)\n")
    rep = import_movielens(ws, d)  # links.csv is optional
    assert rep.inserted == 1 and any("links.csv" in n for n in rep.notes)
    item = ws.catalog.find_title("La cravate")[0]
    assert item.genres == () and item.year == 1957
    (d / "ml-youtube.csv").write_text("id,movie,name\nZZZ_abc-def,114335,La cravate (1957)\n")
    with pytest.raises(InputError, match="youtubeId"):
        import_movielens(ws, d)


# ------------------------------------------------------------------ CLI
def test_cli_add_import_status(ws, folder, tmp_path, cli):
    r = cli("-w", ws.root, "add", folder, "--genre", "Drama", "--genre", "Comedy")
    assert r.returncode == 0, r.stderr
    assert "3 inserted" in r.stderr and "README.md: not a video" in r.stderr
    d = _movielens(tmp_path / "ml")
    r = cli("-w", ws.root, "import", "--movielens", d)
    assert r.returncode == 0, r.stderr
    assert "ml-youtube.csv:4: youtubeId:" in r.stderr and "5 inserted" in r.stderr and "7 skipped" in r.stderr
    bad = _write_csv(tmp_path / "bad.csv", "title,kind,url\n,trailer,https://x.org/a\nX,movie,https://x.org/b\n")
    r = cli("-w", ws.root, "import", bad)
    assert r.returncode == 1 and "bad.csv:2: title" in r.stderr and "bad.csv:3: kind" in r.stderr
    r = cli("-w", ws.root, "import", bad, "--movielens", d)
    assert r.returncode != 0 and "exactly one" in r.stderr
    r = cli("-w", ws.root, "status", "--json")
    doc = json.loads(r.stdout)
    assert doc["items"] == 8
    assert doc["stages"]["download"]["pending"] == 5
    assert doc["stages"]["extract"]["pending"] == 8


def test_add_devdata(ws, devdata):
    rep = add_paths(ws, [devdata])
    assert rep.inserted == 29
    assert sorted(Path(e.source).name for e in rep.errors) == ["MANIFEST.tsv", "README.md"]
