"""The model's frozen config (stored in every checkpoint's config.json)."""

from __future__ import annotations

from dataclasses import dataclass

from reelmatch.config import StageConfig
from reelmatch.model.norms import CHOICES as FRAME_NORMS

POOLINGS = ("lstm", "attention", "mean")
FUSIONS = ("concat", "transformer")
#: audio encoders: the ConvNet over the spectrogram (trained from scratch), or a frozen pretrained expert
#: whose cached embedding gets a trainable head (name -> the expert's dim; None: the spectrogram)
AUDIO_ENCODERS = {"convnet": None, "aisfx": 512}


@dataclass(frozen=True)
class ModelConfig(StageConfig):
    """Architecture of :class:`reelmatch.model.TwoTower`.

    backbone: registry name (``reelmatch.model.list_backbones()``); pretrained: load its weights.
    pooling: temporal pooling over the K frames: ``lstm`` (the recipe), ``attention``, ``mean``.
    spectrogram: ``"logmel"`` (float32 [n_mels, T]) or ``"recipe"`` (uint8 [S, S, 3] picture).
    num_genres: size of the warm-up classification head (0 = none).
    modality_dropout: probability, in training, that one of an item's modalities is hidden (audio,
        text, and the frames when the item has another modality), so items missing one are learned.
    text: the frozen plot-text encoder (``reelmatch.text.list_text_encoders()``) whose cached sentence
        embedding feeds the text tower, or None: no text modality (every model made before it existed).
    text_dim: that encoder's output dimension (stored so a checkpoint loads without the encoder).
    text_dropout: in training, the probability that an item's plot is hidden (None: ``modality_dropout``);
        a plot names its item, so a higher rate keeps the fusion from memorising training items by it.
    text_genre_weight: the share of the text tower's genre head in its embedding (the genre probabilities
        of :meth:`reelmatch.model.text.TextTower.fit_genres`, fit on the training items' plots, next to
        the trained projection; see :func:`reelmatch.model.text.text_embedding`): 0 = the projection alone
        (every model made before it existed, and every model without text), 1 = the probabilities alone.
    text_genre_centre: the genre vector in the text embedding is the probabilities minus their mean over the
        training items (:meth:`reelmatch.model.text.TextTower.genre_vector`); False: the probabilities.
    audio_encoder: ``"convnet"`` (the spectrogram ConvNet) or a frozen expert of ``AUDIO_ENCODERS``.
    fusion: ``"concat"`` (the recipe: concatenation -> MLP) or ``"transformer"`` (a small transformer
        over modality tokens: the frame tokens, one audio token, one text token, with the presence mask).
    frame_norm: the backbone's input normalisation (:mod:`reelmatch.model.norms`): ``auto`` (the
        backbone's default), ``legacy`` (what a checkpoint saved without this field was trained with), or a name.
    """

    #: added after checkpoints existed: a stored config without them is the model it was
    FINGERPRINT_OMIT_DEFAULTS = ("text_dim", "audio_encoder", "fusion", "text_dropout", "text_genre_centre")
    LEGACY_VALUES = {"text": None, "frame_norm": "legacy", "text_genre_weight": 0.0}
    #: described (config.json of a checkpoint) as before the field existed while it holds its default
    DICT_OMIT_DEFAULTS = ("text_genre_centre",)

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
    text: str | None = "minilm"
    text_dim: int = 384
    text_dropout: float | None = None
    text_genre_weight: float = 0.85
    text_genre_centre: bool = False
    audio_encoder: str = "convnet"
    fusion: str = "concat"
    frame_norm: str = "auto"

    @property
    def modalities(self) -> tuple[str, ...]:
        """The modalities this model takes, in registry order."""
        return ("visual", "audio") + (("text",) if self.text else ())

    def __post_init__(self):
        if self.pooling not in POOLINGS:
            raise self.invalid("pooling", f"is not one of {', '.join(POOLINGS)}")
        if self.spectrogram not in ("logmel", "recipe"):
            raise self.invalid("spectrogram", "is not one of logmel, recipe")
        for name in ("hidden", "audio_dim", "embed_dim"):
            if getattr(self, name) < 1:
                raise self.invalid(name, "must be at least 1")
        if self.fusion not in FUSIONS:
            raise self.invalid("fusion", f"is not one of {', '.join(FUSIONS)}")
        if self.audio_encoder not in AUDIO_ENCODERS:
            raise self.invalid("audio_encoder", f"is not one of {', '.join(AUDIO_ENCODERS)}")
        if self.text is not None:
            from reelmatch.text.encoder import list_text_encoders

            if self.text not in list_text_encoders():
                raise self.invalid("text", f"is not a text encoder: known {', '.join(list_text_encoders())} (or None)")
            if self.text_dim < 1:
                raise self.invalid("text_dim", "must be at least 1")
        if self.text_dropout is not None and not 0 <= self.text_dropout < 1:
            raise self.invalid("text_dropout", "must be in [0, 1) or None")
        if not 0 <= self.text_genre_weight <= 1:
            raise self.invalid("text_genre_weight", "must be in [0, 1]")
        if self.text is None:  # no text tower, no genre head: described (and fingerprinted) as before it existed
            object.__setattr__(self, "text_genre_weight", 0.0)
        if self.text_genre_weight == 0:  # no genre head: nothing to centre
            object.__setattr__(self, "text_genre_centre", False)
        if not 0 <= self.modality_dropout < 1:
            raise self.invalid("modality_dropout", "must be in [0, 1)")
        if self.frame_norm not in FRAME_NORMS:
            raise self.invalid("frame_norm", f"is not one of {', '.join(FRAME_NORMS)}")
