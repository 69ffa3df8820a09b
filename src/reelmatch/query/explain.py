"""Explanations of a match: why result B was returned for query A.

``explain`` of one result (the JSON field of ``similar`` / ``match-ad``)::

    {"similarity": {"fused": .93, "visual": .91, "audio": .88 | None},
     "shared_genres": ["Drama"], "shared_flags": [],
     "frames": {"query_time": 17.0, "result_time": 41.0, "similarity": .97,
                "query_frame": 1, "result_frame": 3} | None}

The per-modality similarities are those ``similar`` computes for every result's
``scores`` anyway (one matrix-vector product per tower), rounded to 6 decimals.
The best-matching frame pair comes from the **frame table**, precomputed by the
index stage beside the index (``index/<name>.frames.npz``): for every indexed
item, each sampled frame's backbone feature (from the feature cache) projected
to :data:`FRAME_DIM` dimensions by a fixed seeded random projection and
L2-normalised, with the frame's timestamp; and, for each item's neighbour-table
row, the best pair (:func:`precompute_pairs`; its per-tower similarities
``pair_vas`` are still written but no longer read). A result in the query's
neighbour-table row is explained by lookups (its position in the row comes with
it from the table, else it is found by id); other results by one batched
``[n, K, d] @ [d, K]`` product. No decoding and no model at query time, except
for a query file's own frames (one backbone pass).
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
#: frame tables up to this many values are also kept as float32 in memory (256 MB; faster products)
FLOAT32_MAX = 64_000_000
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

    def __init__(self, ids, feats, mask, times, meta: dict, pairs: dict | None = None):
        self.ids = list(ids)
        self.feats, self.mask, self.times, self.meta = feats, mask, times, meta
        #: precomputed best pairs of each item with its neighbour-table neighbours (see :func:`precompute_pairs`):
        #: ``nb`` int32 [N, Kt] frame-table rows (-1 none), ``q``/``r`` int8 [N, Kt] frame indices, ``s`` float32
        self.pairs = pairs
        self._pos = {i: r for r, i in enumerate(self.ids)}
        self._f32 = None
        self._aligned = None  # the embeddings whose ids are this table's, in order (rows_of)
        self._lookup = None  # (pairs, rounded similarities, result times): pair_lookup
        self.times64 = np.round(np.asarray(times, np.float64), 3)  # as the JSON shows them

    def __contains__(self, item_id) -> bool:
        return item_id in self._pos

    def __len__(self) -> int:
        return len(self.ids)

    def row(self, item_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r = self._pos[item_id]
        return self.feats[r], self.mask[r], self.times[r]

    def rows_of(self, emb, items, emb_rows: np.ndarray) -> np.ndarray:
        """int64 [n] frame-table rows of ``items`` (rows ``emb_rows`` of the embeddings ``emb``), -1 where absent:
        the embedding rows themselves when the table was made from ``emb`` (checked once per embeddings)."""
        if self._aligned is not emb:
            if self.ids != list(emb.ids):
                pos = self._pos
                return np.array([pos.get(it.id, -1) for it in items], dtype=np.int64)
            self._aligned = emb
        return np.asarray(emb_rows, dtype=np.int64)

    def pair_lookup(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The precomputed pairs as the JSON shows them, made once from ``pairs`` (None without pairs):
        similarity float64 [N, Kt] rounded to 6 decimals (-inf: no pair) and the result frame's time
        float64 [N, Kt] rounded to ms (NaN: none), so a lookup needs no rounding nor gather per result."""
        pairs = self.pairs
        if not pairs:
            return None
        cached = self._lookup
        if cached is None or cached[0] is not pairs:
            nb, r = pairs["nb"], pairs["r"].astype(np.int64)
            s = np.round(pairs["s"].astype(np.float64), 6)
            rt = np.where(nb >= 0, self.times64[np.maximum(nb, 0), r], np.nan)
            cached = self._lookup = (pairs, s, rt)
        return cached[1], cached[2]

    def feats32(self, rows: np.ndarray) -> np.ndarray:
        """float32 [n, K, d] of ``rows`` (a float32 copy of the table is kept when it is small)."""
        if self._f32 is None and self.feats.size <= FLOAT32_MAX:
            self._f32 = self.feats.astype(np.float32)
        return self._f32[rows] if self._f32 is not None else self.feats[rows].astype(np.float32)


def save_frame_table(table: FrameTable, path: Path) -> None:
    from reelmatch.config import atomic_write_bytes

    import io

    buf = io.BytesIO()
    extra = {f"pair_{k}": v for k, v in (table.pairs or {}).items()}
    np.savez(buf, ids=np.array(table.ids, dtype=object).astype(str), feats=table.feats, mask=table.mask,
             times=table.times, meta=np.array(json.dumps(table.meta, sort_keys=True)), **extra)
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
        # ``pair_vas`` (per-tower similarities per slot) is not read: queries reuse the similarities ``similar``
        # computes for its results anyway (it would be 1.2 KB per item in memory)
        pairs = {k: z[f"pair_{k}"] for k in ("nb", "q", "r", "s") if f"pair_{k}" in z.files} \
            if "pair_nb" in z.files else None
        return FrameTable([str(i) for i in z["ids"]], z["feats"], z["mask"], z["times"], meta, pairs)


def frame_backbone(ws, table: FrameTable):
    """The backbone that made the frame table's features (from its feature cache's sidecar), or None."""
    from reelmatch.config import read_sidecar
    from reelmatch.train.features import FeaturesConfig, _make_backbone

    side = read_sidecar(ws.dir("features") / table.meta.get("features", ""))
    if side is None or side.get("config_type") != "FeaturesConfig":
        return None
    return _make_backbone(FeaturesConfig.from_dict(side["config"]))


def _feature_cache_dir(ws, clip_fingerprint: str | None) -> Path | None:
    """The newest feature-cache directory made from the clips with ``clip_fingerprint``."""
    from reelmatch.config import newest_artifact_dir

    return newest_artifact_dir(ws.dir("features"), clip_fingerprint=clip_fingerprint)


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


def precompute_pairs(table: FrameTable, neighbours, emb=None, chunk: int = 64) -> dict:
    """The best frame pair of every item with each of its neighbour-table neighbours (an index-time cost:
    ``similar`` answered from the neighbour table then explains its frame pairs by lookups).

    ``neighbours``: a :class:`~reelmatch.index.neighbours.NeighbourTable`; ``emb``: the embeddings (the
    table's ids in their order), whose per-modality similarities are then precomputed too (``v``, ``a``:
    ``vas`` float64 [N, Kt, 3] with the pair's similarity, rounded to 6 decimals; NaN where either side
    has no audio). Returns the ``pairs`` arrays.
    """
    n, k = len(table.ids), table.feats.shape[1]
    kt = neighbours.k
    pos = table._pos
    nb_row = np.array([pos.get(str(i), -1) for i in neighbours.ids], dtype=np.int64)
    nb = np.full((n, kt), -1, np.int32)
    for t_row, item_id in enumerate(neighbours.ids):
        r = pos.get(str(item_id))
        if r is not None:
            cols = neighbours.neighbours[t_row]
            nb[r] = np.where(cols >= 0, nb_row[np.maximum(cols, 0)], -1)
    q_idx = np.zeros((n, kt), np.int8)
    r_idx = np.zeros((n, kt), np.int8)
    sim = np.full((n, kt), -np.inf, np.float32)
    full = table.mask.all(axis=1)
    for s0 in range(0, n, chunk):
        rows = np.arange(s0, min(n, s0 + chunk))
        p = nb[rows]  # [B, Kt]
        qf = table.feats32(rows)  # [B, K, d]
        rf = table.feats32(np.maximum(p, 0).reshape(-1)).reshape(len(rows), kt * k, -1)  # [B, Kt*K, d]
        sims = rf @ np.ascontiguousarray(qf.transpose(0, 2, 1))  # [B, Kt*K result frames, K query frames]
        if not (full[rows].all() and (p >= 0).all() and full[p].all()):  # padded frames, short rows
            ok = table.mask[np.maximum(p, 0)].reshape(len(rows), kt * k)[:, :, None] & table.mask[rows][:, None, :]
            ok &= np.repeat(p >= 0, k, axis=1)[:, :, None]
            sims[~ok] = -np.inf
        sims = sims.reshape(len(rows), kt, k * k)
        best = sims.argmax(axis=2)
        sim[rows] = np.take_along_axis(sims, best[:, :, None], axis=2)[:, :, 0]
        rj, qi = np.divmod(best, k)
        r_idx[rows], q_idx[rows] = rj, qi
    out = {"nb": nb, "q": q_idx, "r": r_idx, "s": sim}
    if emb is not None and list(emb.ids) == table.ids:
        safe = np.maximum(nb, 0)
        v = np.einsum("nd,nkd->nk", emb.visual, emb.visual[safe])
        a = np.einsum("nd,nkd->nk", emb.audio, emb.audio[safe])
        ha = emb.has_audio[:, None] & emb.has_audio[safe]
        # visual, audio, frame-pair similarity per slot, rounded as the JSON shows them (float64: lookups
        # need no rounding at query time, which would cost more than the rest of an explanation)
        out["vas"] = np.round(np.stack([np.where(nb >= 0, v, np.nan), np.where((nb >= 0) & ha, a, np.nan),
                                        sim.astype(np.float64)], axis=2), 6)
    return out


def update_frame_table(ws, emb, index_file: Path) -> int:
    """Write the frame table beside ``index_file`` unless it is up to date; returns the rows written."""
    from reelmatch.index.neighbours import load_table, neighbours_path

    path = frames_path(index_file)
    cdir = _feature_cache_dir(ws, emb.clip_fingerprint)
    npath = neighbours_path(index_file)
    nb = None
    if npath.exists():
        try:
            nb = load_table(npath, vectors_fingerprint=emb.vectors_fingerprint, mmap=False)
        except Exception as e:  # noqa: BLE001 - no usable table: no precomputed pairs
            log.info("frame table: no neighbour table to precompute pairs with (%s)", e)
    nb_k = nb.k if nb is not None else 0
    if path.exists():
        try:
            old = load_frame_table(path, vectors_fingerprint=emb.vectors_fingerprint)
            if cdir is not None and old.meta.get("features") == cdir.name and old.meta.get("pairs_k", 0) == nb_k:
                return 0
        except Exception:  # noqa: BLE001 - stale or unreadable: rebuilt below
            pass
    table = build_frame_table(ws, emb)
    if table is None:
        path.unlink(missing_ok=True)
        return 0
    if nb is not None:
        table.pairs = precompute_pairs(table, nb, emb)
        table.meta["pairs_k"] = nb_k
    save_frame_table(table, path)
    log.info("index: frame table of %d items (%d-d frame features from %s)", len(table), table.meta["dim"],
             table.meta["features"])
    return len(table)


def explain_many(target, items, emb, rows, frames: FrameTable | None, query_frames=None, scores=None, *,
                 sims: dict | None = None, per: list[dict] | None = None, shared_genres=None,
                 slots=None) -> list[dict]:
    """The ``explain`` documents of results ``items`` (embedding rows ``rows``, None: looked up) for ``target``.

    ``query_frames``: ``(feats, mask, times)`` of the query when it is not in ``frames``;
    ``scores``: the results' reported scores (the fused similarity, so both print the same number).
    What ``similar`` has already computed for its results is reused rather than recomputed: ``sims``
    (:func:`~reelmatch.query.search.modality_sims` of ``rows``), ``per`` (the results' ``scores``
    dicts, whose ``text`` the explanation repeats), ``shared_genres`` (a list per result) and ``slots``
    (each result's position in the query's neighbour-table row, None where it came from the index). The
    frame pairs are lookups in the frame table's precomputed pairs where the result is in the query's
    neighbour-table row, else one batched ``[n, K, d] @ [d, K]`` product.
    """
    if not items:
        return []
    from reelmatch.query.search import modality_sims

    n = len(items)
    r = np.asarray(rows if rows is not None else [emb.row(it.id) for it in items], dtype=np.int64)
    if sims is None:
        sims = modality_sims(target, emb, r)
    m = 1e6  # rounded to 6 decimals inline, as _r6 does (a function call per number would cost a third more)
    fused = [round(x * m) / m if x - x == 0 else x
             for x in (scores if scores is not None else (emb.vectors[r] @ target.fused).tolist())]
    visual = [round(x * m) / m if x - x == 0 else x
              for x in (sims["visual"][0] if "visual" in sims else emb.visual[r] @ target.visual).tolist()]
    if "audio" in sims:
        audio = [(round(x * m) / m if x - x == 0 else x) if has else None
                 for x, has in zip(sims["audio"][0].tolist(), sims["audio"][1].tolist())]
    else:
        audio = [None] * n
    pairs = _frame_pairs(target, frames.rows_of(emb, items, r) if frames is not None else None, frames,
                         query_frames, slots)
    if shared_genres is None:
        qgen = {g.lower() for g in target.genres}
        shared_genres = [[g for g in it.genres if g.lower() in qgen] if qgen else [] for it in items]
    qflags = {f.lower() for f in getattr(target, "flags", ())}
    texts = [d["text"] for d in per] if per is not None else _texts(sims, n)
    docs = [None] * n
    if pairs is not None:
        inf = -np.inf
        for j, (a, b, x, qt, rt) in enumerate(zip(*pairs)):
            if x != inf:
                docs[j] = {"query_frame": a, "result_frame": b, "query_time": None if qt != qt else qt,
                           "result_time": None if rt != rt else rt, "similarity": x}
    return [{"similarity": {"fused": fused[j], "visual": visual[j], "audio": audio[j], "text": texts[j]},
             "shared_genres": shared_genres[j],
             "shared_flags": [f for f in item.flags if f.lower() in qflags] if qflags else [],
             "frames": docs[j]} for j, item in enumerate(items)]


def _r6(x: float) -> float:
    """``x`` rounded to 6 decimals, the same float as ``np.round(x, 6)`` (finite ``x``), at a fraction of its
    cost for the few numbers of an explanation (NaN and infinities are returned as they are)."""
    return round(x * 1e6) / 1e6 if x - x == 0 else x


def _texts(sims: dict, n: int) -> list:
    if "text" not in sims:
        return [None] * n
    v, present = sims["text"]
    return [x if has else None for x, has in zip(v.tolist(), present.tolist())]


def _frame_pairs(target, p: np.ndarray | None, frames: FrameTable | None, query_frames, slots=None):
    """The best frame pair of the query with the frame-table rows ``p`` (-1: not in the table):
    lists ``(query_frame, result_frame, similarity (6 decimals, -inf: no pair), query_time, result_time (ms, NaN:
    none))``,
    or None when the query has no frames.

    Looked up in the precomputed pairs of the query's neighbour-table row (``slots``: each result's
    position in that row when the caller knows it, None: found here; a position is used only where the
    pairs' row has that very item there), else computed by one batched product.
    """
    if frames is None or p is None:
        return None
    r0 = frames._pos.get(target.item_id) if query_frames is None else None
    if query_frames is None and r0 is None:
        return None
    pl = p.tolist()
    n = len(pl)
    nan, inf = float("nan"), -np.inf
    qi, rj, sim, rt = [0] * n, [0] * n, [inf] * n, [nan] * n
    todo = [j for j, x in enumerate(pl) if x >= 0]
    pre = frames.pairs if r0 is not None else None
    if pre is not None and todo:  # looked up where the neighbour table's pairs have them (-inf: no real frames)
        nbl = pre["nb"][r0].tolist()
        if slots is None or None in slots:  # positions not given (results of an index search): found here
            at = {x: i for i, x in enumerate(nbl)}
            slots = [at.get(x) if slots is None or slots[j] is None else slots[j] for j, x in enumerate(pl)]
        s6, rt6 = frames.pair_lookup()
        ql, rl, sl, tl = pre["q"][r0].tolist(), pre["r"][r0].tolist(), s6[r0].tolist(), rt6[r0].tolist()
        kt, rest = len(nbl), []
        for j in todo:
            i = slots[j]
            if i is not None and i < kt and nbl[i] == pl[j]:
                qi[j], rj[j], sim[j], rt[j] = ql[i], rl[i], sl[i], tl[i]
            else:
                rest.append(j)
        todo = rest
    if todo:
        q = query_frames if r0 is None else (frames.feats[r0], frames.mask[r0], frames.times[r0])
        qmask = np.asarray(q[1], bool)
        if not qmask.any():
            return None
        pp = p[todo]
        m, k = len(pp), frames.feats.shape[1]
        s = frames.feats32(pp) @ np.ascontiguousarray(np.asarray(q[0], np.float32).T)  # [m, K result, K query]
        s[~(frames.mask[pp][:, :, None] & qmask[None, None, :])] = -np.inf
        s = s.reshape(m, -1)
        best = s.argmax(axis=1)
        b_r, b_q = np.divmod(best, s.shape[1] // k)
        t64 = frames.times64
        for j, a, b, x in zip(todo, b_q.tolist(), b_r.tolist(), s[np.arange(m), best].tolist()):
            qi[j], rj[j], sim[j], rt[j] = a, b, _r6(x), float(t64[pl[j], b])
    qtimes = frames.times64[r0].tolist() if r0 is not None else \
        np.round(np.asarray(query_frames[2], np.float64), 3).tolist()
    qt = [qtimes[a] if x != inf else nan for a, x in zip(qi, sim)]
    return qi, rj, sim, qt, rt
