"""Backbone registry: every registered name builds and pools; pretrained weights classify real photos."""

import numpy as np
import pytest
import torch

from reelmatch.errors import InputError
from reelmatch.model.backbones import create_backbone, list_backbones

torch.set_num_threads(2)


def _categories():
    from torchvision.models import ResNet50_Weights

    return ResNet50_Weights.IMAGENET1K_V2.meta["categories"]


def _centre_square(img, size=224):
    from PIL import Image

    w, h = img.size
    s = min(w, h)
    img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    return np.array(img.convert("RGB").resize((size, size), Image.BILINEAR))


def test_list_and_unknown_name():
    names = list_backbones()
    assert {"efficientnet_lite0", "resnet50", "tiny"} <= set(names)
    with pytest.raises(InputError) as e:
        create_backbone("vgg_nope")
    for n in names:
        assert n in str(e.value)


@pytest.mark.parametrize("name", list_backbones())
def test_every_backbone_pools_frames(name):
    # the default's weights come from a package; the others' would need a model hub
    b = create_backbone(name, pretrained=(name == "efficientnet_lite0")).eval()
    frames = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8))
    x = b.preprocess(frames)
    side = b.input_size or 64  # a backbone trained at another size gets its frames resized to it
    assert x.shape == (2, 3, side, side) and x.dtype == torch.float32
    with torch.no_grad():
        f = b(x)
    assert f.shape == (2, b.feature_dim) and torch.isfinite(f).all()
    assert b.num_groups >= 2
    params = {id(p) for g in b.groups() for p in g.parameters()}
    assert params, "groups must hold the trainable layers"


def test_preprocess_rejects_wrong_shape():
    b = create_backbone("tiny")
    with pytest.raises(ValueError, match=r"\[N, H, W, 3\].*\(64, 64, 3\)"):
        b.preprocess(torch.zeros(64, 64, 3, dtype=torch.uint8))


def test_weights_file_roundtrip(tmp_path):
    from safetensors.torch import save_file

    a = create_backbone("tiny")
    save_file({k: v.contiguous() for k, v in a.state_dict().items()}, str(tmp_path / "w.safetensors"))
    torch.save(a.state_dict(), tmp_path / "w.pth")
    for f in ("w.safetensors", "w.pth"):
        b = create_backbone("tiny", weights=tmp_path / f)
        for k, v in a.state_dict().items():
            assert torch.equal(v, b.state_dict()[k])


def test_efficientnet_classifies_a_real_photo():
    """Grace Hopper's portrait (shipped with matplotlib): the classic 'military uniform' top-1."""
    import matplotlib.cbook as cbook
    from PIL import Image

    img = Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    b = create_backbone("efficientnet_lite0").eval()
    with torch.no_grad():
        p = b.logits(b.preprocess(torch.from_numpy(_centre_square(img))[None])).softmax(-1)[0]
    assert _categories()[int(p.argmax())] == "military uniform"


def test_efficientnet_sees_a_parrot_in_devdata(devdata):
    import av

    if not (devdata / "cockatoo.mp4").exists():
        pytest.skip("devdata has no cockatoo.mp4")
    with av.open(str(devdata / "cockatoo.mp4")) as c:
        for i, fr in enumerate(c.decode(video=0)):
            if i == 30:
                img = fr.to_image()
                break
    b = create_backbone("efficientnet_lite0").eval()
    with torch.no_grad():
        p = b.logits(b.preprocess(torch.from_numpy(_centre_square(img))[None])).softmax(-1)[0]
    top3 = {_categories()[int(i)] for i in p.topk(3).indices}
    assert top3 & {"sulphur-crested cockatoo", "African grey", "macaw", "lorikeet"}


# ---- input normalisation ---------------------------------------------------------------------------


def test_norm_choice():
    from reelmatch.model.norms import NORMS

    frames = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8))
    b = create_backbone("tiny")
    assert b.norm == "tiny" and create_backbone("tiny", norm="legacy").norm == "tiny"
    for norm, (mean, std) in NORMS.items():
        x = create_backbone("tiny", norm=norm).preprocess(frames)
        ref = (frames.permute(0, 3, 1, 2).float() - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
        assert torch.allclose(x, ref, atol=1e-5), norm
    x = create_backbone("tiny", norm="tflite").preprocess(frames)
    assert torch.allclose(x, (frames.permute(0, 3, 1, 2).float() - 127) / 128)
    with pytest.raises(InputError, match="imagenet"):
        create_backbone("tiny", norm="bgr")


def test_efficientnet_lite_defaults_to_the_tflite_scaling():
    from reelmatch.model.backbones import default_norm, resolve_norm

    # measured by benchmarks/backbone_norm.py (docs/model.md): better top-5 on labelled photos and
    # same-video R@1 on real clips than ImageNet statistics; the pre-choice norm stays reachable
    for name in ("efficientnet_lite0", "efficientnet_lite2"):
        assert default_norm(name) == "tflite" and resolve_norm(name, "auto") == "tflite"
    assert resolve_norm("efficientnet_lite0", "legacy") == "imagenet"
    assert resolve_norm("resnet50", "auto") == "imagenet" == resolve_norm("resnet50", "legacy")
    assert create_backbone("efficientnet_lite0", pretrained=False).norm == "tflite"
    assert create_backbone("efficientnet_lite0", pretrained=False, norm="legacy").norm == "imagenet"


def _old_features_fingerprint(backbone, clips="c" * 16):
    """The features fingerprint as computed before the normalisation could be chosen."""
    from reelmatch.config import fingerprint
    from reelmatch.train.features import VERSION

    return fingerprint({"backbone": backbone, "pretrained": True, "weights": None, "clips": clips, "version": VERSION})


def test_features_fingerprint_changes_for_lite_only():
    from reelmatch.train.features import FeaturesConfig, features_fingerprint

    fp = lambda name, norm="auto": features_fingerprint(FeaturesConfig(backbone=name, norm=norm), "c" * 16)  # noqa: E731
    for name in ("resnet50", "tiny"):  # the other backbones' caches stay valid
        assert fp(name) == fp(name, "legacy") == _old_features_fingerprint(name)
    assert fp("efficientnet_lite0") != _old_features_fingerprint("efficientnet_lite0")  # stale: recomputed
    # the same features as before, asked for explicitly, keep the old caches
    assert fp("efficientnet_lite0", "imagenet") == fp("efficientnet_lite0", "legacy") == _old_features_fingerprint("efficientnet_lite0")
    assert FeaturesConfig().fingerprint == FeaturesConfig(norm="auto").fingerprint
    assert FeaturesConfig(norm="tflite").fingerprint != FeaturesConfig().fingerprint
    with pytest.raises(InputError, match="norm"):
        FeaturesConfig(norm="bgr")


def test_copy_descriptors_keep_their_norm_and_fingerprint():
    from reelmatch.dedupe.config import DedupeConfig
    from reelmatch.dedupe.descriptor import FrameDescriber

    import hashlib
    import json

    from reelmatch.config import to_jsonable

    # the fingerprint of the descriptors made before the field existed: the same payload without it
    fields = {k: v for k, v in to_jsonable(DedupeConfig()).items() if k != "frame_norm"}
    payload = json.dumps({"type": "DedupeConfig", "fields": fields}, sort_keys=True, separators=(",", ":"))
    assert DedupeConfig().fingerprint == hashlib.sha256(payload.encode()).hexdigest()[:16]
    assert DedupeConfig().frame_norm == "legacy"
    assert DedupeConfig(frame_norm="tflite").fingerprint != DedupeConfig().fingerprint
    assert FrameDescriber(DedupeConfig(backbone="tiny", pretrained=False)).backbone.norm == "tiny"
    lite = FrameDescriber(DedupeConfig(pretrained=False)).backbone
    assert lite.norm == "imagenet"  # EfficientNet-Lite copy descriptors keep ImageNet statistics


def test_backbone_embedder_fingerprint_changes_for_lite_only():
    from reelmatch.config import fingerprint
    from reelmatch.embed.embedder import BackboneEmbedder

    def old(name):
        return "backbone-" + fingerprint({"backbone": name, "pretrained": False, "audio_weight": 0.25,
                                          "audio": "logmel-stats-2"})

    assert BackboneEmbedder("tiny", pretrained=False).fingerprint == old("tiny")
    assert BackboneEmbedder("efficientnet_lite0", pretrained=False).fingerprint != old("efficientnet_lite0")


def test_a_checkpoint_saved_before_frame_norm_loads_with_imagenet_statistics(tmp_path):
    import json

    from reelmatch.model import ModelConfig, TwoTower
    from reelmatch.model.checkpoint import load, save

    cfg = ModelConfig(backbone="efficientnet_lite0", pretrained=False, hidden=8, audio_dim=8, embed_dim=8)
    assert cfg.frame_norm == "auto"
    save(TwoTower(cfg), tmp_path / "new")
    doc = json.loads((tmp_path / "new" / "config.json").read_text())
    assert doc["model"]["frame_norm"] == "tflite"  # what the backbone used, not "auto"
    assert load(tmp_path / "new")[0].backbone.norm == "tflite"
    del doc["model"]["frame_norm"]  # as every checkpoint saved before the field existed
    (tmp_path / "new" / "config.json").write_text(json.dumps(doc))
    model, _ = load(tmp_path / "new")
    assert model.backbone.norm == "imagenet" and model.config.frame_norm == "legacy"
    assert ModelConfig.from_dict({"backbone": "efficientnet_lite0"}).frame_norm == "legacy"
    assert ModelConfig.from_dict({"backbone": "efficientnet_lite0"}).fingerprint == ModelConfig.from_dict(
        {"backbone": "efficientnet_lite0", "frame_norm": "legacy"}).fingerprint
    with pytest.raises(InputError, match="frame_norm"):
        ModelConfig(frame_norm="bgr")
    # a backbone with the normalisation it always had writes the config.json it wrote before
    save(TwoTower(ModelConfig(backbone="tiny", pretrained=False, hidden=8, audio_dim=8, embed_dim=8)), tmp_path / "tiny")
    assert "frame_norm" not in json.loads((tmp_path / "tiny" / "config.json").read_text())["model"]


def test_train_config_dict_names_frame_norm_only_when_chosen():
    from reelmatch.train import TrainConfig

    assert "frame_norm" not in TrainConfig(backbone="tiny").to_dict()  # fingerprints of runs made before hold
    chosen = TrainConfig(backbone="efficientnet_lite0", frame_norm="imagenet")
    assert chosen.to_dict()["frame_norm"] == "imagenet"
    assert TrainConfig.from_dict(chosen.to_dict()) == chosen
    assert TrainConfig.from_dict(chosen.to_dict()).fingerprint != TrainConfig(backbone="efficientnet_lite0").fingerprint
