"""Copy descriptors on disk under ``<workspace>/dedupe/<fingerprint>/``.

```
dedupe/<fp>/items/<item id>.npz        descriptors float32 [T, D], times float32 [T], audio uint32 [n]
                                       (Chromaprint sub-fingerprints; empty without sound)
dedupe/<fp>/items/<item id>.npz.json   sidecar (config, source file, frame count)
dedupe/<fp>/frames.faiss (+ .json)     FAISS inner-product index over all frames
dedupe/<fp>/frames_owner.npy           int64 [N]: row of the item owning each frame
```

One directory per config fingerprint: descriptors of another config are never
mixed in.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np

from reelmatch.config import atomic_write_bytes, read_sidecar, write_sidecar
from reelmatch.dedupe.config import DedupeConfig


def _safe_name(item_id: str) -> str:
    if item_id.replace("-", "").replace("_", "").replace(".", "").isalnum() and not item_id.startswith("."):
        return item_id
    return "h-" + hashlib.sha256(item_id.encode()).hexdigest()[:24]


#: above this many frames the candidate index is approximate (IVF, 8-bit scalar quantised):
#: exact search over all frames is quadratic in the catalogue size
IVF_MIN_FRAMES = 100_000
IVF_NPROBE = 16


def frame_index(frames: np.ndarray, dim: int):
    """A FAISS inner-product index over frames float32 [N, D]: exact (flat) below
    ``IVF_MIN_FRAMES``, else ``IVF{4 sqrt N},SQ8`` probed ``IVF_NPROBE`` lists
    (search cost ~ N^1.5 instead of N^2; recall measured in docs/dedupe.md)."""
    import faiss

    x = np.ascontiguousarray(frames, dtype=np.float32)
    if len(x) < IVF_MIN_FRAMES:
        index = faiss.IndexFlatIP(dim)
    else:
        nlist = int(4 * np.sqrt(len(x)))
        index = faiss.index_factory(dim, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)
        index.train(x[rng.choice(len(x), size=min(len(x), 64 * nlist), replace=False)])
        index.nprobe = IVF_NPROBE
    if len(x):
        index.add(x)
    return index


class DescriptorStore:
    def __init__(self, ws, config: DedupeConfig):
        self.config = config
        self.root = ws.dir("dedupe") / config.fingerprint
        self.items_dir = self.root / "items"
        self.items_dir.mkdir(parents=True, exist_ok=True)

    def path(self, item_id: str) -> Path:
        return self.items_dir / f"{_safe_name(item_id)}.npz"

    def put(self, item_id: str, desc: np.ndarray, times: np.ndarray, *, source: str, audio: np.ndarray | None = None) -> None:
        buf = io.BytesIO()
        audio = np.zeros(0, np.uint32) if audio is None else np.asarray(audio, np.uint32)
        np.savez(buf, desc=desc.astype(np.float32), times=times.astype(np.float32), audio=audio)
        p = self.path(item_id)
        atomic_write_bytes(p, buf.getvalue())
        write_sidecar(p, self.config, item_id=item_id, source=source, frames=int(len(desc)))

    def get(self, item_id: str) -> np.ndarray | None:
        p = self.path(item_id)
        if not p.exists():
            return None
        with np.load(p) as z:
            return z["desc"]

    def times(self, item_id: str) -> np.ndarray | None:
        """Frame times float32 [T] (seconds) of ``item_id``'s descriptor, or None."""
        p = self.path(item_id)
        if not p.exists():
            return None
        with np.load(p) as z:
            return z["times"]

    def audio(self, item_id: str) -> np.ndarray | None:
        """The item's Chromaprint sub-fingerprints uint32 [n] (empty: no sound), or None."""
        p = self.path(item_id)
        if not p.exists():
            return None
        with np.load(p) as z:
            return z["audio"] if "audio" in z.files else None

    def load_all(self, ids: list[str]) -> dict[str, np.ndarray]:
        out = {}
        for i in ids:
            d = self.get(i)
            if d is not None and len(d):
                out[i] = d
        return out

    # ------------------------------------------------------------- the index
    def index(self, descs: dict[str, np.ndarray]):
        """``(faiss index, owner int64 [N], ids list)`` over all frames; cached on disk."""
        import faiss

        ids = sorted(descs)
        key = hashlib.sha256(json.dumps([(i, int(len(descs[i]))) for i in ids]).encode()).hexdigest()[:16]
        ipath = self.root / "frames.faiss"
        opath = self.root / "frames_owner.npy"
        meta = read_sidecar(ipath)
        if meta and meta.get("content_key") == key and ipath.exists() and opath.exists():
            index = faiss.read_index(str(ipath))
            if hasattr(index, "nprobe"):
                faiss.extract_index_ivf(index).nprobe = IVF_NPROBE
            return index, np.load(opath), ids
        dim = next(iter(descs.values())).shape[1] if descs else 1
        owner = np.concatenate([np.full(len(descs[i]), n, np.int64) for n, i in enumerate(ids)]) if ids else np.zeros(0, np.int64)
        index = frame_index(np.concatenate([descs[i] for i in ids]) if ids else np.zeros((0, dim), np.float32), dim)
        atomic_write_bytes(ipath, faiss.serialize_index(index).tobytes())
        buf = io.BytesIO()
        np.save(buf, owner)
        atomic_write_bytes(opath, buf.getvalue())
        write_sidecar(ipath, self.config, content_key=key, items=len(ids), frames=int(len(owner)), ids=ids)
        return index, owner, ids
