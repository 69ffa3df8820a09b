"""Modalities as towers (issue 15): the registry, the presence mask, text-only titles end to end."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

import _golden
from reelmatch.errors import InputError
from reelmatch.model.config import FUSIONS, ModelConfig
from reelmatch.model.modalities import MODALITIES, list_modalities, modality, presence, used_modalities

TINY = dict(backbone="tiny", pretrained=False, hidden=16, audio_dim=8, embed_dim=12, num_genres=3)


def _batch(b=6, k=3, text=True):
    g = torch.Generator().manual_seed(0)
    batch = {
        "frames": torch.randint(0, 255, (b, k, 16, 16, 3), dtype=torch.uint8, generator=g),
        "mask": torch.ones(b, k, dtype=torch.bool),
        "spectrogram": torch.randn(b, 16, 32, generator=g),
        "has_audio": torch.ones(b, dtype=torch.bool),
    }
    batch["mask"][1, 1:] = False
    batch["mask"][2] = False  # a plot-only title: no frame at all
    batch["has_audio"][2:4] = False
    if text:
        batch["text"] = torch.randn(b, 384, generator=g)
        batch["has_text"] = torch.tensor([True, True, True, False, True, False][:b])
    return batch


def test_the_registry_names_every_modality_and_refuses_unknown_ones():
    assert list_modalities() == ["visual", "audio", "text"]
    assert {m.source for m in MODALITIES.values()} == {"clip", "catalogue"}
    with pytest.raises(InputError, match="known modalities are visual, audio, text"):
        modality("smell")
    b = _batch()
    assert presence(b, "visual", 6).tolist() == [True, True, False, True, True, True]
    assert presence(b, "text", 6).tolist() == b["has_text"].tolist()
    assert presence({}, "audio", 2).tolist() == [False, False]
    assert used_modalities({"text": True, "visual": False, "audio": True}) == ["audio", "text"]


def test_a_config_stored_before_text_existed_is_the_model_it_was():
    from reelmatch.model.two_tower import TwoTower

    later = ("text", "text_dim", "text_dropout", "audio_encoder", "fusion", "frame_norm", "text_genre_weight")
    old = {k: v for k, v in ModelConfig(**TINY).to_dict().items() if k not in later}
    cfg = ModelConfig.from_dict(old)
    assert cfg.text is None and cfg.modalities == ("visual", "audio")
    assert cfg.fingerprint == ModelConfig(**TINY, text=None, frame_norm="legacy").fingerprint
    assert cfg.to_dict()["text"] is None and cfg.frame_norm == "legacy"
    names = {k.split(".")[0] for k in TwoTower(cfg).state_dict()}
    assert names == {"backbone", "frame_proj", "pool", "audio", "no_audio", "visual_head", "audio_head", "fuse",
                     "classifier"}  # exactly the parameters checkpoints of then carry
    with pytest.raises(InputError, match="fusion"):
        ModelConfig(fusion="sum")
    with pytest.raises(InputError, match="audio_encoder"):
        ModelConfig(audio_encoder="wav2vec")


@pytest.mark.parametrize("fusion", FUSIONS)
def test_every_fusion_embeds_whatever_modalities_an_item_has(fusion):
    from reelmatch.model.two_tower import TwoTower

    torch.manual_seed(0)
    model = TwoTower(ModelConfig(**TINY, fusion=fusion)).eval()
    b = _batch()
    out = model.encode_towers(b)
    for name in ("visual", "audio", "text", "fused"):  # text: the projection and the 3 genre probabilities
        assert out[name].shape == (6, 12 + 3 * (name == "text")) and torch.isfinite(out[name]).all()
    assert torch.allclose(out["fused"].norm(dim=1), torch.ones(6), atol=1e-5)
    # a tower's row is zero where the item lacks that modality, unit length where it has it
    for name, has in (("visual", presence(b, "visual", 6)), ("audio", b["has_audio"]), ("text", b["has_text"])):
        assert out[f"has_{name}"].tolist() == has.tolist()
        assert torch.allclose(out[name].norm(dim=1), has.float(), atol=1e-5)
    # the fusion reads each modality only through the presence mask: changing an absent input changes nothing
    b2 = dict(b, text=b["text"].clone(), spectrogram=b["spectrogram"].clone())
    b2["text"][3] = torch.randn(384, generator=torch.Generator().manual_seed(2))  # item 3 has no plot
    b2["spectrogram"][2] += 5.0  # item 2 has no sound
    out2 = model.encode_towers(b2)
    assert torch.allclose(out2["fused"], out["fused"], atol=1e-5)
    b2["text"][0] = torch.randn(384, generator=torch.Generator().manual_seed(1))  # ... but a present one does
    assert not torch.allclose(model.encode_towers(b2)["fused"][0], out["fused"][0], atol=1e-3)
    out["fused"].sum()  # and gradients reach every tower in training
    model.train()
    loss = sum(v.sum() for k, v in model(b).items() if k in ("visual", "audio", "text", "fused"))
    loss.backward()
    for part in ("text_tower", "audio", "frame_proj", "fuse"):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in getattr(model, part).parameters()), part


def test_modality_dropout_hides_modalities_but_never_all_of_them():
    from reelmatch.model.two_tower import TwoTower

    torch.manual_seed(0)
    model = TwoTower(ModelConfig(**TINY, modality_dropout=0.5)).train()
    n = 4000
    has_visual = torch.ones(n, dtype=torch.bool)
    has_audio = torch.rand(n) < 0.7
    has_text = torch.rand(n) < 0.7
    v, a, t = model._dropout(has_visual, has_audio, has_text)
    assert (v | a | t).all()  # nobody loses everything
    assert not (a & ~has_audio).any() and not (t & ~has_text).any()  # nothing absent becomes present
    for kept, before in ((a, has_audio), (t, has_text)):
        assert 0.4 < kept.sum() / before.sum() < 0.6
    assert 0.1 < 1 - v.float().mean() < 0.5  # the frames are hidden too, where something else stays
    plot = TwoTower(ModelConfig(**TINY, modality_dropout=0.1, text_dropout=0.8)).train()
    _, a2, t2 = plot._dropout(has_visual, has_audio, has_text)
    assert 0.05 < t2.sum() / has_text.sum() < 0.35 and 0.8 < a2.sum() / has_audio.sum()  # the plot's own rate
    with pytest.raises(InputError, match="text_dropout"):
        ModelConfig(text_dropout=1.0)
    model.eval()
    assert [x.tolist() for x in model._dropout(has_visual, has_audio, has_text)] == \
        [has_visual.tolist(), has_audio.tolist(), has_text.tolist()]


def _tmdb_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "title", "overview", "genres", "release_date"])
        for tid, title, plot, genres in rows:
            w.writerow([tid, title, plot, json.dumps([{"id": k, "name": g} for k, g in enumerate(genres)]), "2001-01-01"])


@pytest.fixture(scope="module")
def text_ws(tmp_path_factory):
    """A generated corpus (plots in the manifest) trained with the text tower, plus two titles that
    have a plot and no video (imported from a TMDB file)."""
    from reelmatch.extract import run_extract
    from reelmatch.ingest import import_manifest
    from reelmatch.ingest.tmdb import TmdbConfig, import_tmdb
    from reelmatch.samples.corpus import generate_corpus
    from reelmatch.train import TrainConfig, run_train
    from reelmatch.workspace import Workspace

    root = tmp_path_factory.mktemp("text")
    manifest = generate_corpus(root / "corpus", n_items=30, seconds=1.0, size=32, seed=3)
    ws = Workspace.init(root / "ws")
    import_manifest(ws, manifest)
    assert run_extract(ws, _golden.clip_config(), workers=0)["failed"] == 0
    _tmdb_csv(root / "tmdb.csv", [
        (501, "Rooftop Run", "A courier is drawn into a high-speed chase across the rooftops.", ["Action"]),
        (502, "The Cellar", "Something begins to hunt a family in the dark of an old house.", ["Horror"]),
    ])
    rep = import_tmdb(ws, root / "tmdb.csv", TmdbConfig(add_unmatched=True))
    assert rep.inserted == 2
    config = TrainConfig(backbone="tiny", pretrained=False, hidden=16, audio_dim=8, embed_dim=16, epochs=3,
                         batch_size=8, per_genre=2, val_splits=("val", "test"))
    best = run_train(ws, config, clip_config=_golden.clip_config())
    return ws, best


def test_a_title_with_a_plot_and_no_video_gets_recommendations(text_ws):
    from reelmatch.embed import EmbedConfig, load_embeddings, run_embed
    from reelmatch.index import run_index
    from reelmatch.model.checkpoint import read_config

    ws, best = text_ws
    meta = read_config(best)
    assert meta["model"]["text"] == "minilm" and meta["text"]["train_plots"] > 10
    card = (best / "MODEL_CARD.md").read_text()
    assert "all-MiniLM-L6-v2" in card and "plot text" in card and "aisfx" not in card
    run_embed(ws, EmbedConfig(batch_size=8), clip_config=_golden.clip_config())
    run_index(ws)
    emb = load_embeddings(ws)
    plot_only = {it.id: it for it in ws.catalog.items() if it.media_path is None}
    assert len(plot_only) == 2 and set(plot_only) <= set(emb.ids)
    # the text tower's embedding: the 16-d projection and the genre head's probabilities (one per genre)
    assert len(emb) == 32 and emb.text.shape == (32, 16 + len(meta["genres"]))
    for i in plot_only:
        r = emb.row(i)
        assert emb.modalities(r) == ["text"] and not emb.visual[r].any() and not emb.audio[r].any()
        assert abs(np.linalg.norm(emb.vectors[r]) - 1) < 1e-5
    clip_rows = [emb.row(i) for i in emb.ids if i not in plot_only]
    assert emb.has_visual[clip_rows].all() and emb.has_text[clip_rows].all()  # every generated item has a plot

    rooftop = next(i for i, it in plot_only.items() if it.title == "Rooftop Run")
    res = ws.similar(rooftop, k=5).to_dict()
    assert len(res["results"]) == 5
    for r in res["results"]:
        assert r["scores"]["visual"] is None and r["scores"]["audio"] is None  # the query has neither
        assert isinstance(r["scores"]["text"], float)
    # from a trailer, the plot-only titles are among the candidates, marked as text-only
    trailer = next(i for i in emb.ids if i not in plot_only and ws.catalog.get(i).kind == "trailer")
    everything = ws.similar(trailer, k=len(emb) - 1).to_dict()["results"]
    marked = {r["id"]: r for r in everything if r["modalities"] == ["text"]}
    assert set(marked) == set(plot_only)
    assert all(r["scores"]["visual"] is None and r["scores"]["text"] is not None for r in marked.values())
    full = [r for r in everything if r["id"] not in plot_only]
    assert all(r["scores"]["visual"] is not None and r["modalities"][0] == "visual" for r in full)


def test_scenes_of_a_model_with_text_read_their_items_plot(text_ws):
    """Each scene is embedded from its frames, its sound and its item's plot (issue 19)."""
    from reelmatch.dataset.store import resolve_clip_config
    from reelmatch.embed import EmbedConfig, load_embeddings, run_embed
    from reelmatch.embed.embedder import embedder_for, text_cache_for
    from reelmatch.scenes import ScenesConfig, load_scenes, run_scenes
    from reelmatch.scenes.stage import embed_item_scenes

    ws, best = text_ws
    run_embed(ws, EmbedConfig(batch_size=8), clip_config=_golden.clip_config())
    res = run_scenes(ws, ScenesConfig())
    movies = [it for it in ws.catalog.items() if it.media_path and it.kind == "trailer"]  # the default kind
    assert res.failed == 0 and res.done == len(movies) > 20, res.to_dict()
    meta = load_embeddings(ws).meta
    item = next(it for it in movies if it.plot)
    task, clip = (item.id, str(ws.media_file(item))), resolve_clip_config(ws)
    with_plot = embed_item_scenes(task, embedder_for(None, meta, text_cache=text_cache_for(ws, meta["checkpoint"])),
                                  ScenesConfig(), clip)
    without = embed_item_scenes(task, embedder_for(None, meta), ScenesConfig(), clip)  # no plots at hand
    stored = load_scenes(ws, item.id)
    assert np.allclose(stored.fused, with_plot.fused, atol=1e-5)
    assert not np.allclose(with_plot.fused, without.fused, atol=1e-3)


def test_evaluate_shows_each_modality_alone_next_to_the_fused_model(text_ws):
    from reelmatch.evaluate.config import EvalConfig
    from reelmatch.evaluate.run import run_evaluate

    from reelmatch.evaluate.run import held_out

    ws, _ = text_ws
    split = max(("test", "val", "train"), key=lambda s: min(len(held_out(ws, s, clip_config=_golden.clip_config())[0]), 3))
    res = run_evaluate(ws, EvalConfig(split=split, projection="pca"), clip_config=_golden.clip_config())
    doc = res.doc
    assert {"frames_only", "audio_only", "text_only"} <= set(doc["baselines"])
    for name in ("frames_only", "audio_only", "text_only"):
        assert 0.0 <= doc["baselines"][name]["map_at_r"] <= 1.0
    assert "text_only" in res.report_path.read_text()


def test_without_text_the_model_and_its_vectors_are_as_before(text_ws, tmp_path):
    from reelmatch.embed import EmbedConfig, load_embeddings, run_embed
    from reelmatch.model.checkpoint import read_config
    from reelmatch.train import TrainConfig, run_train

    ws, _ = text_ws
    config = TrainConfig(backbone="tiny", pretrained=False, hidden=16, audio_dim=8, embed_dim=16, epochs=2,
                         batch_size=8, per_genre=2, val_splits=("val", "test"), text=None)
    best = run_train(ws, config, clip_config=_golden.clip_config())
    assert read_config(best)["model"]["text"] is None and "text" not in read_config(best)
    run_embed(ws, EmbedConfig(name="notext", batch_size=8), clip_config=_golden.clip_config())
    emb = load_embeddings(ws, "notext")
    assert len(emb) == 30 and emb.text.shape == (30, 0) and emb.has_visual.all() and not emb.has_text.any()


def test_the_several_layers_text_encoder_trains_with_its_own_cache_and_genre_c(text_ws, monkeypatch):
    from reelmatch.embed import EmbedConfig, load_embeddings, run_embed
    from reelmatch.model.checkpoint import read_config
    from reelmatch.model.text import TextTower
    from reelmatch.text.cache import TextFeaturesConfig, text_cache_path
    from reelmatch.train import TrainConfig, run_train

    ws, _ = text_ws
    seen = []
    fit = TextTower.fit_genres
    monkeypatch.setattr(TextTower, "fit_genres", lambda self, x, y, **kw: seen.append((x.shape, kw)) or fit(self, x, y, **kw))
    config = TrainConfig(backbone="tiny", pretrained=False, hidden=16, audio_dim=8, embed_dim=16, epochs=2,
                         batch_size=8, per_genre=2, val_splits=("val", "test"), text="minilm-layers")
    best = run_train(ws, config, clip_config=_golden.clip_config())
    meta = read_config(best)
    assert meta["model"]["text"] == "minilm-layers" and meta["model"]["text_dim"] == 1536
    assert seen and seen[0][0][1] == 1536 and seen[0][1] == {"c": 3.0}  # the encoder's genre_c
    assert "all-MiniLM-L6-v2" in (best / "MODEL_CARD.md").read_text()  # credited as the weights it reads
    assert text_cache_path(ws, TextFeaturesConfig("minilm-layers")).exists()
    assert text_cache_path(ws, TextFeaturesConfig()).exists()  # the fp32 cache of the first model is untouched
    run_embed(ws, EmbedConfig(name="layers", batch_size=8), clip_config=_golden.clip_config())
    emb = load_embeddings(ws, "layers")
    assert emb.has_text.sum() > 10


def test_the_title_encoder_and_the_centred_genre_vector_train_and_embed(text_ws):
    import torch

    from reelmatch.embed import EmbedConfig, load_embeddings, run_embed
    from reelmatch.model.checkpoint import load, read_config
    from reelmatch.text.cache import TextFeaturesConfig, load_text_features
    from reelmatch.train import TrainConfig, run_train

    ws, _ = text_ws
    config = TrainConfig(backbone="tiny", pretrained=False, hidden=16, audio_dim=8, embed_dim=16, epochs=2,
                         batch_size=8, per_genre=2, val_splits=("val", "test"), text="minilm-layers-title",
                         text_genre_centre=True)
    best = run_train(ws, config, clip_config=_golden.clip_config())
    meta = read_config(best)
    assert meta["model"]["text"] == "minilm-layers-title" and meta["model"]["text_genre_centre"] is True
    assert "centred on the training items' mean" in (best / "MODEL_CARD.md").read_text()
    tower = load(best)[0].text_tower
    assert tower.centre and float(tower.genre_centre.abs().sum()) > 0  # the training items' mean, stored
    feats = load_text_features(ws, TextFeaturesConfig("minilm-layers-title"))
    x = torch.from_numpy(np.stack(list(feats.values())))
    torch.testing.assert_close(tower.genre_vector(x), tower.genre_probabilities(x) - tower.genre_centre)
    run_embed(ws, EmbedConfig(name="title", batch_size=8), clip_config=_golden.clip_config())
    emb = load_embeddings(ws, "title")
    assert emb.has_text.sum() > 10 and np.isfinite(emb.text).all()


def test_the_audio_expert_and_the_transformer_fusion_train_embed_and_answer_a_file_query(text_ws, media_dir):
    """(last in the module: it makes this model the workspace's current one)"""
    pytest.importorskip("aisfx")
    from reelmatch.embed import EmbedConfig, load_embeddings, run_embed
    from reelmatch.model.checkpoint import read_config
    from reelmatch.train import TrainConfig, run_train

    ws, _ = text_ws
    config = TrainConfig(backbone="tiny", pretrained=False, hidden=16, audio_dim=8, embed_dim=16, epochs=2,
                         batch_size=8, per_genre=2, val_splits=("val", "test"), audio_encoder="aisfx",
                         fusion="transformer")
    best = run_train(ws, config, clip_config=_golden.clip_config())
    meta = read_config(best)
    assert meta["model"]["audio_encoder"] == "aisfx" and meta["model"]["fusion"] == "transformer"
    assert meta["audio_expert"]["items"] >= 20  # the generated clips with sound
    card = (best / "MODEL_CARD.md").read_text()  # the expert's licence and credit travel with the model
    assert "CC-BY-4.0" in card and "ISMIR 2022" in card and "`transformer`" in card
    run_embed(ws, EmbedConfig(name="expert", batch_size=8), clip_config=_golden.clip_config())
    emb = load_embeddings(ws, "expert")
    assert len(emb) == 32 and emb.has_audio.sum() >= 20
    silent = [i for i in emb.ids if ws.catalog.get(i).media_path and not emb.has_audio[emb.row(i)]]
    assert all(not emb.audio[emb.row(i)].any() for i in silent)
    # a new file is heard by the expert itself (it is not in the cache); a silent one has no audio
    from reelmatch.embed.embedder import get_embedder
    from reelmatch.query.search import file_vectors

    embedder = get_embedder(ws, clip_config=_golden.clip_config())
    assert embedder.audio_expert == "aisfx"
    v = file_vectors(ws, emb.meta, media_dir / "red box.mp4", embedder, clip_config=_golden.clip_config())
    assert v["has_audio"] and abs(np.linalg.norm(v["audio"]) - 1) < 1e-5
    assert not file_vectors(ws, emb.meta, media_dir / "silent.mkv", embedder, clip_config=_golden.clip_config())["has_audio"]
    # a scene of an item is heard by the expert over the scene's own window
    from reelmatch.scenes import ScenesConfig
    from reelmatch.scenes.stage import embed_item_scenes

    loud = next(i for i in emb.ids if emb.has_audio[emb.row(i)] and ws.catalog.get(i).media_path)
    sc = embed_item_scenes((loud, str(ws.media_file(ws.catalog.get(loud)))), embedder, ScenesConfig(),
                           _golden.clip_config())
    assert sc.has_audio.all() and (np.abs(sc.audio).sum(axis=1) > 0).all()


def test_hostile_plots_never_crash_a_batch(ws):
    from reelmatch.catalog.db import Item
    from reelmatch.text.cache import TextFeaturesConfig, load_text_features, update_text_features

    plots = {
        "huge": "A courier runs across the rooftops. " * 30000,  # ~1 MB: cut to the token limit, said so
        "control": "A heist\x00 goes\x07 wrong\x1b[31m in\ufffd Paris \x7f.",
        "mixed": "Детектив 追踪 a thief through Lagos — القاهرة 🎬🔥",
        "russian": "Два брата возвращаются на ферму после войны.",
        "digits": "1995 1996 !!! ---",  # no letter: missing
        "blank": " \n\t ",
        "zero_width": "\u200b\u200b\u200b",
    }
    for k, p in plots.items():
        ws.catalog.upsert(Item(id=k, title=k, plot=p))
    r = update_text_features(ws, TextFeaturesConfig())
    feats = load_text_features(ws, TextFeaturesConfig())
    assert {"huge", "control", "mixed", "russian"} <= set(feats) and r.truncated >= 1
    assert not {"digits", "blank"} & set(feats)
    for v in feats.values():
        assert np.isfinite(v).all() and abs(np.linalg.norm(v) - 1) < 1e-2
