"""Issue 17: the soundtrack as copy evidence (Chromaprint), fused with the picture; silence never counts."""

from __future__ import annotations

import numpy as np
import pytest

from reelmatch.catalog.db import Item
from reelmatch.dedupe import DedupeConfig, describe_catalogue, find_duplicates
from reelmatch.dedupe.audio import AudioCandidates, audio_fingerprint, audio_score, change_rate, informative
from reelmatch.dedupe.generated import _sound, scene_clip
from reelmatch.samples.media import write_video


def _shifted(sound, start: float):
    return lambda t: sound(t + start)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("copy_audio")
    src = scene_clip(d / "film.mp4", 11, 16.0)  # picture and melody of seed 11
    other = scene_clip(d / "other.mp4", 12, 16.0)
    silence = lambda t: np.zeros_like(t, np.float32)  # noqa: E731
    # the film's sound from 4 s on, under another film's picture: the picture says nothing, the sound says copy
    dubbed = scene_clip(d / "dubbed.mp4", 13, 10.0, audio=_shifted(_sound(11), 4.0))
    silent_a = scene_clip(d / "silent_a.mp4", 14, 10.0, audio=silence)
    silent_b = scene_clip(d / "silent_b.mp4", 15, 10.0, audio=silence)
    # the film's first 3 s of sound (a "jingle"), then a sound of its own
    jingle = scene_clip(d / "jingle.mp4", 16, 12.0, audio=lambda t: np.where(t < 3.0, _sound(11)(t), _sound(99)(t)).astype(np.float32))
    return {"film": src, "other": other, "dubbed": dubbed, "silent_a": silent_a, "silent_b": silent_b, "jingle": jingle}


def test_fingerprint_scores_and_offset(media):
    fp = {k: audio_fingerprint(p) for k, p in media.items()}
    assert fp["film"].dtype == np.uint32 and len(fp["film"]) > 100
    assert informative(fp["film"]) and informative(fp["dubbed"])
    score, match = audio_score(fp["film"], fp["dubbed"])
    assert score > 0.8
    assert match["offset"] == pytest.approx(-4.0, abs=0.5)  # the dubbed sound at t is the film's at t + 4
    assert audio_score(fp["dubbed"], fp["film"])[1]["offset"] == pytest.approx(4.0, abs=0.5)
    assert audio_score(fp["film"], fp["other"])[0] == 0.0  # another melody
    assert audio_score(fp["film"], fp["jingle"])[0] == 0.0  # 3 s in common is not a copy
    # silence: sub-fingerprints that never change are no evidence, however equal
    assert change_rate(fp["silent_a"]) < 0.01 and not informative(fp["silent_a"])
    assert audio_score(fp["silent_a"], fp["silent_b"]) == (0.0, None)
    # candidates: the copy is found by its sound, silence and the unrelated melody are not
    cands = AudioCandidates(fp)
    assert "dubbed" in cands.of("film")
    assert not {"silent_a", "silent_b"} & cands.of("film")
    assert ("dubbed", "film") in cands.pairs()


def test_no_audio_stream_gives_an_empty_fingerprint(tmp_path):
    p = write_video(tmp_path / "mute.mp4", seconds=2.0, audio=False)
    fp = audio_fingerprint(p)
    assert fp.dtype == np.uint32 and len(fp) == 0 and not informative(fp)


def _catalogue(ws, media, names):
    for n in names:
        ws.catalog.upsert(Item(id=n, title=n, media_path=str(media[n])))


def test_dedupe_groups_a_copy_by_its_sound_and_explains_it(ws, media):
    _catalogue(ws, media, ["film", "other", "dubbed", "silent_a", "silent_b", "jingle"])
    rep = describe_catalogue(ws, DedupeConfig(), workers=1)
    assert rep["failed"] == 0
    # (generated films all look alike to the ImageNet backbone, ~0.76 between any two: hence 0.8 here)
    doc = find_duplicates(ws, 0.8)
    groups = [sorted(i["id"] for i in g["items"]) for g in doc["groups"]]
    assert groups == [["dubbed", "film"]]  # silence, the jingle and the other film stay apart
    pair = doc["groups"][0]["pairs"][0]
    assert pair["visual"] < 0.8 <= pair["score"]  # the picture alone would miss it
    assert pair["audio"]["score"] > 0.8 and pair["audio"]["seconds"] >= 4
    # pictures only: the same catalogue has no copies
    rep = describe_catalogue(ws, DedupeConfig(audio=False), workers=1)
    assert find_duplicates(ws, 0.8, DedupeConfig(audio=False))["groups"] == []
