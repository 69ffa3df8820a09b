"""The embed config (one frozen dataclass, fingerprinted)."""

from __future__ import annotations

from dataclasses import dataclass

from reelmatch.config import StageConfig


@dataclass(frozen=True)
class EmbedConfig(StageConfig):
    """How vectors are computed for every clip.

    name: the embeddings file, ``<ws>/embeddings/<name>.npz``.
    batch_size: clips per inference batch.
    use_model: embed with the workspace's current trained model when there is
        one; ``False`` forces the pretrained-backbone baseline.
    backbone: the pretrained backbone of the baseline (no trained model yet).
    audio_weight: in the baseline, the share of the audio descriptor in the
        fused vector: ``fused . fused' = (1 - w) visual . visual' + w audio . audio'``
        (when both have audio).
    save_every: write the embeddings file (and mark items done) every this many
        clips, so a killed run keeps its finished work.
    """

    name: str = "default"
    batch_size: int = 16
    use_model: bool = True
    backbone: str = "efficientnet_lite0"
    audio_weight: float = 0.25
    save_every: int = 256

    def __post_init__(self):
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise self.invalid("name", "must be a plain file name")
        for name in ("batch_size", "save_every"):
            if getattr(self, name) < 1:
                raise self.invalid(name, "must be at least 1")
        if not 0.0 <= self.audio_weight <= 1.0:
            raise self.invalid("audio_weight", "must be in [0, 1]")
