"""The embeddings file: vectors of every clip, their ids and provenance.

``<ws>/embeddings/<name>.npz`` (no pickle) holds ``ids`` [N] str, ``vectors``
float32 [N, E] (fused, L2-normalised), per-tower ``visual`` float32 [N, Ev] and
``audio`` float32 [N, Ea] (each L2-normalised; zeros where the clip has no
audio), ``has_audio`` bool [N] and a JSON ``meta``; ``<name>.npz.json`` is the
sidecar. ``meta`` records the model fingerprint, the clip config fingerprint,
the mode (``"model"`` or ``"backbone"``: pretrained backbone alone, before any
training) and ``vectors_fingerprint``, a hash of ids and vectors that the index
records so an index older than the vectors is refused.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reelmatch.config import atomic_write_bytes, write_sidecar
from reelmatch.errors import InputError, NotFoundError

FORMAT_VERSION = 1


def embeddings_path(ws, name: str = "default") -> Path:
    return ws.dir("embeddings") / f"{name}.npz"


def vectors_fingerprint(ids, vectors: np.ndarray) -> str:
    """Hash of ids and vectors (16 hex): equal iff the same ids map to the same bytes."""
    h = hashlib.sha256()
    h.update("\n".join(ids).encode())
    h.update(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
    return h.hexdigest()[:16]


@dataclass
class Embeddings:
    """Vectors of a set of clips (rows aligned with ``ids``)."""

    ids: list[str]
    vectors: np.ndarray  # float32 [N, E]
    visual: np.ndarray  # float32 [N, Ev]
    audio: np.ndarray  # float32 [N, Ea]
    has_audio: np.ndarray  # bool [N]
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.ids)
        for name in ("vectors", "visual", "audio"):
            a = getattr(self, name)
            if a.ndim != 2 or a.shape[0] != n:
                raise ValueError(f"{name} must be [{n}, d], got {a.shape}")
        if self.has_audio.shape != (n,):
            raise ValueError(f"has_audio must be [{n}], got {self.has_audio.shape}")
        self._row = {i: r for r, i in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, item_id) -> bool:
        return item_id in self._row

    def row(self, item_id: str) -> int:
        if item_id not in self._row:
            raise NotFoundError(f"item {item_id!r} has no embedding: run 'reelmatch extract' and 'reelmatch embed'")
        return self._row[item_id]

    @property
    def model_fingerprint(self) -> str | None:
        return self.meta.get("model_fingerprint")

    @property
    def clip_fingerprint(self) -> str | None:
        return self.meta.get("clip_fingerprint")

    @property
    def vectors_fingerprint(self) -> str:
        return vectors_fingerprint(self.ids, self.vectors)

    @classmethod
    def empty(cls, dims: tuple[int, int, int] = (0, 0, 0), meta: dict | None = None) -> "Embeddings":
        e, v, a = dims
        z = lambda d: np.zeros((0, d), dtype=np.float32)  # noqa: E731
        return cls([], z(e), z(v), z(a), np.zeros(0, dtype=bool), dict(meta or {}))

    def subset(self, ids: list[str]) -> "Embeddings":
        rows = np.array([self._row[i] for i in ids], dtype=np.int64)
        return Embeddings(list(ids), self.vectors[rows], self.visual[rows], self.audio[rows], self.has_audio[rows], dict(self.meta))

    def concat(self, other: "Embeddings") -> "Embeddings":
        """Rows of ``self`` not in ``other``, then ``other`` (``other`` wins for shared ids)."""
        keep = [i for i in self.ids if i not in other]
        a = self.subset(keep)
        return Embeddings(
            a.ids + other.ids,
            np.concatenate([a.vectors, other.vectors]) if len(a) else other.vectors,
            np.concatenate([a.visual, other.visual]) if len(a) else other.visual,
            np.concatenate([a.audio, other.audio]) if len(a) else other.audio,
            np.concatenate([a.has_audio, other.has_audio]),
            dict(self.meta),
        )


def save_embeddings(emb: Embeddings, path: Path, config) -> dict:
    """Write ``emb`` atomically plus its sidecar; returns the metadata written."""
    meta = {**emb.meta, "format": FORMAT_VERSION, "count": len(emb), "dim": int(emb.vectors.shape[1]),
            "vectors_fingerprint": emb.vectors_fingerprint}
    buf = io.BytesIO()
    np.savez(
        buf,
        ids=np.array(emb.ids, dtype=np.str_) if emb.ids else np.zeros(0, dtype="<U1"),
        vectors=emb.vectors, visual=emb.visual, audio=emb.audio, has_audio=emb.has_audio,
        meta=np.array(json.dumps(meta)),
    )
    atomic_write_bytes(path, buf.getvalue())
    write_sidecar(path, config, **meta)
    emb.meta = meta
    return meta


def read_embeddings(path: Path, *, mmap: bool = False) -> Embeddings:
    """Load an embeddings file (``NotFoundError`` if absent, ``InputError`` if unreadable).

    ``mmap=True`` maps the arrays read-only instead of reading them (processes
    sharing the file share one copy; the server does this).
    """
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"no embeddings at {path}: run 'reelmatch embed'")
    try:
        if mmap:
            import zipfile

            from reelmatch.npzmap import load_npz

            try:
                z = load_npz(path, mmap=True)
            except zipfile.BadZipFile as e:
                raise ValueError(str(e)) from e
            return _embeddings(z)
        with np.load(path, allow_pickle=False) as z:
            return _embeddings(z)
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"{path} is not a reelmatch embeddings file ({e})") from e


def _embeddings(z) -> Embeddings:
    def f32(a):  # a float32 (mapped) array is kept as it is, not copied
        return np.asarray(a) if a.dtype == np.float32 else np.asarray(a, dtype=np.float32)

    return Embeddings([str(i) for i in z["ids"].tolist()], f32(z["vectors"]), f32(z["visual"]), f32(z["audio"]),
                      np.asarray(z["has_audio"], dtype=bool), json.loads(str(z["meta"])))


def load_embeddings(ws, name: str = "default", *, mmap: bool = False) -> Embeddings:
    """The embeddings ``name`` of workspace ``ws`` (``mmap``: see :func:`read_embeddings`)."""
    return read_embeddings(embeddings_path(ws, name), mmap=mmap)
