"""The ``scenes`` stage: scene boundaries and one embedding per scene, for each movie.

Per item (a video of any length: a trailer, a full movie, an episode):

1. boundaries with PySceneDetect over frames the media layer decodes
   (:func:`reelmatch.scenes.detect.detect_scenes`);
2. for each scene, a clip sampled inside it by the project's extraction
   (:func:`reelmatch.extract.extract_clip` with the workspace's clip config, its
   window set to the scene and its K frames spread over it) and embedded by the
   embedder that made the item embeddings (same towers, same vector space, so an
   ad's vector compares with scene vectors as with item vectors);
3. written to ``<ws>/scenes/<fingerprint>/<key>.npz``: ``start``, ``end`` float32 [S],
   ``fused``, ``visual``, ``audio`` float32 [S, E], ``has_audio`` bool [S].

It runs on the one runner (:func:`reelmatch.runner.run_stage`): resumable (an
item done with the fingerprint is skipped; the fingerprint covers this config,
the model and the clip config), a bad file fails alone with a one-line reason,
and a second writer gets the stage lock's message. Model work, so one embedder
per worker (``batched``): the local engine runs it in this process.
"""

from __future__ import annotations

import dataclasses
import io
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from reelmatch.config import atomic_write_bytes, fingerprint, write_sidecar
from reelmatch.errors import NotFoundError
from reelmatch.runner import LocalFirst, RunOptions, Stage, StageResult, run_stage
from reelmatch.scenes.config import ScenesConfig
from reelmatch.scenes.detect import Scene, detect_scenes

log = logging.getLogger(__name__)

STAGE = "scenes"
VERSION = 1
#: scene clips embedded per model call
EMBED_BATCH = 16


def scenes_fingerprint(config: ScenesConfig, model_fingerprint: str, clip_fingerprint: str, *,
                       plots: bool = False) -> str:
    """``plots``: the model reads plot text, and each scene its item's plot (scenes of text models
    embedded before scenes read plots have another fingerprint, so they are redone)."""
    # ``kind`` only chooses which items run, not what their scenes are: a run over ads adds to the trailers'
    # folder instead of starting a new one that would hide them (and redo them with ``all``)
    config = dataclasses.replace(config, kind=ScenesConfig.kind)
    doc = {"scenes": config, "model": model_fingerprint, "clip": clip_fingerprint, "version": VERSION}
    if plots:
        doc["plots"] = 1
    return fingerprint(doc)


def scenes_root(ws) -> Path:
    return ws.dir("scenes")


def scene_clip_config(clip_config, scene: Scene, frames: int):
    """The clip config that samples ``frames`` frames evenly inside ``scene`` (and its audio window)."""
    d = max(scene.duration, 1e-3)
    return dataclasses.replace(clip_config, start=float(scene.start), window=float(d), num_frames=int(frames),
                               interval=float(d) / frames)


@dataclass
class ItemScenes:
    """The scenes of one item: ``scenes`` [S], vectors float32 [S, E] (``fused``, ``visual``, ``audio``)."""

    item_id: str
    scenes: list[Scene]
    fused: np.ndarray
    visual: np.ndarray
    audio: np.ndarray
    has_audio: np.ndarray

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, start=np.array([s.start for s in self.scenes], np.float32),
                 end=np.array([s.end for s in self.scenes], np.float32), fused=self.fused.astype(np.float32),
                 visual=self.visual.astype(np.float32), audio=self.audio.astype(np.float32),
                 has_audio=np.asarray(self.has_audio, bool))
        return buf.getvalue()

    @classmethod
    def read(cls, item_id: str, path: Path) -> "ItemScenes":
        with np.load(path, allow_pickle=False) as z:
            scenes = [Scene(round(float(a), 3), round(float(b), 3)) for a, b in zip(z["start"], z["end"])]
            return cls(item_id, scenes, z["fused"], z["visual"], z["audio"], z["has_audio"])


def embed_item_scenes(task, embedder, config: ScenesConfig, clip_config) -> ItemScenes:
    """Per-item work (no workspace): detect the scenes of ``task = (item_id, path)`` and embed each."""
    from reelmatch.extract import extract_clip

    item_id, path = task
    scenes = detect_scenes(path, config)
    k = config.frames or clip_config.num_frames
    clips, windows = [], {}
    from threadpoolctl import threadpool_limits

    # one BLAS thread for the log-mel, as in every item worker: a matrix product's rounding depends on
    # its thread count, and the local engine runs this in the calling process (torch keeps its threads)
    with threadpool_limits(1, user_api="blas"):
        for j, sc in enumerate(scenes):
            windows[f"{item_id}#{j}"] = (str(path), scene_clip_config(clip_config, sc, k))
            clips.append(extract_clip(Path(path), windows[f"{item_id}#{j}"][1], item_id=f"{item_id}#{j}",
                                      title=Path(path).stem, threads=1))
    outs = {"fused": [], "visual": [], "audio": []}
    for s in range(0, len(clips), EMBED_BATCH):
        part = clips[s : s + EMBED_BATCH]
        extra = {}
        if getattr(embedder, "has_text", False):  # each scene reads its item's plot
            extra["plots_of"] = {c.id: item_id for c in part}
        if getattr(embedder, "audio_expert", None) is not None:  # and the expert hears the scene's window
            extra["sources"] = {c.id: windows[c.id] for c in part}
        got = embedder.embed(part, **extra)
        for key in outs:
            outs[key].append(np.asarray(got[key], np.float32))
    has_audio = np.array([bool(c.has_audio) for c in clips])
    vec = {key: np.concatenate(v) for key, v in outs.items()}
    vec["audio"][~has_audio] = 0.0
    return ItemScenes(item_id, scenes, vec["fused"], vec["visual"], vec["audio"], has_audio)


def _scenes_fn(embedder: LocalFirst, config: ScenesConfig, clip_config):
    return partial(embed_item_scenes, embedder=embedder(), config=config, clip_config=clip_config)


class _ScenesJob:
    """Items with media whose scenes are not done with the fingerprint."""

    marks_done = False

    def __init__(self, ws, job_config, options: RunOptions):
        from reelmatch.embed.embedder import embedder_for
        from reelmatch.embed.vectors import embeddings_path, load_embeddings

        config, clip_config = job_config
        if not embeddings_path(ws).exists():
            raise NotFoundError("no embeddings yet: run 'reelmatch embed' (scenes are embedded by the same model)")
        meta = load_embeddings(ws).meta
        self.model_fingerprint = meta.get("model_fingerprint")
        self.ws, self.config, self.clip_config = ws, config, clip_config
        text_cache = None
        ckpt = meta.get("checkpoint")
        if meta.get("mode", "model") != "backbone" and ckpt and Path(ckpt).exists():
            from reelmatch.embed.embedder import text_cache_for

            text_cache = text_cache_for(ws, ckpt)  # brought up to date here; the workers read it
        self.fingerprint = scenes_fingerprint(config, self.model_fingerprint, clip_config.fingerprint,
                                              plots=text_cache is not None)
        self.root = scenes_root(ws) / self.fingerprint
        self.root.mkdir(parents=True, exist_ok=True)
        write_sidecar(self.root, config, fingerprint=self.fingerprint, model_fingerprint=self.model_fingerprint,
                      clip_fingerprint=clip_config.fingerprint, clip_config=clip_config)
        kind = options.kind or (None if config.kind == "all" else config.kind)
        todo = ws.catalog.todo(STAGE, self.fingerprint, retry_failed=options.retry_failed, kind=kind)
        self.items = [it for it in todo if it.media_path]
        self.total = len(self.items)
        # picklable: no workspace travels, only the path of the plots' features
        self.embedder = LocalFirst(partial(embedder_for, None, meta, text_cache=text_cache))
        self.fn = partial(_scenes_fn, self.embedder, config, clip_config)
        self.scenes = 0

    @property
    def tasks(self):
        for it in self.items:
            yield (it.id, str(self.ws.media_file(it)))

    def write(self, task, result, error):
        item_id = task[0]
        if error is not None:
            return {item_id: error}
        atomic_write_bytes(item_path(self.root, item_id), result.to_bytes())
        self.scenes += len(result.scenes)
        return {item_id: None}

    def close(self) -> dict:
        indexed = None
        if self.total or not (self.root / SCENE_INDEX).exists():  # nothing new: the index stands
            indexed = build_scene_index(self.ws, self.root, self.model_fingerprint)
        return {"fingerprint": self.fingerprint, "scenes": self.scenes, "artifact": self.root, "indexed": indexed}


#: the index over every scene vector of a scenes directory (ids ``<item id>#<scene index>``)
SCENE_INDEX = "scene-index.npz"


def scene_id(item_id: str, j: int) -> str:
    return f"{item_id}#{j}"


def split_scene_id(sid: str) -> tuple[str, int]:
    item_id, _, j = sid.rpartition("#")
    return item_id, int(j)


def build_scene_index(ws, root: Path, model_fingerprint: str | None) -> int:
    """Index the fused vectors of every scene in ``root`` (the project's index: exact below its size
    threshold, HNSW above), written atomically next to the scenes; returns the scenes indexed.
    Rebuilt at the end of each run of the stage, so it holds exactly the items done."""
    from reelmatch.index.io import build_index, save_index

    ids, vecs = [], []
    for item in ws.catalog.items():
        p = item_path(root, item.id)
        if p.exists():
            sc = ItemScenes.read(item.id, p)
            ids += [scene_id(item.id, j) for j in range(len(sc.scenes))]
            vecs.append(sc.fused)
    path = root / SCENE_INDEX
    if not ids:
        path.unlink(missing_ok=True)
        return 0
    index = build_index(np.concatenate(vecs).astype(np.float32), ids, model_fingerprint=model_fingerprint)
    save_index(index, path)
    return len(ids)


def item_path(root: Path, item_id: str) -> Path:
    from reelmatch.dataset.store import record_key

    return root / f"{record_key(item_id)}.npz"


#: the scenes stage, for :func:`reelmatch.runner.run_stage` (model work: one embedder per worker)
SCENES = Stage(STAGE, plan=_ScenesJob, batched=True)


def run_scenes(ws, config: ScenesConfig = ScenesConfig(), *, clip_config=None, engine=None, progress=None,
               retry_failed: bool = False, kind: str | None = None) -> StageResult:
    """Detect and embed the scenes of every item not done with this config, model and clip config.

    ``clip_config``: how scene clips are sampled (None: the workspace's, resolved once here).
    Returns the runner's :class:`StageResult` (``counts["scenes"]``: scenes written).
    """
    if clip_config is None:
        from reelmatch.dataset.store import resolve_clip_config

        clip_config = resolve_clip_config(ws)
    res = run_stage(ws, SCENES, (config, clip_config), engine, progress,
                    RunOptions(retry_failed=retry_failed, kind=kind))
    res.summary = (f"{res.counts.get('scenes', 0)} scenes of {res.done} items, {res.failed} failed" if res.total
                   else "up to date")
    return res


def current_scenes_dir(ws, model_fingerprint: str | None) -> Path | None:
    """The newest scenes directory made by the model ``model_fingerprint`` (what queries read)."""
    from reelmatch.config import newest_artifact_dir

    return newest_artifact_dir(scenes_root(ws), model_fingerprint=model_fingerprint)


def load_scenes(ws, item_id: str, *, model_fingerprint: str | None = None) -> ItemScenes | None:
    """The scenes of ``item_id`` made by the model of the current embeddings (or ``model_fingerprint``), or None."""
    if model_fingerprint is None:
        from reelmatch.embed.vectors import load_embeddings

        model_fingerprint = load_embeddings(ws).model_fingerprint
    return read_item_scenes(current_scenes_dir(ws, model_fingerprint), item_id)


def read_item_scenes(scenes_dir: Path | None, item_id: str) -> ItemScenes | None:
    """The scenes of ``item_id`` in ``scenes_dir`` (from :func:`current_scenes_dir`), or None."""
    if scenes_dir is None:
        return None
    p = item_path(scenes_dir, item_id)
    return ItemScenes.read(item_id, p) if p.exists() else None
