"""Triplet mining for multi-genre items.

Labels are a multi-hot genre matrix ``bool [B, G]``. For an anchor a:

- **positive**: any other item sharing at least one genre with a
  (Drama|Romance is a positive of Drama and of Romance);
- **negative**: an item sharing no genre with a;
- an item is never its own positive or negative (the same index is excluded,
  whatever its genres), and unlabelled rows are skipped.

Semi-hard (FaceNet): ``d(a,p) < d(a,n) < d(a,p) + margin``. When a batch has
no semi-hard triplet the miner falls back to the hard ones (``d(a,n) < d(a,p) + margin``)
so the step still learns. The triplets feed pytorch-metric-learning's
``TripletMarginLoss`` through ``indices_tuple`` with the same distance.
"""

from __future__ import annotations

import torch


def pair_masks(genres: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(positive bool [B, B], negative bool [B, B]) from a multi-hot genre matrix [B, G]."""
    if genres.ndim != 2:
        raise ValueError(f"genres must be multi-hot [B, G], got {tuple(genres.shape)}")
    g = genres.to(torch.float32)
    shared = g @ g.T
    labelled = g.sum(1) > 0
    both = labelled[:, None] & labelled[None, :]
    not_self = ~torch.eye(len(g), dtype=torch.bool, device=g.device)
    return (shared > 0) & both & not_self, (shared == 0) & both & not_self


class MultiLabelTripletMiner:
    """Semi-hard triplets from a genre matrix; ``distance`` is a pytorch-metric-learning distance."""

    def __init__(self, margin: float = 0.2, distance=None, type_of_triplets: str = "semihard"):
        if distance is None:
            from pytorch_metric_learning.distances import LpDistance

            distance = LpDistance(normalize_embeddings=True)
        self.margin = margin
        self.distance = distance
        self.type_of_triplets = type_of_triplets

    def __call__(self, embeddings: torch.Tensor, genres: torch.Tensor):
        """``(anchors, positives, negatives)`` int64 index tensors (possibly empty)."""
        pos, neg = pair_masks(genres)
        with torch.no_grad():
            d = self.distance(embeddings)
            if not self.distance.is_inverted:
                ap, an = d[:, :, None], d[:, None, :]
            else:  # similarity: larger is closer
                ap, an = -d[:, :, None], -d[:, None, :]
            valid = pos[:, :, None] & neg[:, None, :]
            hard = valid & (an < ap + self.margin)
            chosen = hard & (an > ap) if self.type_of_triplets == "semihard" else hard
            if self.type_of_triplets == "semihard" and not chosen.any():
                chosen = hard
        a, p, n = torch.nonzero(chosen, as_tuple=True)
        return a, p, n
