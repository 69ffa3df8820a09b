"""TwoTower: shapes, masks, missing audio, pooling variants, lock(), checkpoints, collate."""

import json

import numpy as np
import pytest
import torch

from reelmatch.dataset.clip import Clip
from reelmatch.dataset.torch import collate
from reelmatch.errors import StaleArtifactError
from reelmatch.model import ModelConfig, TwoTower
from reelmatch.model.checkpoint import load, model_fingerprint, save
from reelmatch.model.config import POOLINGS
from reelmatch.model.pooling import POOLING_CLASSES

torch.set_num_threads(2)


def _clip(i, k=4, valid=3, s=32, audio=True, rng=None):
    rng = rng or np.random.default_rng(i)
    frames = rng.integers(0, 256, (k, s, s, 3), dtype=np.uint8)
    mask = np.arange(k) < valid
    frames[~mask] = 0
    spec = rng.standard_normal((16, 40)).astype(np.float32) if audio else np.zeros((16, 40), np.float32)
    return Clip(id=f"c{i}", frames=frames, mask=mask, timestamps=np.where(mask, np.arange(k, dtype=np.float32), np.nan).astype(np.float32),
                spectrogram=spec, has_audio=audio)


def _model(pooling="lstm", **kw):
    torch.manual_seed(0)
    return TwoTower(ModelConfig(backbone="tiny", pretrained=False, pooling=pooling, embed_dim=32, hidden=24, audio_dim=16, **kw)).eval()


@pytest.mark.parametrize("pooling", POOLINGS)
def test_towers_are_normalised_and_padding_is_ignored(pooling):
    assert set(POOLINGS) == set(POOLING_CLASSES)  # every name the config accepts has a module
    m = _model(pooling)
    clips = [_clip(0), _clip(1, valid=1), _clip(2, audio=False)]
    batch = collate(clips)
    with torch.no_grad():
        t = m.encode_towers(batch)
        for key in ("visual", "fused"):
            assert t[key].shape == (3, 32)
            assert torch.allclose(t[key].norm(dim=1), torch.ones(3), atol=1e-5)
        assert torch.allclose(t["audio"].norm(dim=1), torch.tensor([1.0, 1.0, 0.0]), atol=1e-5)
        # garbage in the padded frames changes nothing
        batch2 = collate(clips)
        batch2["frames"][0, 3] = 255
        batch2["frames"][1, 1:] = 77
        assert torch.allclose(m.encode(batch2), m.encode(batch), atol=1e-5)
        # encode == fused; the frames path equals the cached-features path (what training uses)
        assert torch.allclose(m.encode(batch), t["fused"], atol=1e-6)
        feats = m.frame_features(batch["frames"], batch["mask"])
        from_feats = m.encode_towers({**batch, "features": feats})
        for key in ("visual", "audio", "fused"):
            assert torch.allclose(from_feats[key], t[key], atol=1e-5)


def test_missing_audio_ignores_the_spectrogram():
    m = _model()
    a, b = _clip(0, audio=False), _clip(0, audio=False)
    b.spectrogram = np.random.default_rng(5).standard_normal(b.spectrogram.shape).astype(np.float32)
    with torch.no_grad():
        assert torch.allclose(m.encode(collate([a])), m.encode(collate([b])), atol=1e-6)


def test_lock_is_idempotent_and_progressive():
    m = _model()
    trainable = lambda: sum(p.requires_grad for p in m.backbone.parameters())  # noqa: E731
    assert trainable() == 0 and m.backbone_frozen
    m.lock(1)
    one = trainable()
    m.lock(1)
    assert trainable() == one > 0
    m.lock(99)
    assert trainable() == len(list(m.backbone.parameters()))
    m.lock(0)
    assert trainable() == 0
    m.train()
    assert not m.backbone.training  # frozen backbone keeps its batch-norm statistics


def test_modality_dropout_only_in_training():
    m = _model(modality_dropout=0.9)
    batch = collate([_clip(i) for i in range(8)])
    m.train()
    torch.manual_seed(1)
    assert not m(batch)["has_audio"].all()
    m.eval()
    assert m(batch)["has_audio"].all()


def test_checkpoint_roundtrip_without_pickle(tmp_path):
    from reelmatch.extract.config import ClipConfig

    m = _model("attention", num_genres=3)
    cc = ClipConfig(num_frames=4, size=32)
    save(m, tmp_path / "ck", {"genres": ["a", "b", "c"], "clip_config": cc, "clip_fingerprint": cc.fingerprint})
    doc = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert doc["model"]["pooling"] == "attention" and doc["genres"] == ["a", "b", "c"]
    m2, meta = load(tmp_path / "ck", clip_config=cc)
    batch = collate([_clip(0), _clip(1, audio=False)])
    with torch.no_grad():
        assert torch.allclose(m.encode(batch), m2.encode(batch), atol=1e-6)
    assert model_fingerprint(tmp_path / "ck").startswith("model-")
    with pytest.raises(StaleArtifactError, match="run 'reelmatch train'"):
        load(tmp_path / "ck", clip_config=ClipConfig(num_frames=5, size=32))


def test_collate_rejects_mixed_shapes():
    with pytest.raises(ValueError, match="different shapes"):
        collate([_clip(0, k=4), _clip(1, k=5)])
