"""Frozen pretrained audio experts: a 512-d sound embedding per item, cached (the audio modality's expert input).

- :mod:`reelmatch.audioexpert.encoder`: ``aisfx`` (Ma & Lerch, ISMIR 2022; PyPI
  package ``aisfx``, code MIT, weights CC-BY-4.0), its front-end and safe loading;
- :mod:`reelmatch.audioexpert.source`: an item's sound over the clip window, through the media layer;
- :mod:`reelmatch.audioexpert.cache`: per-item embeddings cached in the workspace,
  computed only for new or changed media; :func:`load_audio_expert_features` reads them.

Importing this package imports neither torch nor av.
"""

from reelmatch.audioexpert.cache import (
    ENCODERS,
    AudioExpertConfig,
    AudioExpertResult,
    load_audio_expert_features,
    update_audio_expert_features,
)

__all__ = ["ENCODERS", "AudioExpertConfig", "AudioExpertResult", "load_audio_expert_features",
           "update_audio_expert_features"]
