"""The copy-descriptor config (one frozen dataclass, fingerprinted)."""

from __future__ import annotations

from dataclasses import dataclass

from reelmatch.config import StageConfig

#: Copy-score threshold, calibrated on the calibration half of ``bench ndvr --augly`` (docs/dedupe.md).
DEFAULT_THRESHOLD = 0.905
#: version of the descriptor format and of the rules that make it (blank frames, scoring inputs);
#: part of the fingerprint, so descriptors made by another version are recomputed, never mixed
FORMAT_VERSION = 3  # 3: an audio fingerprint next to the frame descriptors


@dataclass(frozen=True)
class DedupeConfig(StageConfig):
    """How copy descriptors are made.

    fps:         frames described per second of video.
    size:        frames are resized (squashed) to ``size x size`` for the backbone.
    flip:        average the features of a frame and of its mirror image, so a
                 horizontally flipped copy gets the same descriptor.
    trim_borders: cut bars that stay constant over the whole video (letterbox).
    max_seconds: only the first ``max_seconds`` of a video are described.
    audio:       also fingerprint the soundtrack (Chromaprint) and let it vouch for a copy whose
                 picture is heavily edited (``dedupe.audio``); needs Debian's ``libchromaprint1``.
    frame_norm:  the backbone's input normalisation (:mod:`reelmatch.model.norms`); ``legacy`` (ImageNet
                 statistics for EfficientNet-Lite) ranks copies better than its TF-Lite default (docs/model.md).
    """

    DICT_OMIT_DEFAULTS = ("frame_norm",)

    backbone: str = "efficientnet_lite0"
    pretrained: bool = True
    fps: float = 1.0
    size: int = 160
    flip: bool = True
    trim_borders: bool = True
    max_seconds: float = 600.0
    decode_side: int = 256
    audio: bool = True
    format: int = FORMAT_VERSION
    frame_norm: str = "legacy"

    def __post_init__(self):
        for name, ok, why in (("fps", self.fps > 0, "must be > 0"), ("size", self.size >= 16, "must be at least 16"),
                              ("max_seconds", self.max_seconds > 0, "must be > 0"),
                              ("decode_side", self.decode_side >= 16, "must be at least 16")):
            if not ok:
                raise self.invalid(name, why)
        from reelmatch.model.norms import CHOICES

        if self.frame_norm not in CHOICES:
            raise self.invalid("frame_norm", f"is not one of {', '.join(CHOICES)}")
