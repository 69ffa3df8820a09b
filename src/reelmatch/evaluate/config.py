"""Configuration of the evaluate stage."""

from __future__ import annotations

from dataclasses import dataclass

from reelmatch.config import StageConfig

#: baselines evaluate knows, in report order
BASELINES = ("random", "pretrained_mean", "untrained", "audio_only", "frames_only", "text_only")

BASELINE_DESCRIPTIONS = {
    "random": "random unit vectors (chance level)",
    "pretrained_mean": "mean-pooled ImageNet-pretrained frame features, no training",
    "untrained": "the same two-tower model with its trainable layers at initialisation",
    "audio_only": "trained model, audio tower embedding alone",
    "frames_only": "trained model, frames tower embedding alone",
    "text_only": "trained model, plot-text tower embedding alone (items without a plot: zero vectors)",
}


@dataclass(frozen=True)
class EvalConfig(StageConfig):
    """What ``evaluate`` measures and draws.

    split: the held-out split queried against itself ("test" by default).
    k: cutoff of P@k and nDCG@k (the metric keys stay ``*_at_10`` for k=10).
    baselines: names from ``BASELINES`` to compute next to the trained model.
    projection: 2-D map method, ``auto`` | ``pca`` | ``tsne``.
    examples / neighbours: example queries shown in the HTML report, and
        neighbours per query.
    seed: random baseline, projection and example choice.
    """

    split: str = "test"
    k: int = 10
    baselines: tuple[str, ...] = BASELINES
    projection: str = "auto"
    examples: int = 6
    neighbours: int = 5
    batch_size: int = 16
    seed: int = 0

    def __post_init__(self):
        if self.split not in ("train", "val", "test"):
            raise self.invalid("split", "is not one of train, val, test")
        bad = [b for b in self.baselines if b not in BASELINES]
        if bad:
            raise self.invalid("baselines", f"unknown baseline(s) {', '.join(bad)}; known: {', '.join(BASELINES)}")
        if self.k < 1:
            raise self.invalid("k", "must be >= 1")
