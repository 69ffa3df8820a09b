"""The copy-descriptor config (one frozen dataclass, fingerprinted)."""

from __future__ import annotations

from dataclasses import dataclass

from reelmatch.config import fingerprint

#: Copy-score threshold, calibrated on the calibration half of ``bench ndvr --augly`` (docs/dedupe.md).
DEFAULT_THRESHOLD = 0.75
#: version of the descriptor format and of the rules that make it (blank frames, scoring inputs);
#: part of the fingerprint, so descriptors made by another version are recomputed, never mixed
FORMAT_VERSION = 2


@dataclass(frozen=True)
class DedupeConfig:
    """How copy descriptors are made.

    fps:         frames described per second of video.
    size:        frames are resized (squashed) to ``size x size`` for the backbone.
    flip:        average the features of a frame and of its mirror image, so a
                 horizontally flipped copy gets the same descriptor.
    trim_borders: cut bars that stay constant over the whole video (letterbox).
    max_seconds: only the first ``max_seconds`` of a video are described.
    """

    backbone: str = "efficientnet_lite0"
    pretrained: bool = True
    fps: float = 1.0
    size: int = 160
    flip: bool = True
    trim_borders: bool = True
    max_seconds: float = 600.0
    decode_side: int = 256
    format: int = FORMAT_VERSION

    def __post_init__(self):
        from reelmatch.errors import InputError

        if self.fps <= 0 or self.size < 16 or self.max_seconds <= 0 or self.decode_side < 16:
            raise InputError(f"invalid dedupe config: {self}")

    @property
    def fingerprint(self) -> str:
        return fingerprint(self)
