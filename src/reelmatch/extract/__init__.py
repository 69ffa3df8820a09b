"""Extraction: frames + spectrogram sampled from media into clip records."""

from reelmatch.extract.config import ClipConfig

__all__ = ["ClipConfig"]
