"""Embeddings: vectors for every clip, from the trained model or, before any
training, from the pretrained backbone alone.

>>> path = run_embed(ws, EmbedConfig())        # <ws>/embeddings/default.npz
>>> emb = load_embeddings(ws)                  # ids, vectors [N, E], visual, audio, meta
"""

from reelmatch.embed.config import EmbedConfig
from reelmatch.embed.vectors import Embeddings, embeddings_path, load_embeddings, read_embeddings


def run_embed(ws, config: EmbedConfig = EmbedConfig(), **kwargs):
    """See :func:`reelmatch.embed.run.run_embed` (imported lazily: torch is heavy)."""
    from reelmatch.embed.run import run_embed as _run_embed

    return _run_embed(ws, config, **kwargs)


__all__ = ["EmbedConfig", "Embeddings", "embeddings_path", "load_embeddings", "read_embeddings", "run_embed"]
