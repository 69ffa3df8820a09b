"""similar / match-ad end to end: real media, real extraction, embeddings, FAISS index, CLI."""

from __future__ import annotations

import json
import shutil

import pytest

from reelmatch.errors import InputError, NotFoundError, StaleArtifactError

CLIP = dict(start=0.0, window=2.0, num_frames=4, interval=0.5, size=32, n_mels=32, spec_frames=64)


def tiny_embedder(**kw):
    """The backbone-only embedder over the test backbone (``tiny``: random, seeded)."""
    from reelmatch.embed.embedder import BackboneEmbedder

    return BackboneEmbedder("tiny", pretrained=False, **kw)


def open_ws(path):
    from reelmatch.workspace import Workspace

    return Workspace(path)


def make_corpus(root):
    """Two films each with a re-encoded copy, a third film, a silent ad, a sounding ad, two 'Twin' titles."""
    from reelmatch.samples.media import moving_box_frames, tone, write_video

    films = root / "films"
    red = dict(frames=moving_box_frames(64, 64, color=(230, 40, 40), background=(20, 30, 60)), audio=tone(440))
    blue = dict(frames=moving_box_frames(64, 64, color=(40, 60, 230), background=(200, 190, 150), speed=2.0),
                audio=tone(1500))
    yellow = dict(frames=moving_box_frames(64, 64, color=(240, 220, 30), background=(90, 20, 90), speed=0.5),
                  audio=tone(250))
    write_video(films / "action" / "Red Film.mp4", **red)
    write_video(films / "action" / "Red Film copy.webm", **red)
    write_video(films / "drama" / "Blue Film.mp4", **blue)
    write_video(films / "drama" / "Blue Film copy.avi", **blue)
    write_video(films / "comedy" / "Yellow Film.mkv", **yellow)
    write_video(root / "ads" / "Green Ad.mp4", frames=moving_box_frames(64, 64, color=(30, 230, 30)), audio=False)
    write_video(root / "ads" / "Tone Ad.mp4", frames=moving_box_frames(64, 64, color=(230, 230, 230), background=(10, 120, 10)),
                audio=tone(440))
    write_video(root / "twins" / "a.mp4", frames=moving_box_frames(64, 64, color=(10, 10, 10)), audio=False)
    write_video(root / "twins" / "b.mp4", frames=moving_box_frames(64, 64, color=(250, 250, 250)), audio=False)
    # not in the catalogue: queries by file
    write_video(root / "new" / "red variant.mp4", **red, seconds=2.2)
    (root / "new" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video" * 10)
    return root


def build_workspace(path, media):
    from reelmatch.embed import EmbedConfig, run_embed
    from reelmatch.extract import ClipConfig, run_extract
    from reelmatch.index import run_index
    from reelmatch.ingest import add_paths
    from reelmatch.workspace import Workspace

    ws = Workspace.init(path)
    add_paths(ws, [media / "films" / "action"], genres=["Action"])
    add_paths(ws, [media / "films" / "drama"], genres=["Drama", "Romance"])
    add_paths(ws, [media / "films" / "comedy"], genres=["Comedy", "Romance"])
    add_paths(ws, [media / "ads"], kind="ad")
    add_paths(ws, [media / "twins"], title="Twin")
    res = run_extract(ws, ClipConfig(**CLIP), workers=1)
    assert res["failed"] == 0, res
    run_embed(ws, EmbedConfig(batch_size=4), embedder=tiny_embedder())
    run_index(ws)
    ws.close()
    return open_ws(path)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("qmedia"))


@pytest.fixture(scope="module")
def qws(tmp_path_factory, media):
    ws = build_workspace(tmp_path_factory.mktemp("qws") / "ws", media)
    yield ws
    ws.close()


def ids_by_title(ws) -> dict[str, str]:
    return {it.title: it.id for it in ws.catalog.items() if it.title != "Twin"}


def test_copies_rank_first_and_item_never_in_own_results(qws):
    t = ids_by_title(qws)
    for orig, copy in (("Red Film", "Red Film copy"), ("Blue Film", "Blue Film copy")):
        res = qws.similar(orig, k=3)
        assert res.results[0].id == t[copy], res.to_dict()
        assert t[orig] not in res.ids
        assert [n.rank for n in res.results] == [1, 2, 3]
        assert all(a.score >= b.score for a, b in zip(res.results, res.results[1:]))
        res = qws.similar(t[copy], k=20)  # by id, k larger than the catalogue
        assert res.results[0].id == t[orig] and t[copy] not in res.ids and len(res) == qws.catalog.count() - 1


def test_json_shape_and_shared_genres(qws):
    t = ids_by_title(qws)
    doc = qws.similar("Blue Film", k=4).to_dict()
    assert set(doc) == {"query", "results"}
    assert doc["query"]["id"] == t["Blue Film"] and doc["query"]["title"] == "Blue Film"
    for r in doc["results"]:
        assert set(r) == {"rank", "id", "title", "kind", "score", "genres", "shared_genres", "scores", "modalities"}
        assert isinstance(r["score"], float) and isinstance(r["genres"], list)
        assert set(r["scores"]) == {"visual", "audio", "text"} and isinstance(r["scores"]["visual"], float)
        assert r["modalities"][0] == "visual" and set(r["modalities"]) <= {"visual", "audio", "text"}
    yellow = qws.similar("Blue Film", k=10, genre="Comedy").results
    assert [n.title for n in yellow] == ["Yellow Film"] and yellow[0].shared_genres == ("Romance",)
    json.dumps(doc)


def test_filters_apply_before_truncation(qws):
    t = ids_by_title(qws)
    res = qws.similar("Red Film", k=2, kind="ad")
    assert len(res) == 2 and all(n.kind == "ad" for n in res.results)
    res = qws.similar("Red Film", k=2, genre="romance")  # genre match is case-insensitive
    assert len(res) == 2 and {n.title for n in res.results} <= {"Blue Film", "Blue Film copy", "Yellow Film"}
    res = qws.similar("Red Film", k=3, exclude_ids=[t["Red Film copy"]])
    assert t["Red Film copy"] not in res.ids and len(res) == 3
    res = qws.similar("Red Film", k=3, exclude_same_title=True)
    assert all(n.title != "Red Film" for n in res.results)


def test_match_ad_ranks_trailers_with_per_modality_scores(qws):
    t = ids_by_title(qws)
    res = qws.match_ad("Tone Ad", k=10)
    assert res.results and all(n.kind == "trailer" for n in res.results)
    assert t["Tone Ad"] not in res.ids and t["Green Ad"] not in res.ids
    for n in res.results:
        assert set(n.to_dict()) == {"rank", "id", "title", "kind", "score", "genres", "shared_genres", "scores",
                                    "modalities"}
        assert -1.0001 <= n.scores["visual"] <= 1.0001
        assert n.scores["audio"] is None if n.title == "Twin" else isinstance(n.scores["audio"], float)
    # the 440 Hz ad sounds like the 440 Hz red film more than like the 1500 Hz blue one
    audio = {n.title: n.scores["audio"] for n in res.results}
    assert audio["Red Film"] > audio["Blue Film"]
    silent = qws.match_ad(t["Green Ad"], k=3)
    assert len(silent) == 3 and all(n.scores["audio"] is None for n in silent.results)


def test_video_file_query_is_embedded_on_the_fly_and_not_added(qws, media):
    t = ids_by_title(qws)
    n_items = qws.catalog.count()
    res = qws.similar(str(media / "new" / "red variant.mp4"), k=2)
    assert res.query == {"path": str(media / "new" / "red variant.mp4"), "title": "red variant"}
    assert set(res.ids) == {t["Red Film"], t["Red Film copy"]}
    assert qws.catalog.count() == n_items
    ad = qws.match_ad(media / "new" / "red variant.mp4", k=1)  # a PathLike works too
    assert ad.results[0].kind == "trailer" and ad.results[0].scores["audio"] is not None


def test_file_with_catalogue_content_uses_that_item(qws, media):
    t = ids_by_title(qws)
    res = qws.similar(str(media / "films" / "action" / "Red Film.mp4"), k=3)
    assert res.query["id"] == t["Red Film"] and t["Red Film"] not in res.ids
    assert res.results[0].id == t["Red Film copy"]


def test_bad_queries_raise_specific_errors(qws, media):
    with pytest.raises(NotFoundError, match="no item with id or title 'Nope'"):
        qws.similar("Nope")
    with pytest.raises(NotFoundError, match="ambiguous") as e:
        qws.similar("twin")
    twins = [it.id for it in qws.catalog.find_title("Twin")]
    assert all(i in str(e.value) for i in twins) and len(twins) == 2
    for k in (0, -3):
        with pytest.raises(InputError, match="k must be a positive integer"):
            qws.similar("Red Film", k=k)
        with pytest.raises(InputError, match="k must be a positive integer"):
            qws.match_ad("Tone Ad", k=k)
    with pytest.raises(InputError, match="broken.mp4"):
        qws.similar(str(media / "new" / "broken.mp4"))
    with pytest.raises(NotFoundError, match="no such file"):
        qws.similar(str(media / "new" / "missing.mp4"))
    with pytest.raises(InputError, match="kind"):
        qws.similar("Red Film", kind="movie")


def test_cli_errors_are_one_line_with_nonzero_exit(qws, media, capsys):
    from reelmatch.cli.main import main

    cases = [
        (["similar", "file-000000000000"], "no item with id or title"),
        (["similar", "Nope"], "no item with id or title"),
        (["similar", "Twin"], "ambiguous"),
        (["similar", "Red Film", "-k", "0"], "k must be a positive integer"),
        (["match-ad", "Tone Ad", "-k", "-1"], "k must be a positive integer"),
        (["match-ad", str(media / "new" / "broken.mp4")], "broken.mp4"),
    ]
    for argv, msg in cases:
        code = main(["-w", str(qws.root), *argv, "--json"])
        out, err = capsys.readouterr()
        assert code != 0 and out == "", (argv, out, err)
        lines = [line for line in err.splitlines() if line.strip() and not line.startswith("note:")]
        assert len(lines) == 1 and msg in lines[0] and lines[0].startswith(f"reelmatch {argv[0]}: error:"), err


def test_index_older_than_vectors_is_refused(qws, tmp_path, capsys):
    from reelmatch.cli.main import main
    from reelmatch.embed import EmbedConfig, run_embed
    from reelmatch.index import run_index
    from reelmatch.workspace import Workspace

    shutil.copytree(qws.root, tmp_path / "ws")
    ws = Workspace(tmp_path / "ws")
    run_embed(ws, EmbedConfig(batch_size=4), embedder=tiny_embedder(audio_weight=0.5))  # new vectors, old index
    with pytest.raises(StaleArtifactError, match="older than the embeddings"):
        ws.similar("Red Film")
    assert main(["-w", str(ws.root), "similar", "Red Film"]) != 0
    assert "older than the embeddings" in capsys.readouterr().err
    report = run_index(ws)
    assert report.rebuilt  # another model: rebuilt, not patched
    assert ws.similar("Red Film", k=1).results[0].title == "Red Film copy"
    ws.close()


def test_cli_similar_and_match_ad_json(qws, cli):
    t = ids_by_title(qws)
    r = cli("-w", qws.root, "similar", "Blue Film", "-k", "2", "--kind", "trailer", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["results"][0]["id"] == t["Blue Film copy"] and len(doc["results"]) == 2
    assert "pretrained backbone alone" in r.stderr  # says it has no trained model yet
    r = cli("-w", qws.root, "match-ad", "Tone Ad", "-k", "3")
    assert r.returncode == 0, r.stderr
    assert "visual" in r.stdout and "Tone Ad" in r.stdout.splitlines()[0]


def test_add_a_new_file_updates_catalogue_and_index(qws, media, tmp_path):
    from reelmatch.embed import EmbedConfig, run_embed
    from reelmatch.index import index_path, load_index

    shutil.copytree(qws.root, tmp_path / "ws")
    ws = open_ws(tmp_path / "ws")
    n = ws.catalog.count()
    path = media / "new" / "red variant.mp4"
    res = ws.similar(str(path), k=2, add=True)
    assert ws.catalog.count() == n + 1
    new = ws.catalog.find_title("red variant")[0]
    assert res.query["id"] == new.id and new.id not in res.ids
    assert new.id in load_index(index_path(ws))
    # a second embed run finds nothing to do
    seen = []
    run_embed(ws, EmbedConfig(batch_size=4), embedder=tiny_embedder(), progress=lambda d, t: seen.append(t))
    assert seen == []
    ws.close()


def test_cli_index_backends_give_the_same_neighbours(qws, tmp_path, capsys):
    from reelmatch.cli.main import main

    shutil.copytree(qws.root, tmp_path / "ws")
    ws = open_ws(tmp_path / "ws")
    faiss_ids = ws.similar("Blue Film", k=4).ids
    assert main(["-w", str(ws.root), "index", "--backend", "annoy", "--annoy-trees", "5"]) == 0
    assert "annoy index of" in capsys.readouterr().err
    assert json.loads((ws.root / "index" / "default.npz.json").read_text())["backend"] == "annoy"
    assert ws.similar("Blue Film", k=4).ids == faiss_ids  # a tiny catalogue: both are exact
    assert main(["-w", str(ws.root), "index", "--kind", "hnsw"]) == 0
    assert "hnsw index of" in capsys.readouterr().err
    assert ws.similar("Blue Film", k=4).ids == faiss_ids
    assert main(["-w", str(ws.root), "index", "--kind", "hnsw"]) == 0
    assert "+0 -0" in capsys.readouterr().err  # nothing changed: nothing done
    ws.close()


def test_query_files_only_with_the_embedder_that_made_the_vectors(qws):
    from reelmatch.embed import EmbedConfig
    from reelmatch.embed.embedder import get_embedder
    from reelmatch.query import searcher_for

    searcher = searcher_for(qws)
    with pytest.raises(StaleArtifactError, match="did not make these embeddings"):
        searcher.use_embedder(tiny_embedder(audio_weight=0.7))
    searcher.use_embedder(tiny_embedder())  # the same backbone and weights: accepted
    # no trained model in the workspace: the pretrained backbone alone, and it says so
    emb = get_embedder(qws, EmbedConfig(backbone="tiny"))
    assert emb.mode == "backbone" and "no trained model" in emb.describe()["note"]
