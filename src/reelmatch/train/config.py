"""Training config: the model, the phases (as data), the losses and the sampling."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from reelmatch.config import StageConfig
from reelmatch.errors import InputError
from reelmatch.model.config import ModelConfig

LOSSES = ("cross_modal", "classify", "triplet")


@dataclass(frozen=True)
class Phase(StageConfig):
    """One stage of the schedule.

    loss: ``"cross_modal"`` (self-supervised: InfoNCE between the towers' embeddings of the
    same item against the batch, no labels needed), ``"classify"`` (warm-up on genres) or
    ``"triplet"`` (semi-hard triplets);
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

#: the self-supervised phase ``--ssl-epochs N`` puts first (and the one an unlabelled catalogue trains alone)
SSL_PHASE = Phase("ssl", 20, "cross_modal", 2e-3, 0)


def with_ssl(phases: tuple[Phase, ...], epochs: int) -> tuple[Phase, ...]:
    """``phases`` with a self-supervised phase of ``epochs`` epochs first (replacing any there was)."""
    if epochs < 0:
        raise InputError(f"self-supervised epochs must be >= 0, got {epochs}")
    rest = tuple(p for p in phases if p.loss != "cross_modal")
    if epochs == 0:
        return rest
    return (replace(SSL_PHASE, epochs=epochs),) + rest


#: the model fields a TrainConfig sets (ModelConfig's ``spectrogram`` and ``num_genres``
#: come from the clips and the genre vocabulary at training time)
MODEL_FIELDS = ("backbone", "pretrained", "pooling", "embed_dim", "hidden", "audio_dim", "modality_dropout", "dropout",
                "text", "audio_encoder", "fusion", "frame_norm", "text_dropout", "text_genre_weight",
                "text_genre_centre")
#: model fields added after train configs were stored: the value every config had before. The dict form
#: leaves them out while they hold it (old fingerprints stand); a stored dict without them had it
LATER_MODEL_FIELDS = {"text": None, "audio_encoder": "convnet", "fusion": "concat", "text_genre_weight": 0.0}
#: model fields left out of the dict form (so of fingerprints) while they hold this value (added later)
_MODEL_OMITTED = {"frame_norm": "auto", "text_dropout": None, "text_genre_centre": False, **LATER_MODEL_FIELDS}


@dataclass(frozen=True, init=False)
class TrainConfig(StageConfig):
    """How ``reelmatch train`` fits the model.

    model: the architecture (:class:`reelmatch.model.ModelConfig`); its fields may
        also be given flat: ``TrainConfig(backbone="tiny", embed_dim=32)``, and read
        flat: ``config.backbone`` is ``config.model.backbone``.
    weights: a local weights file of the backbone.
    epochs: shortcut for a frozen schedule: 1 warm-up epoch + ``epochs - 1`` triplet
        epochs (no unfreezing); None = ``phases``.
    classification: ``"multilabel"`` (BCE over genres, default) or ``"softmax"``
        (the recipe: one genre per item, the first listed).
    margin: triplet margin (cosine distance on L2-normalised embeddings... see docs/model.md).
    tower_weight: weight of the per-tower (visual, audio) triplet losses next to the fused one.
    per_genre: items of one genre in a class-balanced batch.
    val_splits: held-out splits validated each epoch (``val``; ``val`` + ``test`` if ``val``
        has fewer than 4 labelled items).

    Its dict form (``to_dict``: checkpoints, fingerprint) is flat, the model fields
    next to the others, as since the first checkpoints, so their fingerprints hold
    (``frame_norm`` only when it is not ``auto``).
    """

    model: ModelConfig
    weights: str | None
    epochs: int | None
    phases: tuple[Phase, ...]
    classification: str
    margin: float
    tower_weight: float
    batch_size: int
    per_genre: int
    weight_decay: float
    val_splits: tuple[str, ...]
    seed: int

    def __init__(self, model: ModelConfig | None = None, *, weights: str | None = None, epochs: int | None = None,
                 phases: tuple[Phase, ...] = DEFAULT_PHASES, classification: str = "multilabel", margin: float = 0.2,
                 tower_weight: float = 0.5, batch_size: int = 32, per_genre: int = 4, weight_decay: float = 1e-4,
                 val_splits: tuple[str, ...] = ("val",), seed: int = 0, **model_fields):
        unknown = sorted(set(model_fields) - set(MODEL_FIELDS))
        if unknown:
            raise TypeError(f"TrainConfig got unexpected field(s) {', '.join(unknown)}")
        model = model if model is not None else ModelConfig()
        if model_fields:
            model = replace(model, **model_fields)
        values = {"model": model, "weights": weights, "epochs": epochs, "phases": tuple(phases),
                  "classification": classification, "margin": margin, "tower_weight": tower_weight,
                  "batch_size": batch_size, "per_genre": per_genre, "weight_decay": weight_decay,
                  "val_splits": tuple(val_splits), "seed": seed}
        for k, v in values.items():
            object.__setattr__(self, k, v)
        self.__post_init__()

    def __post_init__(self):
        if self.classification not in ("multilabel", "softmax"):
            raise self.invalid("classification", "is not one of multilabel, softmax")
        if self.epochs is not None and self.epochs < 1:
            raise self.invalid("epochs", "must be at least 1")
        for name, ok, why in (("batch_size", self.batch_size >= 4, "must be at least 4"),
                              ("per_genre", self.per_genre >= 2, "must be at least 2"),
                              ("margin", self.margin > 0, "must be > 0")):
            if not ok:
                raise self.invalid(name, why)

    def __getattr__(self, name):  # the model's fields, read flat
        if name in MODEL_FIELDS:
            return getattr(self.model, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def to_dict(self) -> dict:
        from reelmatch.config import to_jsonable

        out = {}
        for f in fields(self):
            if f.name == "model":
                out.update({k: to_jsonable(getattr(self.model, k)) for k in MODEL_FIELDS
                            if not (k in _MODEL_OMITTED and getattr(self.model, k) == _MODEL_OMITTED[k])})
            else:
                out[f.name] = to_jsonable(getattr(self, f.name))
        return out

    @classmethod
    def from_dict(cls, doc: dict) -> "TrainConfig":
        """From the flat dict form (or with a nested ``"model"`` dict)."""
        own = [f.name for f in fields(_TrainFields)]
        unknown = sorted(set(doc) - set(own) - set(MODEL_FIELDS) - {"model"})
        if unknown:
            raise InputError(f"{cls.__name__}: unknown field(s) {', '.join(unknown)}; known: "
                             f"{', '.join((*MODEL_FIELDS, *own))}")
        doc = dict(doc)
        flat = {k: doc.pop(k) for k in MODEL_FIELDS if k in doc}
        model = doc.pop("model", None)
        if isinstance(model, dict):
            model = ModelConfig.from_dict(model)
        elif model is None:  # the flat form: a field it lacks held its value from before the field existed
            flat = {**LATER_MODEL_FIELDS, **flat}
        model = replace(model or ModelConfig(), **flat)
        base = StageConfig.from_dict.__func__(_TrainFields, doc)
        return cls(model, **{f.name: getattr(base, f.name) for f in fields(_TrainFields)})

    def schedule(self) -> tuple[Phase, ...]:
        """The phases to run (``epochs`` applied; self-supervised phases stay first)."""
        if self.epochs is None:
            return tuple(p for p in self.phases if p.epochs > 0)
        ssl = self.self_supervised_phases()
        warm = next((p for p in self.phases if p.loss == "classify"), DEFAULT_PHASES[0])
        trip = next((p for p in self.phases if p.loss == "triplet" and p.unlocked_groups == 0), DEFAULT_PHASES[1])
        out = ssl + (replace(warm, epochs=1),)
        if self.epochs > 1:
            out += (replace(trip, epochs=self.epochs - 1),)
        return out

    def self_supervised_phases(self) -> tuple[Phase, ...]:
        """The schedule's ``cross_modal`` phases (those a catalogue without labels trains alone)."""
        return tuple(p for p in self.phases if p.loss == "cross_modal" and p.epochs > 0)



@dataclass(frozen=True)
class _TrainFields(StageConfig):
    """TrainConfig's own fields, for parsing its dict form (types and defaults)."""

    weights: str | None = None
    epochs: int | None = None
    phases: tuple[Phase, ...] = DEFAULT_PHASES
    classification: str = "multilabel"
    margin: float = 0.2
    tower_weight: float = 0.5
    batch_size: int = 32
    per_genre: int = 4
    weight_decay: float = 1e-4
    val_splits: tuple[str, ...] = ("val",)
    seed: int = 0
