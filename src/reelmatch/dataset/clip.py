"""The clip record and its sampling config: what extraction makes and every later stage reads.

Both live here, below ``extract`` (which makes clips) and ``dataset.store``
(which stores them), so neither imports the other for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reelmatch.config import StageConfig

if TYPE_CHECKING:  # numpy is imported where arrays are made: the config alone stays light (see ClipConfig)
    import numpy as np


@dataclass
class Clip:
    """One sampled video.

    frames:      uint8 [K, S, S, 3] RGB (S = ClipConfig.size); padded frames are zeros
    mask:        bool [K], True where the frame is real
    timestamps:  float32 [K], seconds in the source actually taken (NaN for padding)
    spectrogram: float32 [n_mels, spec_frames] (logmel) or uint8 [S, S, 3] (recipe);
                 zeros when there is no audio
    has_audio:   False when the source has no usable audio stream
    meta:        source metadata (width, height, fps, duration, codec, rotation...)
    split:       "train" | "val" | "test", by title (see reelmatch.dataset.splits)
    """

    id: str
    frames: np.ndarray
    mask: np.ndarray
    timestamps: np.ndarray
    spectrogram: np.ndarray
    has_audio: bool
    meta: dict = field(default_factory=dict)
    split: str = "train"

    def __post_init__(self):
        import numpy as np

        k = self.frames.shape[0]
        if self.frames.ndim != 4 or self.frames.shape[-1] != 3 or self.frames.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 [K,S,S,3], got {self.frames.dtype} {self.frames.shape}")
        if self.mask.shape != (k,) or self.timestamps.shape != (k,):
            raise ValueError(
                f"mask and timestamps must be [{k}], got {self.mask.shape} and {self.timestamps.shape}"
            )

    @property
    def num_valid(self) -> int:
        return int(self.mask.sum())


# ----------------------------------------------------------------- the config
GEOMETRIES = ("fit", "recipe")
SPECTROGRAMS = ("logmel", "recipe")
SAMPLINGS = ("exact", "keyframe")
FRAME_CODECS = ("jpeg", "webp", "raw")
SPECTROGRAM_CODECS = ("png", "float16")


#: ``frame_quality="auto"``: (largest frame size in px, JPEG/WebP quality), smallest first; larger
#: frames take the last quality. Chosen on the size sweep of docs/extract.md ("A quality that
#: depends on the frame size"): at each size, the quality that keeps the densest records measured
#: (720p trailers, every frame real) >= 5x smaller than raw, the highest where it lifts the
#: embeddings' cosine to raw (q100 up to 64 px; above, q98-q100 gain nothing over q96 or miss 5x).
AUTO_QUALITY = ((64, 100), (10**9, 96))


def auto_quality(size: int) -> int:
    """The size-aware default quality of ``size`` px frames (:data:`AUTO_QUALITY`)."""
    return next(q for largest, q in AUTO_QUALITY if size <= largest)


@dataclass(frozen=True)
class ClipConfig(StageConfig):
    """How a clip is sampled from a video.

    geometry: ``"recipe"`` = scale to width 560 then centre-crop 224x224 (the
        recipe, exact); ``"fit"`` (default) = works for every aspect ratio
        (see reelmatch.extract docs).
    spectrogram: ``"logmel"`` (default) = float32 [n_mels, spec_frames] log-mel;
        ``"recipe"`` = uint8 [224, 224, 3] picture like ffmpeg ``showspectrumpic``.
    sampling: ``"keyframe"`` (default) = for each instant the last *keyframe*
        shown before it (decodes one frame per instant: about 3x faster on
        trailers, frames on average a GOP's half earlier; the clip records the
        times actually taken; an instant whose keyframe the previous instant
        already took gets its exact frame instead); ``"exact"`` (the recipe's,
        ``ClipConfig.recipe()``) = the last frame shown before it.
    frame_codec: how the clip store keeps frames: ``"jpeg"`` (default) or
        ``"webp"`` at ``frame_quality`` (decoded on read), ``"raw"`` uint8
        arrays (the recipe's, bit-exact, the log-mel kept float32).
    frame_quality: 1-100, the lossy codec's quality, or ``"auto"`` (default): a quality
        that depends on the frame size, :data:`AUTO_QUALITY` (small frames need a higher
        quality to keep their embedding: see docs/extract.md). ``quality`` is the one used.
    spectrogram_codec: how records with a lossy frame codec keep the log-mel:
        ``"png"`` (default, record format 3) = quantised to 256 levels over its
        range (0.31 dB steps of the 80 dB scale) and kept as an 8-bit grayscale
        PNG, ~2.5x smaller than ``"float16"`` (gzipped float16, format 2).
    stft_hop: the log-mel STFT's hop as a fraction of its 64 ms window: 0.5
        (default, 32 ms: half the FFTs of 0.25) or 0.25 (16 ms, stores made
        before this field). Not used by the ``recipe`` spectrogram.
    resample_filter_size: the ``filter_size`` of FFmpeg's resampler taking the
        log-mel's audio to ``sample_rate``: 16 (default: ~30 ms less CPU per
        125 s of 48 kHz audio) or 32 (FFmpeg's default; stores made before this
        field). Not used by the ``recipe`` spectrogram.
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
    sampling: str = "keyframe"
    frame_codec: str = "jpeg"
    frame_quality: int | str = "auto"
    spectrogram_codec: str = "png"
    stft_hop: float = 0.5
    resample_filter_size: int = 16

    def __post_init__(self):
        q = self.frame_quality
        if not (q == "auto" or (isinstance(q, int) and not isinstance(q, bool) and 1 <= q <= 100)):
            raise self.invalid("frame_quality", "must be an integer from 1 to 100 or 'auto'")
        if not (isinstance(self.stft_hop, (int, float)) and 0 < self.stft_hop <= 1):
            raise self.invalid("stft_hop", "must be a fraction of the window, > 0 and <= 1")
        if not (isinstance(self.resample_filter_size, int) and 1 <= self.resample_filter_size <= 256):
            raise self.invalid("resample_filter_size", "must be an integer from 1 to 256")
        for name, choices in (("geometry", GEOMETRIES), ("spectrogram", SPECTROGRAMS), ("sampling", SAMPLINGS),
                              ("frame_codec", FRAME_CODECS), ("spectrogram_codec", SPECTROGRAM_CODECS)):
            if getattr(self, name) not in choices:
                raise self.invalid(name, f"is not one of {', '.join(choices)}")
        for name, ok, why in (("num_frames", self.num_frames >= 1, "must be at least 1"),
                              ("interval", self.interval > 0, "must be > 0 seconds"),
                              ("window", self.window > 0, "must be > 0 seconds"),
                              ("start", self.start >= 0, "must be >= 0 seconds"),
                              ("size", self.size >= 8, "must be at least 8 pixels")):
            if not ok:
                raise self.invalid(name, why)

    @classmethod
    def recipe(cls, **overrides) -> "ClipConfig":
        """The published recipe exactly (geometry, exact frames kept raw, spectrogram picture)."""
        return cls(**{"geometry": "recipe", "spectrogram": "recipe", "sampling": "exact", "frame_codec": "raw",
                      **overrides})

    #: what every clip store made before these fields existed (or before their default
    #: changed) had: such stores keep their fingerprint and open without redoing work
    LEGACY_VALUES = {"sampling": "exact", "frame_codec": "raw", "spectrogram_codec": "float16", "stft_hop": 0.25,
                     "resample_filter_size": 32}

    @property
    def quality(self) -> int:
        """The lossy codec's quality for this config's frames (``frame_quality``, or the size-aware one)."""
        if self.frame_quality != "auto":
            return int(self.frame_quality)
        return auto_quality(self.size)

    def fingerprint_resolved(self) -> dict:
        """``frame_quality="auto"`` is fingerprinted as the quality it resolves to: its records are those
        of that quality (the default at 224 px keeps the fingerprint of the q96 stores)."""
        return {"frame_quality": self.quality} if self.frame_quality == "auto" else {}

    def fingerprint_omit(self) -> tuple[str, ...]:
        """Fields that do not shape the records: the quality of a codec that is not lossy, the
        spectrogram codec where the spectrogram is kept as it is (raw records, the recipe's picture),
        the log-mel's fields with the recipe's picture."""
        omit = ("frame_quality", "spectrogram_codec") if self.frame_codec == "raw" else ()
        if self.spectrogram == "recipe":
            omit += ("spectrogram_codec", "stft_hop", "resample_filter_size")
        return tuple(dict.fromkeys(omit))

    def spectrogram_shape(self) -> tuple[int, ...]:
        if self.spectrogram == "recipe":
            return (self.size, self.size, 3)
        return (self.n_mels, self.spec_frames)
