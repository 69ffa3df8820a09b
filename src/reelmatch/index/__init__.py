"""Nearest-neighbour index over embeddings: FAISS by default, Annoy optional.

>>> index = build_index(vectors, ids)                    # float32 [N, d], N strings
>>> ids, scores = index.search(queries, k=10)            # object [n, 10], float32 [n, 10]
>>> index.add(new_vectors, new_ids); index.remove(["x"])  # no rebuild (FAISS)
>>> save_index(index, path); index = load_index(path, vectors_fingerprint=fp)

The workspace stage (``reelmatch index``) is :func:`reelmatch.index.stage.run_index`.
"""

from reelmatch.index.base import Index, check_vectors
from reelmatch.index.config import IndexConfig
from reelmatch.index.io import build_index, load_index, save_index

__all__ = ["Index", "IndexConfig", "build_index", "check_vectors", "index_path", "load_index", "run_index", "save_index"]


def run_index(ws, config: IndexConfig = IndexConfig(), **kwargs):
    """See :func:`reelmatch.index.stage.run_index`."""
    from reelmatch.index.stage import run_index as _run_index

    return _run_index(ws, config, **kwargs)


def index_path(ws, name: str = "default"):
    from reelmatch.index.stage import index_path as _index_path

    return _index_path(ws, name)
