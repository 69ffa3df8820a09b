"""The synthetic sample corpus: deterministic, importable, the promised mix of items."""

import csv
import hashlib

from reelmatch.samples.corpus import GENRES, generate_corpus


def _digest(d):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((d / "videos").iterdir())}


def test_corpus_is_deterministic_and_importable(tmp_path):
    from reelmatch.ingest import import_manifest
    from reelmatch.workspace import Workspace

    m1 = generate_corpus(tmp_path / "a", n_items=14, seconds=1, size=32, seed=3)
    m2 = generate_corpus(tmp_path / "b", n_items=14, seconds=1, size=32, seed=3)
    assert m1.read_text() == m2.read_text()
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    rows = list(csv.DictReader(open(m1)))
    assert list(rows[0]) == ["id", "title", "genres", "kind", "year", "plot", "path"]
    trailers = [r for r in rows if r["kind"] == "trailer"]
    assert {g for r in trailers for g in r["genres"].split("|")} == set(GENRES)
    assert any("|" in r["genres"] for r in trailers)
    assert len({r["title"] for r in rows}) == len(rows)
    ws = Workspace.init(tmp_path / "ws")
    report = import_manifest(ws, m1)
    assert not report.errors
    assert ws.catalog.count() == 14
    ws.close()


def test_some_items_are_silent_and_some_are_ads(tmp_path):
    import av

    m = generate_corpus(tmp_path, n_items=60, seconds=0.5, size=16)
    rows = list(csv.DictReader(open(m)))
    assert any(r["kind"] == "ad" and not r["genres"] for r in rows)
    def has_audio(r):
        with av.open(str(tmp_path / r["path"])) as c:
            return bool(c.streams.audio)

    silent = [r for r in rows if not has_audio(r)]
    assert 0 < len(silent) < len(rows) // 2
    with av.open(str(tmp_path / rows[0]["path"])) as c:
        assert c.streams.audio and c.streams.video[0].width == 16
