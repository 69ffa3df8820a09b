"""Explanations of a match: why result B was returned for query A.

``explain`` of one result (the JSON field of ``similar`` / ``match-ad``)::

    {"similarity": {"fused": .93, "visual": .91, "audio": .88 | None},
     "shared_genres": ["Drama"], "shared_flags": [],
     "frames": {"query_time": 17.0, "result_time": 41.0, "similarity": .97,
                "query_frame": 1, "result_frame": 3} | None}

The per-modality similarities are dot products of the stored tower embeddings.
The best-matching frame pair comes from the **frame table**, precomputed by the
index stage beside the index (``index/<name>.frames.npz``): for every indexed
item, each sampled frame's backbone feature (from the feature cache) projected
to :data:`FRAME_DIM` dimensions by a fixed seeded random projection and
L2-normalised, with the frame's timestamp. Explaining k results is then k small
``[K, d] @ [d, K]`` products: no decoding, no model at query time.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from reelmatch.errors import StaleArtifactError

log = logging.getLogger(__name__)

#: dimensions of the projected frame features of the frame table
FRAME_DIM = 128
FORMAT_VERSION = 1


def frames_path(index_file: Path) -> Path:
    """The frame table beside an index file: ``default.npz`` -> ``default.frames.npz``."""
    index_file = Path(index_file)
    return index_file.with_name(index_file.stem + ".frames.npz")


def projection(dim_in: int, dim_out: int = FRAME_DIM, seed: int = 0) -> np.ndarray:
    """The fixed random projection float32 [dim_in, dim_out] (identity when dim_in <= dim_out)."""
    if dim_in <= dim_out:
        return np.eye(dim_in, dtype=np.float32)
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((dim_in, dim_out)) / np.sqrt(dim_out)).astype(np.float32)


def project_frames(features: np.ndarray, proj: np.ndarray) -> np.ndarray:
    """float [K, D] backbone features -> float16 [K, d] projected, L2-normalised rows (zero rows stay zero)."""
    x = np.asarray(features, dtype=np.float32) @ proj
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.where(n > 1e-12, x / np.maximum(n, 1e-12), 0.0).astype(np.float16)


class FrameTable:
    """Projected frame features and timestamps of indexed items.

    ids: list[str]; feats float16 [N, K, d]; mask bool [N, K]; times float32 [N, K] (NaN on padding).
    """

    def __init__(self, ids, feats, mask, times, meta: dict):
        self.ids = list(ids)
        self.feats, self.mask, self.times, self.meta = feats, mask, times, meta
        self._pos = {i: r for r, i in enumerate(self.ids)}

    def __contains__(self, item_id) -> bool:
        return item_id in self._pos

    def __len__(self) -> int:
        return len(self.ids)

    def row(self, item_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r = self._pos[item_id]
        return self.feats[r], self.mask[r], self.times[r]


def best_pair(qf: np.ndarray, qmask: np.ndarray, rf: np.ndarray, rmask: np.ndarray) -> tuple[int, int, float] | None:
    """The most similar (query frame, result frame): ``(i, j, cosine)`` among real frames, or None."""
    qi, ri = np.flatnonzero(qmask), np.flatnonzero(rmask)
    if len(qi) == 0 or len(ri) == 0:
        return None
    sims = qf[qi].astype(np.float32) @ rf[ri].astype(np.float32).T
    a, b = np.unravel_index(int(np.argmax(sims)), sims.shape)
    return int(qi[a]), int(ri[b]), float(sims[a, b])


def save_frame_table(table: FrameTable, path: Path) -> None:
    from reelmatch.config import atomic_write_bytes

    import io

    buf = io.BytesIO()
    np.savez(buf, ids=np.array(table.ids, dtype=object).astype(str), feats=table.feats, mask=table.mask,
             times=table.times, meta=np.array(json.dumps(table.meta, sort_keys=True)))
    atomic_write_bytes(path, buf.getvalue())


def load_frame_table(path: Path, *, vectors_fingerprint: str | None = None) -> FrameTable:
    """Read a frame table; ``StaleArtifactError`` when it was made from other vectors than ``vectors_fingerprint``."""
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        if meta.get("format_version") != FORMAT_VERSION:
            raise StaleArtifactError(f"{path.name}: frame table format {meta.get('format_version')}, "
                                     f"this reelmatch reads {FORMAT_VERSION}: run 'reelmatch index'")
        if vectors_fingerprint is not None and meta.get("vectors_fingerprint") != vectors_fingerprint:
            raise StaleArtifactError(f"{path.name} was made from other vectors: run 'reelmatch index'")
        return FrameTable([str(i) for i in z["ids"]], z["feats"], z["mask"], z["times"], meta)


def _feature_cache_dir(ws, clip_fingerprint: str | None) -> Path | None:
    """The newest feature-cache directory made from the clips with ``clip_fingerprint``."""
    best, best_time = None, None
    root = ws.dir("features")
    for side in root.glob("*.json"):
        try:
            doc = json.loads(side.read_text())
        except (OSError, ValueError):
            continue
        d = root / side.stem
        if doc.get("clip_fingerprint") == clip_fingerprint and d.is_dir():
            t = side.stat().st_mtime
            if best_time is None or t > best_time:
                best, best_time = d, t
    return best


def build_frame_table(ws, emb, clip_config=None) -> FrameTable | None:
    """The frame table of the embeddings ``emb`` from the feature cache and the clip records.

    None when there is no feature cache for the clips the embeddings were made from
    (``reelmatch features`` makes it; ``build`` always does). Items without cached
    features get an all-padding row (no frame pair).
    """
    from reelmatch.dataset.store import ClipStore, record_key

    cdir = _feature_cache_dir(ws, emb.clip_fingerprint)
    if cdir is None:
        return None
    try:
        store = ClipStore(ws, clip_config) if clip_config is not None else ClipStore(ws)
    except Exception as e:  # noqa: BLE001 - no clip store: no timestamps, no table
        log.info("frame table: no clip store (%s)", e)
        return None
    if store.config.fingerprint != emb.clip_fingerprint:
        store.close()
        return None
    n, k = len(emb.ids), store.config.num_frames
    feats = mask = times = None
    proj = None
    try:
        for r, item_id in enumerate(emb.ids):
            p = cdir / f"{record_key(item_id)}.npz"
            if not p.exists() or item_id not in store:
                continue
            with np.load(p, allow_pickle=False) as z:
                f, m = z["features"], z["mask"]
            if proj is None:
                proj = projection(f.shape[1])
                d = proj.shape[1]
                feats = np.zeros((n, k, d), np.float16)
                mask = np.zeros((n, k), bool)
                times = np.full((n, k), np.nan, np.float32)
            clip = store.get(item_id)
            feats[r, : len(f)] = project_frames(f, proj)
            mask[r, : len(m)] = m
            times[r, : len(clip.timestamps)] = clip.timestamps
    finally:
        store.close()
    if feats is None:
        return None
    meta = {"format_version": FORMAT_VERSION, "vectors_fingerprint": emb.vectors_fingerprint,
            "features": cdir.name, "dim": int(feats.shape[2]), "projection_seed": 0}
    return FrameTable(emb.ids, feats, mask, times, meta)


def update_frame_table(ws, emb, index_file: Path) -> int:
    """Write the frame table beside ``index_file`` unless it is up to date; returns the rows written."""
    path = frames_path(index_file)
    cdir = _feature_cache_dir(ws, emb.clip_fingerprint)
    if path.exists():
        try:
            old = load_frame_table(path, vectors_fingerprint=emb.vectors_fingerprint)
            if cdir is not None and old.meta.get("features") == cdir.name:
                return 0
        except Exception:  # noqa: BLE001 - stale or unreadable: rebuilt below
            pass
    table = build_frame_table(ws, emb)
    if table is None:
        path.unlink(missing_ok=True)
        return 0
    save_frame_table(table, path)
    log.info("index: frame table of %d items (%d-d frame features from %s)", len(table), table.meta["dim"],
             table.meta["features"])
    return len(table)


def explain(target, item, emb, row: int, frames: FrameTable | None, query_frames=None) -> dict:
    """The ``explain`` document of result ``item`` (embedding row ``row``) for ``target``.

    ``query_frames``: ``(feats, mask, times)`` of the query when it is not in ``frames``.
    """
    visual = float(target.visual @ emb.visual[row])
    audio = float(target.audio @ emb.audio[row]) if target.has_audio and emb.has_audio[row] else None
    qgen = {g.lower() for g in target.genres}
    qflags = {f.lower() for f in getattr(target, "flags", ())}
    doc = {
        "similarity": {"fused": round(float(target.fused @ emb.vectors[row]), 6), "visual": round(visual, 6),
                       "audio": None if audio is None else round(audio, 6)},
        "shared_genres": [g for g in item.genres if g.lower() in qgen],
        "shared_flags": [f for f in getattr(item, "flags", ()) if f.lower() in qflags],
        "frames": None,
    }
    q = query_frames
    if q is None and frames is not None and target.item_id in frames:
        q = frames.row(target.item_id)
    if q is not None and frames is not None and item.id in frames:
        rf, rm, rt = frames.row(item.id)
        got = best_pair(q[0], q[1], rf, rm)
        if got is not None:
            i, j, s = got
            doc["frames"] = {"query_frame": i, "result_frame": j, "query_time": _sec(q[2][i]),
                             "result_time": _sec(rt[j]), "similarity": round(s, 6)}
    return doc


def _sec(t) -> float | None:
    t = float(t)
    return None if not np.isfinite(t) else round(t, 3)
