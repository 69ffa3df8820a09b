"""The embeddings file: vectors of every clip, their ids and provenance.

``<ws>/embeddings/<name>.npz`` (no pickle) holds ``ids`` [N] str, ``vectors``
float32 [N, E] (fused, L2-normalised), per-tower ``visual`` float32 [N, Ev] and
``audio`` float32 [N, Ea] (each L2-normalised; zeros where the clip has no
audio), ``has_audio`` bool [N] and a JSON ``meta``; since format 2 also ``text`` float32
[N, Et] (the text tower; Et = 0 for models without text, zeros where there is no plot),
``has_text`` bool [N] and ``has_visual`` bool [N] (False for a plot-only title, embedded by
its text alone; format 1 files read as all True, no text); ``<name>.npz.json`` is the
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

FORMAT_VERSION = 2


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
    text: np.ndarray | None = None  # float32 [N, Et] (None: [N, 0], a model without text)
    has_text: np.ndarray | None = None  # bool [N] (None: all False)
    has_visual: np.ndarray | None = None  # bool [N] (None: all True)

    def __post_init__(self):
        n = len(self.ids)
        if self.text is None:
            self.text = np.zeros((n, 0), dtype=np.float32)
        if self.has_text is None:
            self.has_text = np.zeros(n, dtype=bool)
        if self.has_visual is None:
            self.has_visual = np.ones(n, dtype=bool)
        for name in ("has_text", "has_visual"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must be [{n}], got {getattr(self, name).shape}")
        for name in ("vectors", "visual", "audio", "text"):
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

    def modalities(self, row: int) -> list[str]:
        """The modalities row ``row``'s vector was made from, in registry order."""
        return [m for m, has in (("visual", self.has_visual[row]), ("audio", self.has_audio[row]),
                                 ("text", self.has_text[row])) if has]

    def subset(self, ids: list[str]) -> "Embeddings":
        rows = np.array([self._row[i] for i in ids], dtype=np.int64)
        return Embeddings(list(ids), self.vectors[rows], self.visual[rows], self.audio[rows], self.has_audio[rows],
                          dict(self.meta), self.text[rows], self.has_text[rows], self.has_visual[rows])

    def concat(self, other: "Embeddings") -> "Embeddings":
        """Rows of ``self`` not in ``other``, then ``other`` (``other`` wins for shared ids)."""
        keep = [i for i in self.ids if i not in other]
        a = self.subset(keep)
        cat = lambda x, y: np.concatenate([x, y]) if len(a) else y  # noqa: E731
        return Embeddings(
            a.ids + other.ids, cat(a.vectors, other.vectors), cat(a.visual, other.visual), cat(a.audio, other.audio),
            np.concatenate([a.has_audio, other.has_audio]), dict(self.meta), cat(a.text, other.text),
            np.concatenate([a.has_text, other.has_text]), np.concatenate([a.has_visual, other.has_visual]),
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
        text=emb.text, has_text=emb.has_text, has_visual=emb.has_visual, meta=np.array(json.dumps(meta)),
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

    names = set(z.files) if hasattr(z, "files") else set(z)
    extra = {}
    if "text" in names:  # format 2
        extra = {"text": f32(z["text"]), "has_text": np.asarray(z["has_text"], dtype=bool),
                 "has_visual": np.asarray(z["has_visual"], dtype=bool)}
    return Embeddings([str(i) for i in z["ids"].tolist()], f32(z["vectors"]), f32(z["visual"]), f32(z["audio"]),
                      np.asarray(z["has_audio"], dtype=bool), json.loads(str(z["meta"])), **extra)


def load_embeddings(ws, name: str = "default", *, mmap: bool = False) -> Embeddings:
    """The embeddings ``name`` of workspace ``ws`` (``mmap``: see :func:`read_embeddings`)."""
    return read_embeddings(embeddings_path(ws, name), mmap=mmap)
