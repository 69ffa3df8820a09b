"""The text tower: a trainable projection over frozen sentence embeddings of the plot.

``TextTower(in_dim, embed_dim)`` maps float32 [B, in_dim] sentence embeddings
(:mod:`reelmatch.text`) to [B, embed_dim]: LayerNorm -> Linear -> GELU ->
Dropout -> Linear. The encoder stays frozen (its features are cached per item),
so training the tower costs a few matrix products per batch.
"""

from __future__ import annotations

import torch
from torch import nn


class TextTower(nn.Module):
    def __init__(self, in_dim: int = 384, embed_dim: int = 256, hidden: int = 512, dropout: float = 0.2):
        super().__init__()
        self.in_dim = in_dim
        self.net = nn.Sequential(
            nn.LayerNorm(in_dim), nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, embed_dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x float32 [B, in_dim] -> float32 [B, embed_dim] (not normalised)."""
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"text features must be [B, {self.in_dim}], got {tuple(x.shape)}")
        return self.net(x)
