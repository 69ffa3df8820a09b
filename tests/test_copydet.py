"""Issue 17: temporal alignment and segments, µAP, blank-only videos, copies in dedupe --json and on the server."""

from __future__ import annotations

import json

import numpy as np
import pytest

from reelmatch.catalog.db import Item
from reelmatch.dedupe import DedupeConfig, describe_catalogue, find_duplicates
from reelmatch.dedupe.pair_metrics import micro_ap
from reelmatch.dedupe.segments import align


def _walk(n: int, dim: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim))  # frames of distinct shots: no two alike
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _noisy(x: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    y = x + np.random.default_rng(seed).normal(size=x.shape).astype(np.float32) * sigma
    return y / np.linalg.norm(y, axis=1, keepdims=True)


def test_align_locates_a_cut_and_a_speed_change():
    long = _walk(52)
    t = np.arange(52, dtype=np.float32)
    cut = _noisy(long[30:35], 0.03, 1)  # a 5 s cut at 30 s
    r = align(cut, long, np.arange(5, dtype=np.float32), t)
    assert r.score > 0.9
    seg = r.segments[0]
    assert abs(seg["b_start"] - 30) <= 1 and abs(seg["b_end"] - 35) <= 1
    assert abs(seg["a_start"] - 0) <= 1 and abs(seg["a_end"] - 5) <= 1
    # the same pair the other way round: the roles of a and b swap in the segment too
    s2 = align(long, cut, t, np.arange(5, dtype=np.float32)).segments[0]
    assert abs(s2["a_start"] - 30) <= 1 and abs(s2["b_start"]) <= 1
    # played 1.5x faster: frame i of the copy shows source time 1.5 i
    idx = np.minimum(np.round(np.arange(0, 52, 1.5)).astype(int), 51)
    fast = _noisy(long[idx], 0.03, 2)
    rf = align(fast, long, np.arange(len(idx), dtype=np.float32), t)
    assert rf.score > 0.85
    assert abs(rf.segments[0]["b_end"] - rf.segments[0]["b_start"] - 1.5 * (rf.segments[0]["a_end"] - rf.segments[0]["a_start"])) < 2


def test_alignment_penalises_order_free_lookalikes():
    """Frames that all find a match somewhere, but in no consistent order, score below a real copy."""
    from reelmatch.dedupe.similarity import copy_score

    long = _walk(40, seed=3)
    t = np.arange(40, dtype=np.float32)
    rng = np.random.default_rng(4)
    shuffled = _noisy(long[rng.permutation(40)[:12]], 0.05, 5)
    real = _noisy(long[10:22], 0.05, 6)
    tt = np.arange(12, dtype=np.float32)
    assert align(real, long, tt, t).score > align(shuffled, long, tt, t).score + 0.1
    assert copy_score(shuffled, long) > 0.9  # the order-free chamfer cannot tell them apart


def test_align_rejects_bad_shapes():
    with pytest.raises(ValueError, match="equal D"):
        align(np.zeros((3, 4), np.float32), np.zeros((3, 5), np.float32), np.arange(3), np.arange(3))
    assert align(np.zeros((0, 4), np.float32), _walk(3, 4), np.zeros(0), np.arange(3)).score == 0.0


def test_micro_ap_against_reference():
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    y = np.array([True, False, True, False, True])
    ref = (1 / 1 + 2 / 3 + 3 / 5) / 4  # 4 true pairs, one never predicted
    assert micro_ap(s, y, n_true=4) == pytest.approx(ref)
    assert micro_ap(np.array([0.5, 0.5]), np.array([True, False])) == 0.5  # ties: false pair first
    with pytest.raises(ValueError):
        micro_ap(np.zeros(3), np.zeros(2, bool))


@pytest.fixture(scope="module")
def trailer(tmp_path_factory):
    """A 16 s generated 'trailer' and a 5 s cut of it starting at 6 s, plus two black videos."""
    from reelmatch.dedupe.generated import black_frames, scene_clip
    from reelmatch.dedupe.ndvr import NdvrConfig, load_source, write_source
    from reelmatch.dedupe.transforms import _cut

    d = tmp_path_factory.mktemp("copydet")
    full = scene_clip(d / "trailer.mp4", 7, seconds=16.0)
    src = load_source(full, NdvrConfig(max_seconds=16.0, max_side=160, max_fps=12.0))
    cut = write_source(_cut(src, 6.0, 11.0), d / "teaser")
    other = scene_clip(d / "other.mp4", 8, seconds=8.0)
    return {"trailer": full, "teaser": cut, "other": other,
            "black": black_frames(d / "black.mp4", 0, 3.0), "black2": black_frames(d / "black2.mp4", 1, 3.0)}  # fmt: skip


def test_dedupe_json_has_segments_and_best_frame_pair(ws, trailer, run_cli):
    for name, p in trailer.items():
        ws.catalog.upsert(Item(id=name, title=name.title(), media_path=str(p)))
    config = DedupeConfig()
    rep = describe_catalogue(ws, config, workers=1)
    assert rep["done"] == 5, rep
    doc = find_duplicates(ws, config=config)
    json.dumps(doc)
    assert [sorted(i["id"] for i in g["items"]) for g in doc["groups"]] == [["teaser", "trailer"]], doc
    (pair,) = doc["groups"][0]["pairs"]
    assert (pair["a"], pair["b"]) == ("teaser", "trailer")
    seg = max(pair["segments"], key=lambda s: s["a_end"] - s["a_start"])
    assert set(seg) == {"a_start", "a_end", "b_start", "b_end", "score"}
    # the 5 s teaser is located at 6-11 s of the trailer, within 1 s
    assert abs(seg["b_start"] - 6.0) <= 1.0 and abs(seg["b_end"] - 11.0) <= 1.0, seg
    assert abs(seg["a_start"]) <= 1.0 and abs(seg["a_end"] - 5.0) <= 1.0, seg
    best = pair["best_match"]
    assert abs(best["b_time"] - best["a_time"] - 6.0) <= 1.0
    assert best["a_thumbnail"].startswith("/api/items/teaser/frame?t=")
    # two black videos have no evidence: described, never grouped
    assert all("black" not in i["id"] for g in doc["groups"] for i in g["items"])
    r = run_cli("-w", ws.root, "dedupe", "--json", "--workers", "1")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["groups"][0]["pairs"][0]["segments"]


def test_server_copies_and_frame(ws, trailer):
    from fastapi.testclient import TestClient

    from reelmatch.serve.app import create_app

    for name in ("trailer", "teaser", "other"):
        ws.catalog.upsert(Item(id=name, title=name.title(), media_path=str(trailer[name])))
    describe_catalogue(ws, DedupeConfig(), workers=1)
    with TestClient(create_app(ws)) as c:
        r = c.get("/api/items/trailer/copies")
        assert r.status_code == 200, r.text
        (cp,) = r.json()["copies"]
        assert cp["id"] == "teaser" and cp["segments"]
        # the evidence of the pair: the aligned pictures, and the sound (a 5 s teaser has too little sound to vouch)
        assert cp["visual"] == cp["score"] and cp["audio"] is None
        img = c.get(cp["best_match"]["b_thumbnail"])
        assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg" and img.content[:2] == b"\xff\xd8"
        assert c.get("/api/items/other/copies").json()["copies"] == []
        assert c.get("/api/items/nope/copies").status_code == 404
        assert c.get("/api/items/trailer/frame?t=-1").status_code == 422
        page = c.get("/static/copies.js")
        assert page.status_code == 200 and "showCopies" in page.text and "sound-match" in page.text


def test_augly_plans_are_seeded_and_a_real_copy_is_made(tmp_path):
    from reelmatch.dedupe.augly_suite import COMPOUNDABLE, SINGLE, make_copy, plan
    from reelmatch.dedupe.frames import sample_frames
    from reelmatch.errors import InputError
    from reelmatch.samples.media import write_video

    assert plan("blur", 3) == plan("blur", 3) and plan("blur", 3) != plan("blur", 4)
    for seed in range(20):
        edits = plan("compound", seed)
        assert 2 <= len(edits) <= 3 and all(e.family in COMPOUNDABLE for e in edits)
    assert {e.family for s in range(5) for f in SINGLE for e in plan(f, s)} == set(SINGLE)
    with pytest.raises(InputError, match="unknown AugLy family"):
        plan("sharpen", 0)
    src = write_video(tmp_path / "src.mp4", seconds=2, width=96, height=64, fps=10)
    out, edits = make_copy(src, "grayscale", 1, distractors=[], cache_dir=tmp_path / "cache")
    frames, _ = sample_frames(out, fps=2)
    assert edits[0].fn == "grayscale" and np.abs(frames[..., 0].astype(int) - frames[..., 2]).max() <= 12
    again, _ = make_copy(src, "grayscale", 1, distractors=[], cache_dir=tmp_path / "cache")
    assert again == out  # cached
