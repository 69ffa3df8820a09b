"""Frame-level copy descriptors: pretrained backbone features, flip-invariant.

``prepare_frames`` (decode, cut constant bars, drop blank frames, resize) is a
pure function of a file, run in worker processes; ``FrameDescriber`` turns the
frames into L2-normalised float32 [T, D] descriptors with the backbone of the
registry (``reelmatch.model.backbones``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reelmatch.dedupe.config import DedupeConfig
from reelmatch.dedupe.frames import border_box, sample_frames

#: frames whose pixel standard deviation (per colour channel, over the frame)
#: is below this (black, flat colour cards) say nothing about which video they
#: come from and are not described; a video made only of them gets no
#: descriptor at all and never matches anything
BLANK_STD = 6.0


def prepare_frames(path: str | Path, config: DedupeConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(frames uint8 [T, size, size, 3], times float32 [T])`` ready for the backbone.

    Raises ``InputError`` naming the file when nothing decodes.
    """
    from PIL import Image

    frames, times = sample_frames(path, fps=config.fps, max_side=config.decode_side, max_seconds=config.max_seconds)
    if config.trim_borders:
        top, bottom, left, right = border_box(frames)
        frames = frames[:, top:bottom, left:right]
    std = frames.reshape(len(frames), -1, 3).std(axis=1).max(axis=1)
    keep = std >= BLANK_STD
    frames, times = frames[keep], times[keep]
    s = config.size
    if len(frames) == 0:
        return np.zeros((0, s, s, 3), np.uint8), times
    out = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(f)).resize((s, s), Image.BILINEAR)) for f in frames])
    return out, times


class FrameDescriber:
    """``describe(frames uint8 [T, S, S, 3]) -> float32 [T, D]`` L2-normalised."""

    def __init__(self, config: DedupeConfig, *, batch_size: int = 32):
        import torch

        from reelmatch.model.backbones import create_backbone

        self.config = config
        self.batch_size = batch_size
        self.backbone = create_backbone(config.backbone, pretrained=config.pretrained, norm=config.frame_norm).eval()
        self._torch = torch

    def features(self, frames: np.ndarray, *, flip: bool | None = None) -> np.ndarray:
        """Raw pooled features float32 [T, D] (flip-averaged when ``flip``), L2-normalised."""
        torch = self._torch
        flip = self.config.flip if flip is None else flip
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"frames must be [T, H, W, 3], got shape {frames.shape}")
        outs = []
        with torch.inference_mode():
            for i in range(0, len(frames), self.batch_size):
                x = self.backbone.preprocess(torch.from_numpy(np.ascontiguousarray(frames[i : i + self.batch_size])))
                f = torch.nn.functional.normalize(self.backbone(x).float(), dim=1)
                if flip:
                    g = torch.nn.functional.normalize(self.backbone(torch.flip(x, dims=[3])).float(), dim=1)
                    f = torch.nn.functional.normalize(f + g, dim=1)
                outs.append(f.numpy())
        if not outs:
            return np.zeros((0, 0), np.float32)
        return np.concatenate(outs).astype(np.float32)

    def describe(self, frames: np.ndarray) -> np.ndarray:
        return self.features(frames)
