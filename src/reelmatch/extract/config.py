"""The sampling config of a clip (one frozen dataclass, fingerprinted).

Defaults are the recipe's: skip the first 5 s, use the next 125 s, take K = 10
frames one every 12 s, 224x224 pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

from reelmatch.config import fingerprint

GEOMETRIES = ("fit", "recipe")
SPECTROGRAMS = ("logmel", "recipe")
SAMPLINGS = ("exact", "keyframe")


@dataclass(frozen=True)
class ClipConfig:
    """How a clip is sampled from a video.

    geometry: ``"recipe"`` = scale to width 560 then centre-crop 224x224 (the
        recipe, exact); ``"fit"`` (default) = works for every aspect ratio
        (see reelmatch.extract docs).
    spectrogram: ``"logmel"`` (default) = float32 [n_mels, spec_frames] log-mel;
        ``"recipe"`` = uint8 [224, 224, 3] picture like ffmpeg ``showspectrumpic``.
    sampling: ``"exact"`` (default) = for each instant the last frame shown
        before it, the recipe's frame; ``"keyframe"`` = the last *keyframe*
        shown before it (decodes one frame per instant: about 3x faster on
        trailers, frames on average a GOP's half earlier; the clip records the
        times actually taken).
    """

    start: float = 5.0
    window: float = 125.0
    num_frames: int = 10
    interval: float = 12.0
    size: int = 224
    geometry: str = "fit"
    sample_rate: int = 16000
    spectrogram: str = "logmel"
    n_mels: int = 128
    spec_frames: int = 512
    sampling: str = "exact"

    def __post_init__(self):
        from reelmatch.errors import InputError

        if self.geometry not in GEOMETRIES:
            raise InputError(f"geometry {self.geometry!r} is not one of {', '.join(GEOMETRIES)}")
        if self.spectrogram not in SPECTROGRAMS:
            raise InputError(f"spectrogram {self.spectrogram!r} is not one of {', '.join(SPECTROGRAMS)}")
        if self.sampling not in SAMPLINGS:
            raise InputError(f"sampling {self.sampling!r} is not one of {', '.join(SAMPLINGS)}")
        if self.num_frames < 1 or self.interval <= 0 or self.window <= 0 or self.start < 0 or self.size < 8:
            raise InputError(f"invalid clip config: {self}")

    @classmethod
    def recipe(cls, **overrides) -> "ClipConfig":
        """The published recipe exactly (geometry and spectrogram picture)."""
        return cls(**{"geometry": "recipe", "spectrogram": "recipe", **overrides})

    #: fields added after the first clip stores were written count only when not at
    #: their default, so those stores keep their fingerprint
    FINGERPRINT_OMIT_DEFAULTS = ("sampling",)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self)

    def spectrogram_shape(self) -> tuple[int, ...]:
        if self.spectrogram == "recipe":
            return (self.size, self.size, 3)
        return (self.n_mels, self.spec_frames)
