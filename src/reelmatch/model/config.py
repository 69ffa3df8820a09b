"""The model's frozen config (stored in every checkpoint's config.json)."""

from __future__ import annotations

from dataclasses import dataclass

from reelmatch.config import StageConfig
from reelmatch.model.norms import CHOICES as FRAME_NORMS

POOLINGS = ("lstm", "attention", "mean")


@dataclass(frozen=True)
class ModelConfig(StageConfig):
    """Architecture of :class:`reelmatch.model.TwoTower`.

    backbone: registry name (``reelmatch.model.list_backbones()``); pretrained: load its weights.
    pooling: temporal pooling over the K frames: ``lstm`` (the recipe), ``attention``, ``mean``.
    spectrogram: ``"logmel"`` (float32 [n_mels, T]) or ``"recipe"`` (uint8 [S, S, 3] picture).
    num_genres: size of the warm-up classification head (0 = none).
    modality_dropout: probability, in training, that an item's audio is hidden.
    frame_norm: the backbone's input normalisation (:mod:`reelmatch.model.norms`): ``auto`` (the
    backbone's default), ``legacy`` (what a checkpoint saved without this field was trained with), or a name.
    """

    LEGACY_VALUES = {"frame_norm": "legacy"}

    backbone: str = "efficientnet_lite0"
    pretrained: bool = True
    pooling: str = "lstm"
    hidden: int = 256
    audio_dim: int = 128
    embed_dim: int = 256
    spectrogram: str = "logmel"
    num_genres: int = 0
    modality_dropout: float = 0.2
    dropout: float = 0.1
    frame_norm: str = "auto"

    def __post_init__(self):
        if self.pooling not in POOLINGS:
            raise self.invalid("pooling", f"is not one of {', '.join(POOLINGS)}")
        if self.spectrogram not in ("logmel", "recipe"):
            raise self.invalid("spectrogram", "is not one of logmel, recipe")
        for name in ("hidden", "audio_dim", "embed_dim"):
            if getattr(self, name) < 1:
                raise self.invalid(name, "must be at least 1")
        if not 0 <= self.modality_dropout < 1:
            raise self.invalid("modality_dropout", "must be in [0, 1)")
        if self.frame_norm not in FRAME_NORMS:
            raise self.invalid("frame_norm", f"is not one of {', '.join(FRAME_NORMS)}")
