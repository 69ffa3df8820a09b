"""Copy detection on generated media: copies group, distinct videos stay apart."""

from __future__ import annotations

import json

import numpy as np
import pytest

from reelmatch.catalog.db import Item
from reelmatch.dedupe import DedupeConfig, connected_groups, copy_score, describe_catalogue, duplicates_of, find_duplicates
from reelmatch.dedupe.frames import border_box, sample_frames
from reelmatch.errors import InputError

SECONDS = 4


def _checker(w, h, phase):
    def frame(i, t):
        yy, xx = np.mgrid[0:h, 0:w]
        k = ((xx + int(8 * t * phase)) // 8 + yy // 8) % 2
        img = np.stack([k * 220, k * 40 + 20, (1 - k) * 200], -1).astype(np.uint8)
        img[: h // 4, : int(w * ((t / SECONDS) % 1))] = 255
        return img

    return frame


def _circles(w, h):
    def frame(i, t):
        yy, xx = np.mgrid[0:h, 0:w]
        r = np.hypot(xx - w / 2 - 10 * np.sin(t), yy - h / 2)
        v = (127 + 120 * np.sin(r / (2 + t))).astype(np.uint8)
        return np.stack([v, 255 - v, np.full_like(v, 60)], -1)

    return frame


def _scenes(w, h):
    """A 'trailer' with a cut every second: smooth random colour fields that pan slowly."""
    from PIL import Image

    rng = np.random.default_rng(3)
    fields = [
        np.asarray(Image.fromarray(rng.integers(0, 255, (4, 6, 3), dtype=np.uint8)).resize((w + 40, h), Image.BICUBIC))
        for _ in range(8)
    ]

    def frame(i, t):
        x = int(4 * (t % 1) * 2)
        return np.ascontiguousarray(fields[int(t) % 8][:, x : x + w])

    return frame


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from reelmatch.dedupe.ndvr import Source, write_source
    from reelmatch.dedupe.transforms import crop

    from reelmatch.samples.media import write_video

    d = tmp_path_factory.mktemp("dedupe_media")
    paths = {
        "scenes": write_video(d / "scenes.mp4", seconds=SECONDS, width=96, height=64, frames=_scenes(96, 64)),
        "checker": write_video(d / "checker.webm", seconds=SECONDS, width=96, height=64, frames=_checker(96, 64, 1)),
        "circles": write_video(d / "circles.mkv", seconds=SECONDS, width=96, height=64, frames=_circles(96, 64), audio=False),
    }
    # a copy of "scenes": decoded, cropped, re-encoded in a MOV container
    frames, _ = sample_frames(paths["scenes"], fps=10, max_side=96)
    src = Source(frames=frames, fps=10.0, audio=None, container=".mov")
    paths["scenes_copy"] = write_source(crop(src), d / "scenes_copy")
    # a 1.5 s segment from the middle of "scenes"
    seg = Source(frames=frames[15:30], fps=10.0, audio=None)
    paths["scenes_segment"] = write_source(seg, d / "scenes_segment")
    (d / "hostile.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\xff" * 300)
    paths["hostile"] = d / "hostile.mp4"
    return paths


def _fill(ws, corpus):
    for name, p in corpus.items():
        ws.catalog.upsert(Item(id=name, title=name.replace("_", " ").title(), media_path=str(p)))


def test_copy_score_tolerates_segments_and_is_symmetric():
    rng = np.random.default_rng(0)
    long = rng.normal(size=(50, 32)).astype(np.float32)
    long /= np.linalg.norm(long, axis=1, keepdims=True)
    seg = long[20:25] + 0.05 * rng.normal(size=(5, 32)).astype(np.float32)
    seg /= np.linalg.norm(seg, axis=1, keepdims=True)
    other = rng.normal(size=(30, 32)).astype(np.float32)
    other /= np.linalg.norm(other, axis=1, keepdims=True)
    assert copy_score(seg, long) > 0.95
    assert copy_score(seg, long) == copy_score(long, seg)
    assert copy_score(other, long) < 0.6
    # the slow obvious reference: mean over the shorter video's frames of the best match (trim=0)
    ref = np.mean([max(float(s @ l) for l in long) for s in seg])
    assert copy_score(seg, long, trim=0.0) == pytest.approx(ref, abs=1e-6)


def test_groups_threshold_logic():
    pairs = [("a", "b", 0.95), ("b", "c", 0.90), ("d", "e", 0.70), ("a", "a", 1.0)]
    assert connected_groups(pairs, 0.85) == [(0.90, ["a", "b", "c"])]
    assert connected_groups(pairs, 0.92) == [(0.95, ["a", "b"])]
    assert connected_groups(pairs, 0.6) == [(0.90, ["a", "b", "c"]), (0.70, ["d", "e"])]
    assert connected_groups(pairs, 0.99) == []


def test_border_box_finds_letterbox():
    frames = np.zeros((5, 60, 80, 3), np.uint8)
    rng = np.random.default_rng(0)
    frames[:, 10:50] = rng.integers(0, 255, (5, 40, 80, 3))
    assert border_box(frames) == (10, 50, 0, 80)


def test_hostile_file_is_an_input_error(corpus):
    with pytest.raises(InputError, match="hostile.mp4"):
        sample_frames(corpus["hostile"])


def test_copies_group_and_distinct_videos_do_not(ws, corpus):
    _fill(ws, corpus)
    config = DedupeConfig()
    rep = describe_catalogue(ws, config, workers=1)
    assert rep["done"] == 5 and rep["failed"] == 1
    assert rep["failures"][0]["id"] == "hostile" and "hostile.mp4" in rep["failures"][0]["error"]
    st = ws.catalog.stage_of("hostile", "dedupe")
    assert st["status"] == "failed"
    # the 12 %-per-side crop of this 96x64 video scores about 0.88, near the shipped threshold (0.905, calibrated
    # so that look-alike presenters never merge: docs/dedupe.md); the segment (0.95) is found at the shipped one
    shipped = [{i["id"] for i in g["items"]} for g in find_duplicates(ws, config=config)["groups"]]
    assert len(shipped) == 1 and {"scenes", "scenes_segment"} <= shipped[0] <= {"scenes", "scenes_copy", "scenes_segment"}
    doc = find_duplicates(ws, 0.85, config=config)
    json.dumps(doc)  # the public document is plain JSON
    groups = [sorted(i["id"] for i in g["items"]) for g in doc["groups"]]
    assert groups == [["scenes", "scenes_copy", "scenes_segment"]], doc
    assert set(doc["groups"][0]["items"][0]) == {"id", "title", "path"}
    assert doc["failures"][0]["id"] == "hostile"
    assert duplicates_of(ws, "scenes_segment", 0.85, config=config) == {"scenes", "scenes_copy"}
    assert duplicates_of(ws, "checker", config=config) == set()
    # a threshold above every score: no group
    assert find_duplicates(ws, 1.01, config)["groups"] == []
    # idempotent: nothing left to do with the same config
    assert describe_catalogue(ws, config, workers=1) == {"done": 0, "failed": 0, "failures": []}


def test_cli_dedupe_json(ws, corpus, cli):
    ws.catalog.upsert(Item(id="scenes", title="Scenes", media_path=str(corpus["scenes"])))
    ws.catalog.upsert(Item(id="copy", title="Scenes copy", media_path=str(corpus["scenes_copy"])))
    ws.catalog.upsert(Item(id="bad", title="Bad", media_path=str(corpus["hostile"])))
    r = cli("-w", ws.root, "dedupe", "--json", "--workers", "1", "--threshold", "0.85")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [sorted(i["id"] for i in g["items"]) for g in doc["groups"]] == [["copy", "scenes"]]
    assert "bad" in r.stderr and "hostile.mp4" in r.stderr
    r = cli("-w", ws.root, "dedupe", "--threshold", "7")
    assert r.returncode == 2 and "threshold" in r.stderr


def test_duplicates_of_before_dedupe_ran_is_a_clear_error(ws):
    from reelmatch.catalog import Item
    from reelmatch.errors import NotBuiltError

    ws.catalog.upsert(Item(id="lonely", title="Lonely"))
    with pytest.raises(NotBuiltError, match="reelmatch dedupe"):
        duplicates_of(ws, "lonely")
    ws.catalog.mark_failed("lonely", "dedupe", "not a video")
    assert duplicates_of(ws, "lonely") == set()  # failed items have no copies, with a warning
