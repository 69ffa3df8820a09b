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
    assert x.shape == (2, 3, 64, 64) and x.dtype == torch.float32
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
