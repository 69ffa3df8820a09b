"""The audio tower: a small ConvNet over the spectrogram (the recipe's)."""

from __future__ import annotations

import torch
from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class AudioConvNet(nn.Module):
    """spectrogram -> float32 [B, out_dim].

    ``logmel``: float [B, n_mels, T] (one channel); ``recipe``: uint8 [B, S, S, 3] picture.
    Each spectrogram is standardised on its own (mean 0, std 1) first, so loudness
    and the log offset do not matter.
    """

    def __init__(self, out_dim: int = 128, spectrogram: str = "logmel", width: int = 16):
        super().__init__()
        self.spectrogram = spectrogram
        cin = 3 if spectrogram == "recipe" else 1
        w = width
        self.net = nn.Sequential(_block(cin, w), _block(w, 2 * w), _block(2 * w, 4 * w), _block(4 * w, 8 * w))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out = nn.Linear(8 * w, out_dim)

    def prepare(self, spec: torch.Tensor) -> torch.Tensor:
        """Batch of spectrograms -> float32 [B, C, H, W], standardised per item."""
        if self.spectrogram == "recipe":
            if spec.ndim != 4 or spec.shape[-1] != 3:
                raise ValueError(f"recipe spectrogram pictures must be [B, S, S, 3], got {tuple(spec.shape)}")
            x = spec.permute(0, 3, 1, 2).float() / 255.0
        else:
            if spec.ndim != 3:
                raise ValueError(f"log-mel spectrograms must be [B, n_mels, T], got {tuple(spec.shape)}")
            x = spec.float().unsqueeze(1)
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        std = x.std(dim=(1, 2, 3), keepdim=True).clamp(min=1e-5)
        return (x - mean) / std

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        return self.out(self.pool(self.net(self.prepare(spec))).flatten(1))
