"""Extraction: frames + spectrogram sampled from media into clip records.

``extract_clip(path, config)`` makes one :class:`~reelmatch.dataset.clip.Clip`
(pure, no workspace); ``run_extract(ws, config)`` runs the stage over a
workspace into its :class:`~reelmatch.dataset.store.ClipStore`. See docs/extract.md.
"""

from reelmatch.extract.config import ClipConfig

__all__ = ["ClipConfig", "extract_clip", "run_extract"]


def __getattr__(name):  # lazy: PyAV and the engine load only when these are used
    if name == "extract_clip":
        from reelmatch.extract.clip import extract_clip

        return extract_clip
    if name == "run_extract":
        from reelmatch.extract.run import run_extract

        return run_extract
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
