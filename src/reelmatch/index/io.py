"""Build, save and load indexes.

An index is ONE ``.npz`` file (no pickle) written atomically: the backend's
payload (``faiss.serialize_index`` bytes, or the Annoy forest plus its vectors),
the ids, the live mask (tombstones) and a JSON ``meta`` string; plus a
``<file>.json`` sidecar (config, fingerprints, count, versions) for people and
tools. Loading trusts the metadata inside the file, so a crash between the two
writes cannot pair an index with another index's metadata.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from reelmatch.config import atomic_write_bytes, to_jsonable, write_sidecar
from reelmatch.errors import InputError, NotFoundError, StaleArtifactError
from reelmatch.index.backends import backend_class
from reelmatch.index.base import Index, check_vectors
from reelmatch.index.config import IndexConfig

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


def build_index(vectors, ids: Sequence[str], config: IndexConfig | None = None, **meta) -> Index:
    """An index over ``vectors`` float32 [N, d] (L2-normalised) keyed by ``ids`` (N strings).

    The structure follows ``config`` (exact ``IndexFlatIP`` below
    ``config.exact_below`` items, HNSW above, or Annoy). Keyword ``meta``
    (``vectors_fingerprint``, ``model_fingerprint``...) is kept and saved.
    """
    config = config or IndexConfig()
    v = check_vectors(vectors)
    if len(ids) != v.shape[0]:
        raise InputError(f"{len(ids)} ids for {v.shape[0]} vectors")
    cls = backend_class(config.backend)
    index = cls(v.shape[1], config, meta, structure=config.structure_for(v.shape[0]))
    index.add(v, list(ids))
    log.info("built %r", index)
    return index


def index_meta(index: Index) -> dict:
    return {
        "format": FORMAT_VERSION,
        "backend": index.backend,
        "structure": index.structure,
        "dim": index.dim,
        "count": len(index),
        **index.meta,
    }


def save_index(index: Index, path: str | Path) -> dict:
    """Write ``index`` to ``path`` (atomically) and its sidecar; returns the metadata.

    Compacts first when removed entries exceed ``config.compact_above``.
    """
    path = Path(path)
    if index.num_tombstones and index.num_tombstones > index.config.compact_above * max(len(index._ids), 1):
        index.compact()
    meta = index_meta(index)
    doc = {**meta, "config": to_jsonable(index.config)}
    arrays = {f"payload_{k}": v for k, v in index._payload().items()}
    buf = io.BytesIO()
    np.savez(
        buf,
        ids=np.array(index._ids, dtype=np.str_) if index._ids else np.zeros(0, dtype="<U1"),
        alive=index._alive,
        meta=np.array(json.dumps(doc)),
        **arrays,
    )
    atomic_write_bytes(path, buf.getvalue())
    write_sidecar(path, index.config, **meta)
    return meta


def load_index(
    path: str | Path,
    *,
    vectors_fingerprint: str | None = None,
    model_fingerprint: str | None = None,
) -> Index:
    """Load an index saved by :func:`save_index`.

    When ``vectors_fingerprint`` / ``model_fingerprint`` are given, an index made
    from other vectors (older embeddings, another model) raises
    ``StaleArtifactError`` instead of answering with outdated neighbours.
    """
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"no index at {path}: run 'reelmatch index'")
    try:
        with np.load(path, allow_pickle=False) as z:
            doc = json.loads(str(z["meta"]))
            ids = [str(i) for i in z["ids"]]
            alive = z["alive"].astype(bool)
            payload = {k[len("payload_"):]: z[k] for k in z.files if k.startswith("payload_")}
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"{path} is not a reelmatch index ({e})") from e
    if doc.get("format") != FORMAT_VERSION:
        raise StaleArtifactError(f"{path} has index format {doc.get('format')}, this reelmatch reads {FORMAT_VERSION}: run 'reelmatch index --rebuild'")
    for name, want in (("vectors_fingerprint", vectors_fingerprint), ("model_fingerprint", model_fingerprint)):
        if want is not None and doc.get(name) != want:
            raise StaleArtifactError(
                f"index {path.name} is older than the embeddings ({name.split('_')[0]} {doc.get(name)} != {want}):"
                " run 'reelmatch index'"
            )
    config = IndexConfig(**doc["config"])
    meta = {k: v for k, v in doc.items() if k not in ("format", "backend", "structure", "dim", "count", "config")}
    index = backend_class(doc["backend"])(int(doc["dim"]), config, meta, structure=doc["structure"])
    index._load_payload(payload, doc["structure"])
    index._ids = ids
    index._alive = alive
    index._pos = {ids[i]: int(i) for i in np.flatnonzero(alive)}
    return index
