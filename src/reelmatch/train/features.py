"""The feature cache: per-frame backbone features computed once per clip.

While the backbone is frozen, training (and validation) needs only the backbone's
output, so the ``features`` stage computes it once: for each clip a record
``<features dir>/<key>.npz`` with

- ``features`` float16 [K, D] (zeros on padded frames),
- ``mask`` bool [K], ``spectrogram`` (float16 log-mel or the uint8 picture), ``has_audio``,

i.e. everything a frozen-backbone phase reads, so it never decodes a clip record
again. The directory is named by the backbone and a fingerprint of what makes
the features (backbone, its weights, the clip config); the catalogue stage
``features`` records each item done/failed with that fingerprint.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from reelmatch.config import atomic_write_bytes, fingerprint, write_sidecar
from reelmatch.errors import NotFoundError

log = logging.getLogger(__name__)

STAGE = "features"
VERSION = 1


@dataclass(frozen=True)
class FeaturesConfig:
    """backbone: registry name; pretrained: its default weights; weights: a local weights file."""

    backbone: str = "efficientnet_lite0"
    pretrained: bool = True
    weights: str | None = None
    batch_frames: int = 64


def _weights_digest(path: str | None) -> str | None:
    if path is None:
        return None
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def features_fingerprint(config: FeaturesConfig, clip_fingerprint: str) -> str:
    return fingerprint({"backbone": config.backbone, "pretrained": config.pretrained,
                        "weights": _weights_digest(config.weights), "clips": clip_fingerprint, "version": VERSION})


class FeatureCache:
    """The cached features of one backbone for the workspace's current clips."""

    def __init__(self, ws, config: FeaturesConfig = FeaturesConfig(), clip_config=None):
        from reelmatch.dataset.store import current_config

        self.ws = ws
        self.config = config
        self.clip_config = clip_config if clip_config is not None else current_config(ws)
        self.fingerprint = features_fingerprint(config, self.clip_config.fingerprint)
        self.root = ws.dir("features") / f"{config.backbone}-{self.fingerprint}"

    def path(self, item_id: str) -> Path:
        from reelmatch.dataset.store import record_key

        return self.root / f"{record_key(item_id)}.npz"

    def __contains__(self, item_id: str) -> bool:
        return self.path(item_id).exists()

    def get(self, item_id: str) -> dict:
        """``{"id", "features" float16 [K, D], "mask", "spectrogram", "has_audio"}``."""
        p = self.path(item_id)
        if not p.exists():
            raise NotFoundError(f"no cached features for {item_id}: run 'reelmatch features'")
        with np.load(p, allow_pickle=False) as z:
            return {"id": item_id, "features": z["features"], "mask": z["mask"], "spectrogram": z["spectrogram"],
                    "has_audio": bool(z["has_audio"])}

    def put(self, clip, features: np.ndarray) -> None:
        spec = np.asarray(clip.spectrogram)
        if spec.dtype != np.uint8:
            spec = spec.astype(np.float16)
        buf = io.BytesIO()
        np.savez(buf, features=features.astype(np.float16), mask=np.asarray(clip.mask, dtype=bool),
                 spectrogram=spec, has_audio=np.array(bool(clip.has_audio)))
        atomic_write_bytes(self.path(clip.id), buf.getvalue())


def clip_frame_features(backbone, clips, batch_frames: int = 64) -> list[np.ndarray]:
    """Backbone features of each clip's real frames: float32 [K, D] per clip (zeros on padding)."""
    import torch

    frames = [c.frames[np.asarray(c.mask, dtype=bool)] for c in clips]
    flat = np.concatenate(frames) if frames else np.zeros((0, 1, 1, 3), np.uint8)
    outs = []
    with torch.inference_mode():
        for s in range(0, len(flat), batch_frames):
            x = backbone.preprocess(torch.from_numpy(np.ascontiguousarray(flat[s : s + batch_frames])))
            outs.append(backbone(x).float().cpu().numpy())
    feats = np.concatenate(outs) if outs else np.zeros((0, backbone.feature_dim), np.float32)
    res, start = [], 0
    for c, f in zip(clips, frames):
        full = np.zeros((len(c.mask), backbone.feature_dim), np.float32)
        full[np.asarray(c.mask, dtype=bool)] = feats[start : start + len(f)]
        start += len(f)
        res.append(full)
    return res


def compute_features(
    ws,
    backbone_name: str = "efficientnet_lite0",
    *,
    config: FeaturesConfig | None = None,
    retry_failed: bool = False,
    progress: Callable[[int, int], None] | None = None,
    batch_clips: int = 8,
    engine=None,
) -> dict:
    """Cache the features of every clip not yet done with this fingerprint.

    ``engine``: ``None``/``"local"`` runs the backbone here; ``"ray"`` or an engine
    object runs it on the engine's workers (:mod:`reelmatch.engine.ray`); this
    process writes the cache either way.

    Returns ``{"fingerprint", "dir", "done", "failed", "already_done", "seconds"}``.
    A clip that fails (e.g. a bad record) is marked failed with a one-line reason.
    """
    import time

    from reelmatch.dataset.store import ClipStore

    config = config or FeaturesConfig(backbone=backbone_name)
    t0 = time.perf_counter()
    store = ClipStore(ws)
    cache = FeatureCache(ws, config, store.config)
    cache.root.mkdir(parents=True, exist_ok=True)
    write_sidecar(cache.root, config, fingerprint=cache.fingerprint, clip_config=store.config,
                  clip_fingerprint=store.config.fingerprint)
    have = set(store.ids())
    pending = {it.id for it in ws.catalog.todo(STAGE, cache.fingerprint, retry_failed=retry_failed)}
    todo = [i for i in sorted(have) if i in pending or (i not in cache and not _failed(ws, i))]  # or file deleted
    summary = {"fingerprint": cache.fingerprint, "dir": str(cache.root), "done": 0, "failed": 0,
               "already_done": len(have) - len(todo), "failures": []}
    if todo:
        backbone = None

        def local_backbone():
            nonlocal backbone
            if backbone is None:
                backbone = _make_backbone(config)
            return backbone

        def loaded():
            for s in range(0, len(todo), batch_clips):
                clips = []
                for i in todo[s : s + batch_clips]:
                    try:
                        clips.append(store.get(i))
                    except Exception as e:
                        _fail(ws, summary, i, e, cache.fingerprint)
                yield s, clips

        if engine is not None and getattr(engine, "name", engine) != "local":
            from functools import partial

            from reelmatch.engine import get_engine

            # the same seeded backbone built once per worker (a GPU actor when the cluster has GPUs)
            results = get_engine(engine).map_batches(partial(_features_fn, config), loaded())
        else:
            results = ((b, _features_or_error(local_backbone(), b[1], config)) for b in loaded())
        for (s, clips), feats in results:
            if isinstance(feats, Exception):  # one bad clip must not fail the batch: retry one by one
                log.warning("features batch failed (%s); retrying item by item", feats)
                feats = None
            for j, clip in enumerate(clips):
                try:
                    f = feats[j] if feats is not None else clip_frame_features(local_backbone(), [clip], config.batch_frames)[0]
                    if not np.isfinite(f).all():
                        raise ValueError("backbone features are not finite")
                    cache.put(clip, f)
                    ws.catalog.mark_done(clip.id, STAGE, cache.fingerprint)
                    summary["done"] += 1
                except Exception as e:
                    _fail(ws, summary, clip.id, e, cache.fingerprint)
            if progress:
                progress(min(s + batch_clips, len(todo)), len(todo))
    store.close()
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    return summary


def _make_backbone(config: FeaturesConfig):
    """The backbone of ``config`` (seeded: a random one is the same in every process)."""
    import torch

    from reelmatch.model.backbones import create_backbone

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return create_backbone(config.backbone, pretrained=config.pretrained, weights=config.weights).eval()


def _features_or_error(backbone, clips, config: FeaturesConfig):
    if not clips:
        return []
    try:
        return clip_frame_features(backbone, clips, config.batch_frames)
    except Exception as e:  # noqa: BLE001 - the caller retries item by item
        return e


def _features_fn(config: FeaturesConfig):
    """Engine worker side, once per worker: a function ``(start, clips) -> features`` (or the error)."""
    from reelmatch.engine.ray import worker_device

    backbone = _make_backbone(config).to(worker_device())  # a GPU actor computes on its GPU
    return lambda batch: _features_or_error(backbone, batch[1], config)


def _failed(ws, item_id) -> bool:
    return (ws.catalog.stage_of(item_id, STAGE) or {}).get("status") == "failed"


def _fail(ws, summary, item_id, err, fp) -> None:
    msg = f"{type(err).__name__}: {err}"
    ws.catalog.mark_failed(item_id, STAGE, msg, fp)
    summary["failed"] += 1
    summary["failures"].append({"id": item_id, "error": " ".join(msg.split())[:300]})
