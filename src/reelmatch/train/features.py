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
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

from reelmatch.config import StageConfig, atomic_write_bytes, fingerprint, read_sidecar, write_sidecar
from reelmatch.errors import NotFoundError
from reelmatch.runner import LocalFirst, Stage

log = logging.getLogger(__name__)

STAGE = "features"
VERSION = 1


@dataclass(frozen=True)
class FeaturesConfig(StageConfig):
    """backbone: registry name; pretrained: its default weights; weights: a local weights file;
    norm: its input normalisation (``auto``: the backbone's default; :mod:`reelmatch.model.norms`)."""

    DICT_OMIT_DEFAULTS = ("norm",)

    backbone: str = "efficientnet_lite0"
    pretrained: bool = True
    weights: str | None = None
    batch_frames: int = 64
    norm: str = "auto"

    def __post_init__(self):
        from reelmatch.model.norms import CHOICES

        if self.norm not in CHOICES:
            raise self.invalid("norm", f"is not one of {', '.join(CHOICES)}")


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
    """What makes the features: the normalisation counts only where it is not the one the backbone had
    before it could be chosen (so caches made then keep their fingerprint, and EfficientNet-Lite's made
    with ImageNet statistics are recomputed with its TF-Lite default)."""
    from reelmatch.model.backbones import norm_fingerprint

    doc = {"backbone": config.backbone, "pretrained": config.pretrained,
           "weights": _weights_digest(config.weights), "clips": clip_fingerprint, "version": VERSION}
    norm = norm_fingerprint(config.backbone, config.norm)
    if norm is not None:
        doc["norm"] = norm
    return fingerprint(doc)


class FeatureCache:
    """The cached features of one backbone for the workspace's current clips.

    In a workspace with a storage URL (``reelmatch init --storage``) the feature
    files of a cache made from then on are objects under
    ``<storage>/features/<backbone>-<fingerprint>/`` (recorded as ``url`` in the
    cache's sidecar, which stays in the workspace); ``in`` lists that folder once.
    """

    def __init__(self, ws, config: FeaturesConfig = FeaturesConfig(), clip_config=None):
        from reelmatch.dataset.store import resolve_clip_config

        self.ws = ws
        self.config = config
        self.clip_config = clip_config if clip_config is not None else resolve_clip_config(ws)
        self.fingerprint = features_fingerprint(config, self.clip_config.fingerprint)
        self.root = ws.dir("features") / f"{config.backbone}-{self.fingerprint}"
        side = read_sidecar(self.root)
        storage = getattr(ws, "storage", None)
        if side is not None or not storage:
            self.url = (side or {}).get("url")  # where the cache's files were put when it was made
        else:
            self.url = f"{storage.rstrip('/')}/features/{self.root.name}"
        self._names = None

    @property
    def location(self) -> str:
        """Where the feature files are: the cache folder, or the URL."""
        return self.url or str(self.root)

    def path(self, item_id: str) -> Path | str:
        return feature_path(self.location, item_id)

    def __contains__(self, item_id: str) -> bool:
        if self.url is None:
            return self.path(item_id).exists()
        if self._names is None:
            from reelmatch.runtime import storage_fs

            fs, base = storage_fs(self.url)
            fs.invalidate_cache(base)
            try:
                self._names = {e.rstrip("/").rsplit("/", 1)[-1] for e in fs.ls(base, detail=False)}
            except FileNotFoundError:
                self._names = set()
        return str(self.path(item_id)).rsplit("/", 1)[-1] in self._names

    def get(self, item_id: str) -> dict:
        """``{"id", "features" float16 [K, D], "mask", "spectrogram", "has_audio"}``."""
        p = self.path(item_id)
        if self.url is not None:
            from reelmatch.runtime import storage_fs

            fs, path = storage_fs(p)
            try:
                p = io.BytesIO(fs.cat_file(path))
            except FileNotFoundError:
                p = None
        if p is None or (self.url is None and not p.exists()):
            raise NotFoundError(f"no cached features for {item_id}: run 'reelmatch features'")
        with np.load(p, allow_pickle=False) as z:
            return {"id": item_id, "features": z["features"], "mask": z["mask"], "spectrogram": z["spectrogram"],
                    "has_audio": bool(z["has_audio"])}


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


class _FeaturesJob:
    """Clips without cached features for the fingerprint, in batches of ids.

    The worker of a batch (this process on the local engine, a Ray actor on Ray)
    reads its clips from the clip store's shards itself, runs the backbone and
    writes each clip's feature file; only ``{id: None or reason}`` comes back,
    so no clip and no feature passes through the driver.
    """

    marks_done = False

    def __init__(self, ws, config: "tuple[FeaturesConfig, object, int]", options):
        from reelmatch.dataset.store import ClipStore

        fconfig, clip_config, batch_clips = config
        self.ws, self.config = ws, fconfig
        self.store = ClipStore(ws, clip_config)
        self.cache = cache = FeatureCache(ws, fconfig, self.store.config)
        self.fingerprint = cache.fingerprint
        cache.root.mkdir(parents=True, exist_ok=True)
        write_sidecar(cache.root, fconfig, fingerprint=cache.fingerprint, clip_config=self.store.config,
                      clip_fingerprint=self.store.config.fingerprint, **({"url": cache.url} if cache.url else {}))
        have = set(self.store.ids())
        pending = {it.id for it in ws.catalog.todo(STAGE, cache.fingerprint, retry_failed=options.retry_failed)}
        self.todo = [i for i in sorted(have) if i in pending or (i not in cache and not _failed(ws, i))]  # or file deleted
        self.already = len(have) - len(self.todo)
        self.total = len(self.todo)
        self.batch_clips = batch_clips
        # the same seeded backbone built once per worker (a GPU actor when the cluster has GPUs);
        # the local engine runs batches here and reuses this process's backbone
        self.backbone = LocalFirst(partial(_make_backbone_on_device, fconfig))
        self.fn = partial(_features_fn, self.backbone, fconfig, str(self.store.root), self.store.config,
                          cache.location, self.store.shard_url)

    @property
    def tasks(self):
        """Batches of ids (the worker reads their clips; told where they are when the shards are on a URL)."""
        from reelmatch.dataset.store import id_batch

        for s in range(0, len(self.todo), self.batch_clips):
            yield id_batch(self.store, self.todo[s : s + self.batch_clips])

    def write(self, task, outcome, error):
        if error is not None or not isinstance(outcome, dict):
            return {i: error or f"features worker returned {type(outcome).__name__}" for i in task}
        return {i: outcome.get(i, "features worker returned no outcome") for i in task}

    def close(self) -> dict:
        self.store.close()
        return {"fingerprint": self.fingerprint, "dir": str(self.cache.root), "already_done": self.already,
                "artifact": self.cache.root}


def put_features(cache_root: Path | str, clip, features: np.ndarray) -> None:
    """Write the feature file of ``clip`` in the cache directory ``cache_root`` (atomically), or as
    one object under ``cache_root`` when it is an fsspec URL (uploaded whole)."""
    spec = np.asarray(clip.spectrogram)
    if spec.dtype != np.uint8:
        spec = spec.astype(np.float16)
    buf = io.BytesIO()
    np.savez(buf, features=features.astype(np.float16), mask=np.asarray(clip.mask, dtype=bool),
             spectrogram=spec, has_audio=np.array(bool(clip.has_audio)))
    from reelmatch.runtime import is_url

    if is_url(cache_root):
        from reelmatch.runtime import storage_fs

        fs, path = storage_fs(feature_path(cache_root, clip.id))
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        fs.pipe_file(path, buf.getvalue())
        return
    atomic_write_bytes(feature_path(cache_root, clip.id), buf.getvalue())


def feature_path(cache_root, item_id: str) -> Path | str:
    """The feature file of ``item_id`` in the cache directory ``cache_root`` (a URL when it is one)."""
    from reelmatch.dataset.store import record_key
    from reelmatch.runtime import is_url

    if is_url(cache_root):
        return f"{str(cache_root).rstrip('/')}/{record_key(item_id)}.npz"
    return Path(cache_root) / f"{record_key(item_id)}.npz"


def features_batch(backbone, config: FeaturesConfig, store, cache_root, ids) -> dict[str, str | None]:
    """Worker side: read the clips of ``ids`` from ``store``, compute and write their features.

    Returns ``{id: None (written) or a one-line reason}``; a batch that fails is
    redone clip by clip, so one bad clip fails alone.
    """
    out, clips = {}, []
    for i in ids:
        try:
            clips.append(store.get(i))
        except Exception as e:  # noqa: BLE001 - a bad record fails its item
            out[i] = _reason(e)
    feats = _features_or_error(backbone, clips, config)
    if isinstance(feats, Exception):
        log.warning("features batch failed (%s); retrying item by item", feats)
        feats = None
    for j, clip in enumerate(clips):
        try:
            f = feats[j] if feats is not None else clip_frame_features(backbone, [clip], config.batch_frames)[0]
            if not np.isfinite(f).all():
                raise ValueError("backbone features are not finite")
            put_features(cache_root, clip, f)
            out[clip.id] = None
        except Exception as e:  # noqa: BLE001 - the item fails, the batch goes on
            out[clip.id] = _reason(e)
    return out


def _features_failed(res) -> str | None:
    from reelmatch.errors import ItemFailure

    return res.reason if isinstance(res, ItemFailure) else None


#: the features stage, for :func:`reelmatch.runner.run_stage` (model work: one backbone per worker)
FEATURES = Stage(STAGE, plan=_FeaturesJob, failed=_features_failed, batched=True)


def compute_features(
    ws,
    backbone_name: str = "efficientnet_lite0",
    *,
    config: FeaturesConfig | None = None,
    clip_config=None,
    retry_failed: bool = False,
    progress: Callable | None = None,
    batch_clips: int = 8,
    engine=None,
) -> dict:
    """Cache the features of every clip not yet done with this fingerprint.

    ``clip_config``: the clips to read (None: the workspace's current clip config).
    ``engine``: ``None``/``"local"`` runs the backbone here; ``"ray"`` or an engine
    object runs it on the engine's workers (:func:`reelmatch.runner.run_stage`); this
    process writes the cache either way. ``progress(done, total, item_id, error)``.

    Returns ``{"fingerprint", "dir", "done", "failed", "already_done", "seconds", "failures"}``.
    A clip that fails (e.g. a bad record) is marked failed with a one-line reason.
    """
    return features_stage(ws, backbone_name, config=config, clip_config=clip_config, retry_failed=retry_failed,
                          progress=progress, batch_clips=batch_clips, engine=engine).result


def features_stage(ws, backbone_name: str = "efficientnet_lite0", *, config=None, clip_config=None,
                   retry_failed=False, progress=None, batch_clips=8, engine=None):
    """:func:`compute_features` returning the :class:`~reelmatch.runner.StageResult`."""
    from reelmatch.runner import RunOptions, run_stage

    config = config or FeaturesConfig(backbone=backbone_name)
    if clip_config is None:
        from reelmatch.dataset.store import resolve_clip_config

        clip_config = resolve_clip_config(ws)
    res = run_stage(ws, FEATURES, (config, clip_config, batch_clips), engine, _two_or_four(progress),
                    RunOptions(retry_failed=retry_failed))
    c = res.counts
    res.summary = (f"{config.backbone} features of {res.done} clips cached, {res.failed} failed" if res.total
                   else f"{c['already_done']} clips cached")
    res.result = {"fingerprint": c["fingerprint"], "dir": c["dir"], "done": res.done, "failed": res.failed,
                  "already_done": c["already_done"], "failures": res.failures, "seconds": round(res.seconds, 3)}
    return res


def _two_or_four(progress):
    """A ``progress(done, total)`` callback takes the runner's ``(done, total, item_id, error)`` calls too."""
    if progress is None:
        return None
    import inspect

    try:
        n = len(inspect.signature(progress).parameters)
    except (TypeError, ValueError):
        return progress
    return progress if n != 2 else (lambda done, total, *_: progress(done, total))


def _make_backbone(config: FeaturesConfig):
    """The backbone of ``config`` (seeded: a random one is the same in every process)."""
    import torch

    from reelmatch.model.backbones import create_backbone

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return create_backbone(config.backbone, pretrained=config.pretrained, weights=config.weights,
                               norm=config.norm).eval()


def _make_backbone_on_device(config: FeaturesConfig):
    from reelmatch.runtime import worker_device

    return _make_backbone(config).to(worker_device())  # a GPU actor computes on its GPU


def _features_or_error(backbone, clips, config: FeaturesConfig):
    if not clips:
        return []
    try:
        return clip_frame_features(backbone, clips, config.batch_frames)
    except Exception as e:  # noqa: BLE001 - the caller retries item by item
        return e


def _features_fn(backbone: "LocalFirst", config: FeaturesConfig, store_root: str, clip_config, cache_root: str,
                 shard_url: str | None = None):
    """Engine worker side, once per worker: a function ``ids -> {id: None or reason}`` that reads the
    clips from the store's shards and writes their feature files (:func:`features_batch`)."""
    from reelmatch.dataset.store import ClipStore

    model = backbone()
    store = ClipStore.open_dir(Path(store_root), clip_config, shard_url)

    def run(ids):
        store.use_batch(ids)  # a batch that says where its records are
        return features_batch(model, config, store, cache_root, ids)

    return run


def _failed(ws, item_id) -> bool:
    return (ws.catalog.stage_of(item_id, STAGE) or {}).get("status") == "failed"


def _reason(err) -> str:
    return " ".join(f"{type(err).__name__}: {err}".split())[:300]
