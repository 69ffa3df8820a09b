"""Real footage, real pretrained backbone: copies of one video find each other before any training.

Uses the shared devdata (the ``devdata`` fixture; skips without it); never copies it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

FILES = ("rocket_vp9_opus.webm", "rocket_vp8_vorbis.webm", "rocket_vp9_noaudio.mkv",
         "forensics_movie-hello.mp4", "forensics_movie-hello.avi", "cockatoo.mp4", "birds_flying.mp4")

pytestmark = pytest.mark.slow


def test_copies_rank_first_with_the_pretrained_backbone(tmp_path, devdata):
    from reelmatch.embed import EmbedConfig, load_embeddings, run_embed
    from reelmatch.extract import ClipConfig, run_extract
    from reelmatch.index import run_index
    from reelmatch.ingest import add_paths
    from reelmatch.workspace import Workspace

    missing = [f for f in FILES if not (devdata / f).exists()]
    if missing:
        pytest.skip(f"devdata lacks {', '.join(missing)}")
    ws = Workspace.init(tmp_path / "ws")
    add_paths(ws, [devdata / f for f in FILES])
    assert run_extract(ws, ClipConfig(), workers=1)["failed"] == 0
    run_embed(ws, EmbedConfig(batch_size=4))  # no model: the pretrained EfficientNet-Lite0 alone
    assert load_embeddings(ws).meta["mode"] == "backbone"
    run_index(ws)
    by_file = {Path(it.media_path).name: it for it in ws.catalog.items()}
    for group in (FILES[:3], FILES[3:5]):
        for f in group:
            res = ws.similar(by_file[f].id, k=len(group) - 1)
            assert {n.id for n in res.results} == {by_file[g].id for g in group if g != f}, (f, res.to_dict())
    # a file given by path is recognised by content, and a re-encode is found first
    res = ws.similar(str(devdata / "rocket_vp9_opus.webm"), k=1)
    assert res.query["id"] == by_file["rocket_vp9_opus.webm"].id
    assert res.results[0].id == by_file["rocket_vp8_vorbis.webm"].id
    ad = ws.match_ad(by_file["cockatoo.mp4"].id, k=3)
    assert len(ad) == 3 and all("visual" in n.scores for n in ad.results)
    ws.close()
