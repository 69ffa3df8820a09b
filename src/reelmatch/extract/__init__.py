"""Extraction: frames + spectrogram sampled from media into clip records.

``extract_clip(path, config)`` makes one :class:`~reelmatch.dataset.clip.Clip`
(pure, no workspace); ``run_extract(ws, config)`` runs the stage over a
workspace into its :class:`~reelmatch.dataset.store.ClipStore`. See docs/extract.md.
"""

from reelmatch.extract.config import ClipConfig


def extract_clip(
    path,
    config: ClipConfig = ClipConfig(),
    *,
    item_id: str = "",
    title: str | None = None,
    threads: int | None = None,
    decoder_threads: int | None = None,
):
    """See :func:`reelmatch.extract.clip.extract_clip` (imported lazily: PyAV is heavy)."""
    from reelmatch.extract.clip import extract_clip as _extract_clip

    return _extract_clip(path, config, item_id=item_id, title=title, threads=threads, decoder_threads=decoder_threads)


def run_extract(ws, config: ClipConfig = ClipConfig(), **kwargs) -> dict:
    """See :func:`reelmatch.extract.run.run_extract`."""
    from reelmatch.extract.run import run_extract as _run_extract

    return _run_extract(ws, config, **kwargs)


__all__ = ["ClipConfig", "extract_clip", "run_extract"]
