"""Clips (or cached features) -> batch dicts of tensors for :class:`reelmatch.model.TwoTower`."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch


def _spectrograms(specs: Sequence[np.ndarray]) -> torch.Tensor:
    shapes = {s.shape for s in specs}
    if len(shapes) != 1:
        raise ValueError(f"spectrograms of different shapes in one batch: {sorted(shapes)}")
    s = np.stack(specs)
    return torch.from_numpy(s if s.dtype == np.uint8 else s.astype(np.float32))


def collate(clips: Sequence) -> dict:
    """Clips -> ``{"frames" uint8 [B,K,S,S,3], "mask" bool [B,K], "spectrogram", "has_audio" bool [B], "ids"}``."""
    if not clips:
        raise ValueError("cannot collate an empty batch")
    shapes = {c.frames.shape for c in clips}
    if len(shapes) != 1:
        raise ValueError(f"clips of different shapes in one batch (mixed clip configs?): {sorted(shapes)}")
    return {
        "frames": torch.from_numpy(np.stack([c.frames for c in clips])),
        "mask": torch.from_numpy(np.stack([np.asarray(c.mask, dtype=bool) for c in clips])),
        "spectrogram": _spectrograms([np.asarray(c.spectrogram) for c in clips]),
        "has_audio": torch.tensor([bool(c.has_audio) for c in clips], dtype=torch.bool),
        "ids": [c.id for c in clips],
    }


def collate_features(records: Sequence[dict]) -> dict:
    """Feature records (``{"id", "features" [K,D], "mask", "spectrogram", "has_audio"}``) -> a batch
    with ``"features"`` float32 [B, K, D] in place of frames."""
    if not records:
        raise ValueError("cannot collate an empty batch")
    return {
        "features": torch.from_numpy(np.stack([np.asarray(r["features"], dtype=np.float32) for r in records])),
        "mask": torch.from_numpy(np.stack([np.asarray(r["mask"], dtype=bool) for r in records])),
        "spectrogram": _spectrograms([np.asarray(r["spectrogram"]) for r in records]),
        "has_audio": torch.tensor([bool(r["has_audio"]) for r in records], dtype=torch.bool),
        "ids": [r["id"] for r in records],
    }
