"""The embed stage: vectors for every extracted clip of a workspace."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from reelmatch.config import fingerprint, to_jsonable
from reelmatch.embed.config import EmbedConfig
from reelmatch.embed.embedder import get_embedder
from reelmatch.embed.vectors import Embeddings, embeddings_path, read_embeddings, save_embeddings
from reelmatch.errors import one_line

log = logging.getLogger(__name__)


def stage_fingerprint(model_fingerprint: str, clip_fingerprint: str) -> str:
    """The catalogue fingerprint of an item's embed stage: which model, which clip config."""
    return fingerprint({"model": model_fingerprint, "clip": clip_fingerprint})


def run_embed(
    ws,
    config: EmbedConfig = EmbedConfig(),
    *,
    embedder=None,
    progress: Callable[[int, int], None] | None = None,
    retry_failed: bool = False,
    engine=None,
) -> Path:
    """Embed every clip of ``ws`` with its current model; returns the embeddings path.

    Incremental: vectors of the same model and clip config are kept and only new
    (or re-extracted) items are computed. Embeddings made by another model or
    clip config are recomputed from scratch, never mixed. Before any model is
    trained the pretrained backbone is used alone (``meta["mode"] == "backbone"``).
    A clip that fails is marked failed (stage ``embed``) and the batch goes on.
    ``embedder`` overrides the choice (an object with ``fingerprint``,
    ``describe()`` and ``embed(clips)``). ``engine``: ``None``/``"local"`` embeds
    here; ``"ray"`` or an engine object runs ``embed`` on its workers (GPU actors
    when the cluster has GPUs, see :mod:`reelmatch.engine.ray`); same vectors.
    """
    from reelmatch.dataset.store import ClipStore

    store = ClipStore(ws)
    clip_fp = store.config.fingerprint
    embedder = embedder or get_embedder(ws, config)
    model_fp = embedder.fingerprint
    fp = stage_fingerprint(model_fp, clip_fp)
    path = embeddings_path(ws, config.name)
    meta = {
        **embedder.describe(),
        "model_fingerprint": model_fp,
        "clip_fingerprint": clip_fp,
        "stage_fingerprint": fp,
        "embed_config": to_jsonable(config),
    }
    if embedder.mode == "backbone":
        log.info("embed: using the pretrained backbone alone (no trained model yet)")

    old = None
    if path.exists():
        try:
            old = read_embeddings(path)
        except Exception as e:  # unreadable: recompute everything
            log.warning("embed: %s is unreadable (%s): recomputing", path.name, one_line(e, with_type=True, limit=300))
        if old is not None and (old.model_fingerprint != model_fp or old.clip_fingerprint != clip_fp):
            log.info(
                "embed: %s was made by model %s / clip config %s, now %s / %s: recomputing all",
                path.name, old.model_fingerprint, old.clip_fingerprint, model_fp, clip_fp,
            )
            old = None

    catalogue = {it.id for it in ws.catalog.items()}
    store_ids = [i for i in store.ids() if i in catalogue]
    done = set(ws.catalog.done_ids("embed", fp))
    todo_cat = {it.id for it in ws.catalog.todo("embed", fp, retry_failed=retry_failed)}
    keep, todo = [], []
    for i in store_ids:
        if old is not None and i in old and i in done and i not in todo_cat:
            keep.append(i)
        elif i in todo_cat or i in done:
            todo.append(i)
    emb = old.subset(keep) if old is not None else None
    if emb is not None:
        emb.meta = dict(meta)
    log.info("embed: %d clip(s) to embed, %d kept, model %s (%s)", len(todo), len(keep), model_fp, embedder.mode)

    pending: list[Embeddings] = []
    pending_ids: list[str] = []
    n_done = n_failed = 0
    last_save = time.monotonic()

    def flush() -> None:
        nonlocal emb, pending, pending_ids, last_save
        for part in pending:
            emb = part if emb is None else emb.concat(part)
        if emb is None:
            emb = Embeddings.empty(meta=meta)
        emb.meta = dict(meta)
        save_embeddings(emb, path, config)
        for i in pending_ids:  # done only once the vectors are on disk
            ws.catalog.mark_done(i, "embed", fp)
        pending, pending_ids, last_save = [], [], time.monotonic()

    batches = [todo[start : start + config.batch_size] for start in range(0, len(todo), config.batch_size)]
    if engine is not None and getattr(engine, "name", engine) != "local":
        parts = _embed_batches_on(engine, ws, store, embedder, batches, fp)
    else:
        parts = ((batch_ids, _embed_batch(ws, store, embedder, batch_ids, fp)) for batch_ids in batches)
    for batch_ids, part in parts:
        n_failed += len(batch_ids) - len(part)
        if len(part):
            pending.append(part)
            pending_ids.extend(part.ids)
        n_done += len(batch_ids)
        if progress is not None:
            progress(n_done, len(todo))
        if len(pending_ids) >= config.save_every or time.monotonic() - last_save > 120:
            flush()
    if pending or emb is None or old is None or len(emb) != len(old) or todo:
        flush()
    log.info("embed: %d embedded, %d failed, %d vectors in %s", n_done - n_failed, n_failed, len(emb), path)
    return path


def _load_clips(ws, store, ids: list[str], fp: str) -> tuple[list, list[str]]:
    """The clips of ``ids`` that can be read, and their ids; an unreadable clip fails its item."""
    clips, ok_ids = [], []
    for i in ids:
        try:
            clips.append(store.get(i))
            ok_ids.append(i)
        except Exception as e:
            ws.catalog.mark_failed(i, "embed", f"reading the clip: {one_line(e, with_type=True, limit=300)}", fp)
    return clips, ok_ids


def _embed_batch(ws, store, embedder, ids: list[str], fp: str) -> Embeddings:
    """Embed ``ids``; a batch that fails is retried item by item so one bad clip fails alone."""
    clips, ok_ids = _load_clips(ws, store, ids, fp)
    if not clips:
        return _empty_like(None)
    try:
        return _to_embeddings(ok_ids, clips, embedder.embed(clips))
    except Exception as e:
        if len(clips) == 1:
            ws.catalog.mark_failed(ok_ids[0], "embed", one_line(e, with_type=True, limit=300), fp)
            return _empty_like(None)
        log.warning("embed: a batch failed (%s); retrying its %d clips one by one", one_line(e, with_type=True, limit=300), len(clips))
    parts = []
    for i, c in zip(ok_ids, clips):
        try:
            parts.append(_to_embeddings([i], [c], embedder.embed([c])))
        except Exception as e:
            ws.catalog.mark_failed(i, "embed", one_line(e, with_type=True, limit=300), fp)
    out = None
    for p in parts:
        out = p if out is None else out.concat(p)
    return out if out is not None else _empty_like(None)


def embedder_factory(embedder):
    """A picklable zero-argument callable that rebuilds ``embedder`` on another worker."""
    from functools import partial

    from reelmatch.embed.embedder import BackboneEmbedder, ModelEmbedder

    if type(embedder) is BackboneEmbedder:
        return partial(BackboneEmbedder, embedder.name, embedder.audio_weight, pretrained=embedder.pretrained)
    if type(embedder) is ModelEmbedder:
        return partial(ModelEmbedder, embedder.checkpoint)  # the checkpoint must be readable by the workers
    return partial(_same, embedder)  # any other embedder travels pickled


def _same(obj):
    return obj


def _make_embed_fn(factory):
    """Worker side, once per worker: build the embedder; the returned function embeds a ``(ids, ok_ids, clips)`` batch."""
    from reelmatch.engine.ray import worker_device

    embedder = _on_device(factory(), worker_device())
    return lambda batch: embedder.embed(batch[2]) if batch[2] else None


def _on_device(embedder, device: str):
    """Move the embedder's network to ``device`` (a GPU actor's GPU); inputs follow, outputs come back to the CPU."""
    if device == "cpu":
        return embedder
    if getattr(embedder, "backbone", None) is not None:  # BackboneEmbedder: preprocess follows the weights
        embedder.backbone.to(device)
    model = getattr(embedder, "model", None)
    if model is not None:  # ModelEmbedder: move the batch tensors too
        model.to(device)
        encode = model.encode_towers
        model.encode_towers = lambda batch: encode({k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()})
    return embedder


def _embed_batches_on(engine, ws, store, embedder, batches, fp):
    """``(batch_ids, Embeddings)`` per batch, computed by ``engine``'s workers; a failed batch is redone here."""
    from functools import partial

    from reelmatch.engine import ItemFailure, get_engine

    def loaded():
        for batch_ids in batches:
            clips, ok_ids = _load_clips(ws, store, batch_ids, fp)
            yield (batch_ids, ok_ids, clips)

    results = get_engine(engine).map_batches(partial(_make_embed_fn, embedder_factory(embedder)), loaded())
    for (batch_ids, ids, clips), out in results:
        if not clips:  # none could be read (each marked failed above)
            yield batch_ids, _empty_like(None)
            continue
        part = None
        if not isinstance(out, ItemFailure):
            try:
                part = _to_embeddings(ids, clips, out)
            except ValueError as e:
                out = ItemFailure(str(e))
        if part is None:  # one bad clip fails alone: redo the batch here, item by item
            log.warning("embed: a batch failed on the %s engine (%s); redoing its %d clips here", getattr(engine, "name", engine), out, len(ids))
            part = _embed_batch(ws, store, embedder, ids, fp)
        yield batch_ids, part


def _to_embeddings(ids, clips, out: dict) -> Embeddings:
    for name in ("fused", "visual", "audio"):
        a = out[name]
        if a.shape[0] != len(ids) or not np.isfinite(a).all():
            raise ValueError(f"embedder returned bad {name} vectors: shape {a.shape} for {len(ids)} clips")
    audio = out["audio"].astype(np.float32)
    # a silent track gives a zero audio vector: no audio score rather than a meaningless 0
    has_audio = np.array([bool(c.has_audio) for c in clips]) & (np.abs(audio).sum(axis=1) > 0)
    return Embeddings(list(ids), out["fused"].astype(np.float32), out["visual"].astype(np.float32), audio, has_audio)


def _empty_like(_) -> Embeddings:
    return Embeddings.empty()
