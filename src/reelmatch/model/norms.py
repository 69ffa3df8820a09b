"""Input normalisations of the frame backbones, by name (no torch import: configs check names here).

A normalisation maps RGB uint8 to ``(x - mean) / std`` per channel, mean and std in 0..255 units:

- ``imagenet``: ImageNet mean/std (torchvision and most timm weights);
- ``tflite``: ``(x - 127) / 128``, what the TF-Lite EfficientNet-Lite weights were trained with
  (docs/model.md measures it against ``imagenet``: it wins on labelled photos and same-video retrieval);
- ``inception``: ``(x - 127.5) / 127.5`` (timm models trained in [-1, 1]);
- ``clip``: the OpenAI CLIP statistics;
- ``tiny``: ``(x - 127.5) / 64`` (the random test backbone).

A config names one of these, or ``auto`` (the backbone's own default) or ``legacy`` (the one
each backbone had before the choice existed: what a checkpoint saved then was trained with).
"""

from __future__ import annotations

from reelmatch.errors import InputError

IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)

NORMS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "imagenet": (IMAGENET_MEAN, IMAGENET_STD),
    "tflite": ((127.0,) * 3, (128.0,) * 3),
    "inception": ((127.5,) * 3, (127.5,) * 3),
    "clip": ((0.48145466 * 255, 0.4578275 * 255, 0.40821073 * 255), (0.26862954 * 255, 0.26130258 * 255, 0.27577711 * 255)),
    "tiny": ((127.5,) * 3, (64.0,) * 3),
}

#: the normalisation each backbone had before it could be chosen: ``legacy`` resolves to it, and a
#: backbone used with it keeps the fingerprints of the artifacts made then (features, vectors)
LEGACY_NORMS = {"efficientnet_lite0": "imagenet", "resnet50": "imagenet", "tiny": "tiny"}

CHOICES = ("auto", "legacy", *NORMS)


def check_norm(value: str, where: str = "frame_norm") -> str:
    """``value`` if it names a normalisation (or ``auto``/``legacy``), else an ``InputError`` listing them."""
    if value not in CHOICES:
        raise InputError(f"{where} {value!r} is not one of {', '.join(CHOICES)}")
    return value


def resolve_norm(backbone: str, norm: str, default: str) -> str:
    """The concrete normalisation name for ``backbone`` whose own default is ``default``."""
    check_norm(norm)
    if norm == "auto":
        return default
    if norm == "legacy":
        return LEGACY_NORMS.get(backbone, default)
    return norm


def norm_fingerprint_field(backbone: str, resolved: str) -> str | None:
    """What a fingerprint records of the normalisation: None (left out) when it is the one the
    backbone had before the choice existed, so the artifacts made then keep their fingerprints."""
    return None if LEGACY_NORMS.get(backbone) == resolved else resolved
