"""The ndvr benchmark: transformations, metrics, and a small run on generated videos."""

from __future__ import annotations

import json

import numpy as np
import pytest

from reelmatch.dedupe.ndvr import average_precision, calibrate, format_table
from reelmatch.dedupe.transforms import SUITE, Source


def test_average_precision_against_reference():
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    assert average_precision(scores, np.array([True, False, False, False])) == 1.0
    assert average_precision(scores, np.array([False, False, True, False])) == pytest.approx(1 / 3)
    assert average_precision(scores, np.array([True, False, True, False])) == pytest.approx((1 + 2 / 3) / 2)
    # ties are ranked pessimistically: a relevant item tied with a distractor is second
    assert average_precision(np.array([0.5, 0.5]), np.array([True, False])) == 0.5


def test_calibration_picks_the_separating_threshold():
    c = calibrate(np.array([0.9, 0.95, 0.97]), np.array([0.2, 0.5, 0.6]))
    assert c["best_f1"] == 1.0 and 0.6 < c["best_f1_threshold"] <= 0.9


def test_every_transformation_makes_a_valid_source():
    rng = np.random.default_rng(0)
    src = Source(frames=rng.integers(0, 255, (30, 48, 64, 3), dtype=np.uint8), fps=10.0,
                 audio=rng.normal(0, 0.1, 48000).astype(np.float32))  # fmt: skip
    for name, fn in SUITE.items():
        out = fn(src)
        assert out.frames.dtype == np.uint8 and out.frames.ndim == 4, name
        assert len(out.frames) >= 1 and out.frames.shape[1] % 2 == 0 and out.frames.shape[2] % 2 == 0, name
    assert SUITE["audio_removed"](src).audio is None
    assert np.array_equal(SUITE["hflip"](src).frames[:, :, 0], src.frames[:, :, -1])
    assert len(SUITE["segment"](src).frames) == 20  # 40 % of 3 s is under the 2 s minimum


def test_small_ndvr_run(tmp_path, cli):
    from reelmatch.samples.media import moving_box_frames, write_video

    d = tmp_path / "videos"
    write_video(d / "red.mp4", seconds=3, width=96, height=64, frames=moving_box_frames(96, 64, color=(230, 40, 40)))
    write_video(
        d / "blue.webm", seconds=3, width=96, height=64,
        frames=moving_box_frames(96, 64, color=(40, 40, 230), background=(120, 10, 10), speed=2.5),
    )  # fmt: skip
    (d / "broken.mkv").write_bytes(b"not a video at all" * 20)
    r = cli("bench", "ndvr", d, "--backbone", "tiny", "--seconds", "3", "--transforms", "reencode,hflip,segment",
            "--json", "--out", tmp_path / "copies")  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["videos"] == 2 and doc["transforms"] == ["reencode", "hflip", "segment"]
    assert [s["path"] for s in doc["skipped"]] == [str(d / "broken.mkv")]
    for t in doc["transforms"]:
        for m in ("reelmatch", "mean_pooled", "video_hash"):
            r_ = doc["per_transform"][t][m]
            assert r_["queries"] == 2 and 0.5 <= r_["map"] <= 1.0
    # re-encoding and cutting a segment keep the copy closest to its source
    assert doc["per_transform"]["reencode"]["reelmatch"]["map"] == 1.0
    assert doc["per_transform"]["segment"]["reelmatch"]["map"] == 1.0
    assert (tmp_path / "copies" / "hflip__red.mp4").exists()
    table = format_table(doc)
    assert "OVERALL" in table and "video_hash" in table and "broken.mkv" in table
