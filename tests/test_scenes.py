"""Scenes: boundaries on generated movies with known cuts, the resumable stage, match-ad --scenes, explain."""

from __future__ import annotations

import json

import numpy as np
import pytest

from reelmatch.errors import InputError

CLIP = dict(start=0.0, window=30.0, num_frames=4, interval=6.0, size=32, n_mels=32, spec_frames=64)


def test_scenes_from_cuts_and_boundary_f1_are_plain_arithmetic():
    from reelmatch.scenes import boundary_f1, scenes_from_cuts

    sc = scenes_from_cuts([5.0, 2.0, 2.1, 7.9], 8.0, 0.5)
    assert [(s.start, s.end) for s in sc] == [(0.0, 2.0), (2.0, 5.0), (5.0, 8.0)]
    assert [(s.start, s.end) for s in scenes_from_cuts([], 3.0)] == [(0.0, 3.0)]
    with pytest.raises(InputError):
        scenes_from_cuts([1.0], 0.0)
    m = boundary_f1([1.0, 2.4, 9.0], [1.2, 2.0, 5.0], tolerance=0.5)
    assert (m["tp"], round(m["precision"], 3), round(m["recall"], 3)) == (2, 0.667, 0.667)
    assert boundary_f1([1.0, 1.1], [1.05])["tp"] == 1  # one-to-one


@pytest.fixture(scope="module")
def movie(tmp_path_factory):
    from reelmatch.scenes.generated import write_movie

    path = tmp_path_factory.mktemp("movie") / "Long Movie.mp4"
    plan = write_movie(path, 40.0, size=64, fps=12, seed=5)
    return path, plan


def test_boundaries_of_a_generated_movie_with_cuts_and_fades(movie):
    from reelmatch.scenes import ScenesConfig, boundary_f1, detect_scenes
    from reelmatch.scenes.generated import true_boundaries

    path, plan = movie
    assert any(s.fade_in for s in plan) and any(not s.fade_in for s in plan[1:])
    scenes = detect_scenes(path, ScenesConfig())
    assert scenes[0].start == 0.0 and abs(scenes[-1].end - 40.0) < 0.2
    assert all(a.end == b.start for a, b in zip(scenes, scenes[1:]))
    m = boundary_f1([s.start for s in scenes[1:]], true_boundaries(plan), 0.5)
    assert m["f1"] >= 0.9, m


def test_a_file_that_is_not_a_video_fails_with_one_line(tmp_path):
    from reelmatch.scenes import detect_scenes

    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    with pytest.raises(InputError, match="bad.mp4"):
        detect_scenes(bad)


@pytest.fixture(scope="module")
def sws(tmp_path_factory, movie):
    """A workspace: the long movie, two short films, an ad in one movie scene's style, a broken file."""
    from reelmatch.embed import EmbedConfig, run_embed
    from reelmatch.embed.embedder import BackboneEmbedder
    from reelmatch.extract import ClipConfig, run_extract
    from reelmatch.index import run_index
    from reelmatch.ingest import import_manifest
    from reelmatch.samples.media import moving_box_frames, tone, write_video
    from reelmatch.scenes.generated import write_movie
    from reelmatch.workspace import Workspace

    root = tmp_path_factory.mktemp("sws")
    path, plan = movie
    write_video(root / "short.mp4", seconds=6, frames=moving_box_frames(64, 64), audio=tone(300))
    ad_plan = write_movie(root / "ad.mp4", 6.0, size=64, fps=12, seed=9, genres=[plan[1].genre])
    good = root / "broken.mp4"
    write_video(good, seconds=6, frames=moving_box_frames(64, 64, color=(10, 200, 10)))
    rows = [
        {"title": "Long Movie", "path": str(path), "genres": "Drama", "flags": "violence"},
        {"title": "Short Film", "path": str(root / "short.mp4"), "genres": "Comedy", "flags": ["alcohol"]},
        {"title": "Broken Film", "path": str(good), "genres": "Drama"},
        {"title": "Spot", "path": str(root / "ad.mp4"), "kind": "ad"},
    ]
    (root / "m.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    ws = Workspace.init(root / "ws")
    rep = import_manifest(ws, root / "m.jsonl")
    assert not rep.errors, rep.errors
    run_extract(ws, ClipConfig(**CLIP), workers=1)
    run_embed(ws, EmbedConfig(batch_size=4), embedder=BackboneEmbedder("tiny", pretrained=False))
    run_index(ws)
    good.write_bytes(b"\x00" * 4096)  # the file goes bad after extraction: its scenes fail alone
    yield ws, plan, ad_plan
    ws.close()


def test_scenes_stage_is_resumable_and_a_bad_file_fails_alone(sws):
    from reelmatch.scenes import ScenesConfig, load_scenes, run_scenes

    ws, plan, _ = sws
    res = run_scenes(ws, ScenesConfig())
    assert res.done == 2 and res.failed == 1, res.to_dict()
    assert "broken.mp4" in res.failures[0]["error"] and "\n" not in res.failures[0]["error"]
    movie = ws.catalog.find_title("Long Movie")[0]
    sc = load_scenes(ws, movie.id)
    assert len(sc.scenes) >= len(plan) - 2 and sc.fused.shape == (len(sc.scenes), sc.fused.shape[1])
    assert np.allclose(np.linalg.norm(sc.fused, axis=1), 1.0, atol=1e-4)
    again = run_scenes(ws, ScenesConfig())
    assert again.status == "up to date" and again.done == 0 and again.failed == 0
    st = ws.catalog.status()["stages"]["scenes"]
    assert st["done"] == 2 and st["failed"] == 1
    other = run_scenes(ws, ScenesConfig(min_scene=1.0))  # another config: recomputed, never mixed
    assert other.done == 2


def test_match_ad_scenes_and_breaks(sws, cli):
    from reelmatch.scenes import ScenesConfig, load_scenes, run_scenes

    ws, plan, _ = sws
    run_scenes(ws, ScenesConfig())
    res = ws.match_ad("Spot", k=5, scenes=True, scenes_per_movie=2)
    movie = next(n for n in res.results if n.title == "Long Movie")
    sc = load_scenes(ws, movie.id)
    starts = {s.start for s in sc.scenes}
    assert len(movie.scenes) == 2 and movie.scenes[0]["score"] >= movie.scenes[1]["score"]
    for s in movie.scenes:
        assert sc.scenes[s["index"]].start == s["start"] and set(s["scores"]) == {"visual", "audio"}
    assert movie.breaks and all(b["time"] in starts and b["time"] > 0 for b in movie.breaks)
    best = movie.scenes[0]
    assert any(b["time"] in (best["start"], best["end"]) for b in movie.breaks)
    # the broken film has no scenes: an empty list, not an error
    broken = [n for n in res.results if n.title == "Broken Film"]
    assert all(n.scenes == [] and n.breaks == [] for n in broken)
    doc = json.loads(cli("-w", ws.root, "match-ad", "Spot", "-k", "3", "--scenes", "--json", check=True).stdout)
    assert all("scenes" in r and "breaks" in r for r in doc["results"])


def test_the_best_scenes_of_the_whole_catalogue_come_from_the_scene_index(sws, cli):
    """``match-ad --scenes`` also lists the catalogue's best scenes for the ad (the scene index),
    the same as scoring every scene of every movie; exclusions hold inside that search."""
    from reelmatch.embed import load_embeddings
    from reelmatch.query.filters import Exclusions
    from reelmatch.scenes import ScenesConfig, load_scenes, run_scenes

    ws, _, _ = sws
    res = run_scenes(ws, ScenesConfig())
    spot = ws.catalog.find_title("Spot")[0]
    emb = load_embeddings(ws)
    ad = emb.vectors[emb.row(spot.id)]
    every = []
    for it in ws.catalog.items():
        sc = load_scenes(ws, it.id)
        if sc is not None and it.kind == "trailer":
            every += [(float(sc.fused[j] @ ad), it.id, j, it.flags) for j in range(len(sc.scenes))]
    assert len(every) > 5
    every.sort(key=lambda t: -t[0])
    top = ws.match_ad("Spot", k=4, scenes=True).top_scenes
    assert [(d["id"], d["index"]) for d in top] == [(i, j) for _, i, j, _ in every[:4]]
    assert all(abs(d["score"] - s) < 1e-5 for d, (s, *_) in zip(top, every))
    kept = [t for t in every if "violence" not in t[3]]
    top = ws.match_ad("Spot", k=2, scenes=True, exclusions=Exclusions(exclude_flags=("violence",))).top_scenes
    assert [(d["id"], d["index"]) for d in top] == [(i, j) for _, i, j, _ in kept[:2]]
    doc = json.loads(cli("-w", ws.root, "match-ad", "Spot", "-k", "3", "--scenes", "--json", check=True).stdout)
    assert len(doc["top_scenes"]) == 3 and {"id", "title", "index", "start", "end", "score"} <= set(doc["top_scenes"][0])
    assert "top_scenes" not in json.loads(cli("-w", ws.root, "match-ad", "Spot", "--json", check=True).stdout)


def test_exclude_flag_from_manifest_and_explain(sws, cli):
    ws, _, _ = sws
    movie = ws.catalog.find_title("Long Movie")[0]
    assert movie.flags == ("violence",) and ws.catalog.find_title("Short Film")[0].flags == ("alcohol",)
    from reelmatch.query.filters import Exclusions

    res = ws.match_ad("Spot", k=5, exclusions=Exclusions(exclude_flags=("violence",)), explain=True)
    assert "Long Movie" not in [n.title for n in res.results] and res.results
    for n in res.results:
        e = n.explain
        assert set(e) == {"similarity", "shared_genres", "shared_flags", "frames"}
        assert abs(e["similarity"]["fused"] - n.score) < 1e-5
    doc = json.loads(cli("-w", ws.root, "similar", "Long Movie", "--explain", "--exclude-flag", "ALCOHOL", "--json",
                         check=True).stdout)
    assert "Short Film" not in [r["title"] for r in doc["results"]]
    assert doc["exclusions"] == {"exclude_genres": [], "exclude_kinds": [], "exclude_flags": ["ALCOHOL"],
                                 "require_genres": []}
    assert all("explain" in r for r in doc["results"])


def test_a_query_file_is_explained_with_its_own_frames(scenes_workspace, tmp_path):
    """A file that is not in the catalogue: its sampled frames go through the frame table's backbone."""
    from reelmatch.ingest.probe import sha256_file
    from reelmatch.samples.media import moving_box_frames, tone, write_video

    ws, ids = scenes_workspace
    f = tmp_path / "red again.mkv"  # Red Hour's look and sound, another file
    write_video(f, seconds=4, width=64, height=64,
                frames=moving_box_frames(64, 64, color=(230, 40, 40), background=(20, 30, 60)), audio=tone(440))
    assert ws.catalog.by_sha256(sha256_file(f)) is None
    res = ws.similar(str(f), k=3, explain=True)
    top = res.results[0]
    assert top.title == "Red Hour", res.to_dict()
    fr = top.explain["frames"]
    assert fr is not None and fr["query_time"] is not None and fr["similarity"] > 0.5


def test_the_kind_of_items_run_is_not_part_of_the_scenes_fingerprint():
    """A scenes run over ads adds to the trailers' folder; it does not start one that hides theirs."""
    from reelmatch.scenes import ScenesConfig
    from reelmatch.scenes.stage import scenes_fingerprint

    fps = {scenes_fingerprint(ScenesConfig(kind=k), "m", "c") for k in ("trailer", "ad", "all")}
    assert len(fps) == 1
    assert scenes_fingerprint(ScenesConfig(min_scene=1.0), "m", "c") not in fps  # what shapes scenes still counts
