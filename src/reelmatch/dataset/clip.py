"""The clip record: what extraction makes and every later stage reads."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Clip:
    """One sampled video.

    frames:      uint8 [K, S, S, 3] RGB (S = ClipConfig.size); padded frames are zeros
    mask:        bool [K], True where the frame is real
    timestamps:  float32 [K], seconds in the source actually taken (NaN for padding)
    spectrogram: float32 [n_mels, spec_frames] (logmel) or uint8 [S, S, 3] (recipe);
                 zeros when there is no audio
    has_audio:   False when the source has no usable audio stream
    meta:        source metadata (width, height, fps, duration, codec, rotation...)
    split:       "train" | "val" | "test", by title (see reelmatch.dataset.splits)
    """

    id: str
    frames: np.ndarray
    mask: np.ndarray
    timestamps: np.ndarray
    spectrogram: np.ndarray
    has_audio: bool
    meta: dict = field(default_factory=dict)
    split: str = "train"

    def __post_init__(self):
        k = self.frames.shape[0]
        if self.frames.ndim != 4 or self.frames.shape[-1] != 3 or self.frames.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 [K,S,S,3], got {self.frames.dtype} {self.frames.shape}")
        if self.mask.shape != (k,) or self.timestamps.shape != (k,):
            raise ValueError(
                f"mask and timestamps must be [{k}], got {self.mask.shape} and {self.timestamps.shape}"
            )

    @property
    def num_valid(self) -> int:
        return int(self.mask.sum())
