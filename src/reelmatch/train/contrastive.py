"""Cross-modal InfoNCE: the views of one item attract, the other items of the batch repel.

``CrossModalInfoNCE()(views, present)`` takes per-view embeddings of one batch
(``{"visual": [B, E], "audio": [B, E], "fused": [B, E]}``) and which rows have each
view (``{"audio": bool [B], ...}``; a view without an entry is present on every
row) and returns the mean over every pair of views of the symmetric InfoNCE
loss (CLIP's): for the rows ``r`` that have both views ``a`` and ``b``,

    logits = exp(t) * normalize(a[r]) @ normalize(b[r]).T      # [n, n]
    loss_ab = (cross_entropy(logits, arange(n)) + cross_entropy(logits.T, arange(n))) / 2

with ``t`` a learned log inverse temperature (initialised to log(1 / 0.07), kept
below log(100) as in CLIP). A pair with fewer than two shared rows adds nothing,
so an item missing a modality takes part in the pairs it has.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn

INIT_TEMPERATURE = 0.07
MAX_LOGIT_SCALE = math.log(100.0)


class CrossModalInfoNCE(nn.Module):
    def __init__(self, temperature: float = INIT_TEMPERATURE, pairs: tuple[tuple[str, str], ...] | None = None):
        super().__init__()
        if not 0 < temperature < 1:
            raise ValueError(f"temperature must be in (0, 1), got {temperature}")
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))
        self.pairs = pairs

    @property
    def temperature(self) -> float:
        return float(torch.exp(-self.logit_scale.detach().clamp(max=MAX_LOGIT_SCALE)))

    def pair_loss(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Symmetric InfoNCE of row-aligned a, b float [n, E] (n >= 2)."""
        if a.shape != b.shape or a.ndim != 2:
            raise ValueError(f"views must be matching [n, E] tensors, got {tuple(a.shape)} and {tuple(b.shape)}")
        scale = self.logit_scale.clamp(max=MAX_LOGIT_SCALE).exp()
        logits = scale * F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T
        target = torch.arange(len(a), device=a.device)
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2

    def forward(self, views: dict[str, torch.Tensor], present: dict[str, torch.Tensor] | None = None):
        """``(mean loss over the pairs that have >= 2 shared rows, {"a-b": loss})``; zero (with a graph) if none."""
        present = present or {}
        names = list(views)
        pairs = self.pairs if self.pairs is not None else tuple(itertools.combinations(names, 2))
        first = views[names[0]]
        losses: dict[str, torch.Tensor] = {}
        for a, b in pairs:
            if a not in views or b not in views:
                continue
            rows = torch.ones(len(first), dtype=torch.bool, device=first.device)
            for name in (a, b):
                if name in present:
                    rows = rows & present[name].to(torch.bool)
            if int(rows.sum()) < 2:
                continue
            losses[f"{a}-{b}"] = self.pair_loss(views[a][rows], views[b][rows])
        if not losses:
            return first.sum() * 0.0 + self.logit_scale * 0.0, losses
        return torch.stack(list(losses.values())).mean(), losses
