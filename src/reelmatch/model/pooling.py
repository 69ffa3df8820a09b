"""Masked temporal pooling over K frame vectors: [B, K, H] + bool [B, K] -> [B, H]."""

from __future__ import annotations

import torch
from torch import nn


def _check(x: torch.Tensor, mask: torch.Tensor) -> None:
    if x.ndim != 3 or mask.shape != x.shape[:2]:
        raise ValueError(f"expected x [B, K, H] and mask [B, K], got {tuple(x.shape)} and {tuple(mask.shape)}")


class MeanPool(nn.Module):
    """Mean of the real frames (zeros when a clip has none)."""

    def __init__(self, hidden: int):
        super().__init__()

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        _check(x, mask)
        m = mask.to(x.dtype).unsqueeze(-1)
        return (x * m).sum(1) / m.sum(1).clamp(min=1.0)


class AttentionPool(nn.Module):
    """Learned additive attention over the real frames, with a position embedding."""

    def __init__(self, hidden: int, max_frames: int = 256):
        super().__init__()
        self.pos = nn.Parameter(torch.zeros(max_frames, hidden))
        self.score = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        _check(x, mask)
        k = x.shape[1]
        if k > self.pos.shape[0]:
            raise ValueError(f"attention pooling supports at most {self.pos.shape[0]} frames, got {k}")
        s = self.score(x + self.pos[:k]).squeeze(-1)
        s = s.masked_fill(~mask, float("-inf"))
        w = torch.softmax(s, dim=1)
        w = torch.nan_to_num(w, nan=0.0)  # a clip without real frames pools to zeros
        return (w.unsqueeze(-1) * x).sum(1)


class LSTMPool(nn.Module):
    """LSTM over the real frames in time order (the recipe); the last hidden state.

    Real frames are moved to the front (stable, so their order is kept) and packed,
    so padding never enters the recurrence wherever it sits.
    """

    def __init__(self, hidden: int):
        super().__init__()
        self.lstm = nn.LSTM(hidden, hidden, batch_first=True)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        _check(x, mask)
        from torch.nn.utils.rnn import pack_padded_sequence

        order = torch.sort((~mask).to(torch.int8), dim=1, stable=True).indices
        x = torch.gather(x, 1, order.unsqueeze(-1).expand_as(x))
        lengths = mask.sum(1)
        packed = pack_padded_sequence(x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)
        out = h[-1]
        return out * (lengths > 0).to(out.dtype).unsqueeze(-1)


POOLING_CLASSES = {"lstm": LSTMPool, "attention": AttentionPool, "mean": MeanPool}
