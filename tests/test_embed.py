"""embed: vectors, provenance, incremental runs, never mixing models, failures, the index stage on top."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from reelmatch.embed.embedder import list_embedders
from test_query import CLIP, tiny_embedder


@pytest.fixture(scope="module")
def ews(tmp_path_factory):
    from reelmatch.extract import ClipConfig, run_extract
    from reelmatch.ingest import add_paths
    from reelmatch.samples.media import moving_box_frames, tone, write_video
    from reelmatch.workspace import Workspace

    media = tmp_path_factory.mktemp("emedia")
    for i, (col, f) in enumerate([((230, 40, 40), 440), ((40, 40, 230), 880), ((40, 230, 40), None)]):
        write_video(media / f"film{i}.mp4", frames=moving_box_frames(64, 64, color=col), audio=tone(f) if f else False)
    write_video(media / "later" / "film3.mp4", frames=moving_box_frames(64, 64, color=(200, 200, 40)), audio=tone(300))
    ws = Workspace.init(tmp_path_factory.mktemp("ews") / "ws")
    add_paths(ws, [media / f"film{i}.mp4" for i in range(3)], genres=["Drama"])
    run_extract(ws, ClipConfig(**CLIP), workers=1)
    ws.media = media  # for the tests below
    yield ws
    ws.close()


def run(ws, embedder=None, **kw):
    from reelmatch.embed import EmbedConfig, run_embed

    totals = []
    path = run_embed(ws, EmbedConfig(batch_size=2, **kw), embedder=embedder or tiny_embedder(),
                     progress=lambda done, total: totals.append(total))
    return path, (totals[-1] if totals else 0)


def test_embeddings_file_vectors_and_provenance(ews, caplog):
    from reelmatch.dataset.store import ClipStore
    from reelmatch.embed import load_embeddings
    from reelmatch.embed.run import stage_fingerprint

    with caplog.at_level(logging.INFO, logger="reelmatch"):
        path, n = run(ews)
    assert n == 3 and path == ews.root / "embeddings" / "default.npz"
    assert "pretrained backbone alone" in caplog.text or "backbone alone" in caplog.text
    emb = load_embeddings(ews)
    store = ClipStore(ews)
    assert sorted(emb.ids) == sorted(store.ids())
    assert emb.vectors.dtype == emb.visual.dtype == emb.audio.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb.vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(emb.visual, axis=1), 1.0, atol=1e-5)
    audio_norms = np.linalg.norm(emb.audio, axis=1)
    for i, has in zip(emb.ids, emb.has_audio):
        assert has == store.get(i).has_audio
    np.testing.assert_allclose(audio_norms, emb.has_audio.astype(np.float32), atol=1e-5)  # silent: zeros
    side = json.loads((ews.root / "embeddings" / "default.npz.json").read_text())
    assert side["mode"] == "backbone" and side["backbone"] == tiny_embedder().describe()["backbone"]
    assert side["clip_fingerprint"] == store.config.fingerprint
    assert side["model_fingerprint"] == tiny_embedder().fingerprint
    assert side["vectors_fingerprint"] == emb.vectors_fingerprint and side["count"] == 3
    fp = stage_fingerprint(side["model_fingerprint"], side["clip_fingerprint"])
    assert sorted(ews.catalog.done_ids("embed", fp)) == sorted(emb.ids)
    with np.load(path, allow_pickle=False) as z:  # loadable without pickle
        assert z["vectors"].shape == (3, emb.vectors.shape[1])


def test_backbone_only_fuses_towers_by_weight(ews):
    from reelmatch.embed import load_embeddings

    emb = load_embeddings(ews)
    a, b = [i for i, h in zip(range(len(emb)), emb.has_audio) if h][:2]
    w = 0.25
    expect = (1 - w) * emb.visual[a] @ emb.visual[b] + w * emb.audio[a] @ emb.audio[b]
    got = emb.vectors[a] @ emb.vectors[b]
    assert abs(got - expect) < 1e-4


def test_rerun_is_incremental_and_new_items_only(ews):
    from reelmatch.embed import load_embeddings
    from reelmatch.extract import ClipConfig, run_extract
    from reelmatch.ingest import add_paths

    before = load_embeddings(ews)
    _, n = run(ews)
    assert n == 0 and load_embeddings(ews).vectors_fingerprint == before.vectors_fingerprint
    add_paths(ews, [ews.media / "later"], genres=["Comedy"])
    run_extract(ews, ClipConfig(**CLIP), workers=1)
    _, n = run(ews)
    after = load_embeddings(ews)
    assert n == 1 and len(after) == 4
    for i in before.ids:  # old vectors kept, bit for bit
        np.testing.assert_array_equal(after.vectors[after.row(i)], before.vectors[before.row(i)])


def test_vectors_of_another_model_are_recomputed_never_mixed(ews):
    from reelmatch.embed import load_embeddings
    from reelmatch.embed.run import stage_fingerprint

    other = tiny_embedder(audio_weight=0.6)
    _, n = run(ews, embedder=other)
    emb = load_embeddings(ews)
    assert n == len(emb) == 4 and emb.model_fingerprint == other.fingerprint
    fp = stage_fingerprint(other.fingerprint, emb.clip_fingerprint)
    assert len(ews.catalog.done_ids("embed", fp)) == 4
    # and back: the first model's vectors are recomputed too, not reused from the catalogue's memory
    _, n = run(ews)
    assert n == 4 and load_embeddings(ews).model_fingerprint == tiny_embedder().fingerprint


def test_a_bad_clip_fails_alone(ews):
    from reelmatch.catalog.db import Item
    from reelmatch.dataset.clip import Clip
    from reelmatch.dataset.store import ClipStore
    from reelmatch.embed import load_embeddings

    good = ClipStore(ews).get(load_embeddings(ews).ids[0])
    ews.catalog.upsert(Item(id="bad-1", title="Bad clip"))
    bad = Clip(id="bad-1", frames=good.frames, mask=good.mask, timestamps=good.timestamps,
               spectrogram=np.full_like(good.spectrogram, np.nan), has_audio=True)
    store = ClipStore(ews)
    with store.writer() as w:
        w.add(bad)
    _, n = run(ews)
    emb = load_embeddings(ews)
    assert n == 1 and "bad-1" not in emb and len(emb) == 4
    st = ews.catalog.stage_of("bad-1", "embed")
    assert st["status"] == "failed" and "NaN" in st["error"] and "\n" not in st["error"]
    ews.catalog.delete("bad-1")


def test_index_stage_updates_in_place_then_rebuilds_for_a_new_model(ews):
    from reelmatch.embed import load_embeddings
    from reelmatch.index import index_path, load_index, run_index

    rep = run_index(ews)
    assert rep.count == 4
    rep = run_index(ews)
    assert not rep.rebuilt and rep.added == rep.removed == 0
    emb = load_embeddings(ews)
    gone = emb.ids[0]
    ews.catalog.delete(gone)
    run(ews)  # drops the deleted item's vector
    rep = run_index(ews)
    assert not rep.rebuilt and rep.removed == 1 and rep.count == 3
    index = load_index(index_path(ews), vectors_fingerprint=load_embeddings(ews).vectors_fingerprint)
    assert gone not in index and len(index) == 3
    side = json.loads((ews.root / "index" / "default.npz.json").read_text())
    assert side["count"] == 3 and side["model_fingerprint"] == emb.model_fingerprint
    run(ews, embedder=tiny_embedder(audio_weight=0.9))
    assert run_index(ews).rebuilt


def test_audio_descriptor_is_centred_statistics_and_refuses_nan():
    from reelmatch.embed.embedder import audio_descriptor

    rng = np.random.default_rng(0)
    spec = rng.normal(size=(16, 40)).astype(np.float32)
    d = audio_descriptor(spec, True)
    assert d.shape == (32,) and abs(np.linalg.norm(d) - 1) < 1e-5
    assert abs(d[:16].sum()) < 1e-4 and abs(d[16:].sum()) < 1e-4  # centred over bands
    np.testing.assert_allclose(audio_descriptor(spec + 7.0, True), d, atol=1e-5)  # louder: same shape
    assert not audio_descriptor(spec, False).any()  # no audio: zeros, and no audio score later
    picture = rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)  # the recipe's spectrogram picture
    assert audio_descriptor(picture, True).shape == (48,)
    spec[3, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        audio_descriptor(spec, True)


def test_no_clips_and_no_vectors_are_clear_errors(tmp_path):
    from reelmatch.embed import EmbedConfig, run_embed
    from reelmatch.errors import NotFoundError
    from reelmatch.index import run_index
    from reelmatch.workspace import Workspace

    ws = Workspace.init(tmp_path / "empty")
    with pytest.raises(NotFoundError, match="extract"):
        run_embed(ws, EmbedConfig(), embedder=tiny_embedder())
    with pytest.raises(NotFoundError, match="embed"):
        run_index(ws)
    ws.close()


def _embedder_args(mode, tmp_path):
    """Constructor arguments of each registered embedder, with test-sized weights."""
    if mode == "backbone":
        return ("tiny",), {"pretrained": False}
    if mode == "model":
        import torch

        from reelmatch.model import TwoTower
        from reelmatch.model.checkpoint import save
        from reelmatch.model.config import ModelConfig

        torch.manual_seed(0)
        model = TwoTower(ModelConfig(backbone="tiny", pretrained=False, pooling="mean", hidden=16, audio_dim=8, embed_dim=12))
        return (save(model, tmp_path / "ck"),), {}
    raise AssertionError(f"embedder {mode!r} has no test arguments: add them here")


@pytest.mark.parametrize("mode", list_embedders())
def test_every_embedder_embeds_and_is_rebuilt_from_its_metadata(tmp_path, mode):
    from reelmatch.dataset.clip import Clip
    from reelmatch.embed.embedder import create_embedder, embedder_for

    args, kwargs = _embedder_args(mode, tmp_path)
    emb = create_embedder(mode, *args, **kwargs)
    assert emb.mode == mode and emb.describe()["mode"] == mode
    rng = np.random.default_rng(0)
    k, s, mels, steps = CLIP["num_frames"], CLIP["size"], CLIP["n_mels"], CLIP["spec_frames"]
    clips = [Clip(id=f"c{i}", frames=rng.integers(0, 256, (k, s, s, 3), dtype=np.uint8), mask=np.arange(k) < 3,
                  timestamps=np.arange(k, dtype=np.float32), spectrogram=rng.random((mels, steps), np.float32),
                  has_audio=i != 1) for i in range(3)]
    out = emb.embed(clips)
    for key in ("fused", "visual", "audio"):
        assert out[key].shape[0] == 3 and out[key].dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out["fused"], axis=1), 1.0, atol=1e-5)
    again = embedder_for(None, {**emb.describe(), "model_fingerprint": emb.fingerprint})
    assert type(again) is type(emb) and again.fingerprint == emb.fingerprint
    np.testing.assert_allclose(again.embed(clips)["fused"], out["fused"], atol=1e-6)


def test_unknown_embedder_lists_the_known_ones():
    from reelmatch.embed.embedder import create_embedder, embedder_for, list_embedders
    from reelmatch.errors import InputError, StaleArtifactError

    with pytest.raises(InputError) as e:
        create_embedder("clip-vit")
    assert all(m in str(e.value) for m in list_embedders())
    with pytest.raises(StaleArtifactError, match="unknown embedder 'clip-vit'"):
        embedder_for(None, {"mode": "clip-vit"})


def test_a_trained_model_replaces_the_backbone_vectors(ews):
    """Last in this file: makes a (tiny, untrained) checkpoint the workspace's current model."""
    import torch

    from reelmatch.dataset.store import ClipStore
    from reelmatch.embed import EmbedConfig, load_embeddings, run_embed
    from reelmatch.index import run_index
    from reelmatch.model import TwoTower
    from reelmatch.model.checkpoint import model_fingerprint, save, set_current_checkpoint
    from reelmatch.model.config import ModelConfig

    before = load_embeddings(ews)
    torch.manual_seed(0)
    model = TwoTower(ModelConfig(backbone="tiny", pretrained=False, pooling="mean", hidden=16, audio_dim=8, embed_dim=12))
    ckpt = save(model, ews.dir("models") / "m1", {"clip_fingerprint": ClipStore(ews).config.fingerprint})
    set_current_checkpoint(ews, ckpt)
    totals = []
    run_embed(ews, EmbedConfig(batch_size=2), progress=lambda d, t: totals.append(t))  # picks the model itself
    emb = load_embeddings(ews)
    assert totals[-1] == len(before) == len(emb)  # all recomputed, none mixed
    assert emb.meta["mode"] == "model" and emb.model_fingerprint == model_fingerprint(ckpt)
    assert emb.vectors.shape[1] == emb.visual.shape[1] == emb.audio.shape[1] == 12
    np.testing.assert_allclose(np.linalg.norm(emb.vectors, axis=1), 1.0, atol=1e-5)
    assert not emb.audio[~emb.has_audio].any()
    assert run_index(ews).rebuilt
    first = emb.ids[0]
    res = ews.similar(first, k=2)
    assert first not in res.ids and len(res) == 2
    # a new file is embedded by the same checkpoint
    res = ews.match_ad(str(ews.media / "later" / "film3.mp4"), k=1)
    assert res.results[0].scores["visual"] is not None

