"""Training config: the model, the phases (as data), the losses and the sampling."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from reelmatch.config import fingerprint
from reelmatch.errors import InputError

LOSSES = ("classify", "triplet")


@dataclass(frozen=True)
class Phase:
    """One stage of the schedule.

    loss: ``"classify"`` (warm-up on genres) or ``"triplet"`` (semi-hard triplets);
    unlocked_groups: trainable backbone groups, counted from the top (0 = frozen:
    the phase trains from the feature cache); lr: AdamW learning rate.
    """

    name: str
    epochs: int
    loss: str
    lr: float
    unlocked_groups: int = 0

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise InputError(f"phase {self.name!r}: loss {self.loss!r} is not one of {', '.join(LOSSES)}")
        if self.epochs < 0 or self.lr <= 0 or self.unlocked_groups < 0:
            raise InputError(f"phase {self.name!r}: invalid epochs/lr/unlocked_groups: {self}")


DEFAULT_PHASES = (
    Phase("warmup", 1, "classify", 2e-3, 0),
    Phase("triplet", 11, "triplet", 1e-3, 0),
    Phase("unfreeze", 1, "triplet", 1e-4, 1),
)


@dataclass(frozen=True)
class TrainConfig:
    """How ``reelmatch train`` fits the model.

    epochs: shortcut for a frozen schedule: 1 warm-up epoch + ``epochs - 1`` triplet
        epochs (no unfreezing); None = ``phases``.
    classification: ``"multilabel"`` (BCE over genres, default) or ``"softmax"``
        (the recipe: one genre per item, the first listed).
    margin: triplet margin (cosine distance on L2-normalised embeddings... see docs/model.md).
    tower_weight: weight of the per-tower (visual, audio) triplet losses next to the fused one.
    per_genre: items of one genre in a class-balanced batch.
    val_splits: held-out splits validated each epoch (``val``; ``val`` + ``test`` if ``val``
        has fewer than 4 labelled items).
    """

    backbone: str = "efficientnet_lite0"
    pretrained: bool = True
    weights: str | None = None
    pooling: str = "lstm"
    embed_dim: int = 256
    hidden: int = 256
    audio_dim: int = 128
    modality_dropout: float = 0.2
    dropout: float = 0.1
    epochs: int | None = None
    phases: tuple[Phase, ...] = field(default_factory=lambda: DEFAULT_PHASES)
    classification: str = "multilabel"
    margin: float = 0.2
    tower_weight: float = 0.5
    batch_size: int = 32
    per_genre: int = 4
    weight_decay: float = 1e-4
    val_splits: tuple[str, ...] = ("val",)
    seed: int = 0

    def __post_init__(self):
        if self.classification not in ("multilabel", "softmax"):
            raise InputError(f"classification {self.classification!r} is not one of multilabel, softmax")
        if self.epochs is not None and self.epochs < 1:
            raise InputError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 4 or self.per_genre < 2 or self.margin <= 0:
            raise InputError(f"invalid batch_size/per_genre/margin: {self.batch_size}/{self.per_genre}/{self.margin}")

    def schedule(self) -> tuple[Phase, ...]:
        """The phases to run (``epochs`` applied)."""
        if self.epochs is None:
            return tuple(p for p in self.phases if p.epochs > 0)
        warm = next((p for p in self.phases if p.loss == "classify"), DEFAULT_PHASES[0])
        trip = next((p for p in self.phases if p.loss == "triplet" and p.unlocked_groups == 0), DEFAULT_PHASES[1])
        out = (replace(warm, epochs=1),)
        if self.epochs > 1:
            out += (replace(trip, epochs=self.epochs - 1),)
        return out

    @property
    def fingerprint(self) -> str:
        return fingerprint(self)
