"""The embed stage: vectors for every extracted clip of a workspace."""

from __future__ import annotations

import logging
import time
from functools import partial
from pathlib import Path

import numpy as np

from reelmatch.config import fingerprint, to_jsonable
from reelmatch.embed.config import EmbedConfig
from reelmatch.embed.embedder import get_embedder
from reelmatch.embed.vectors import Embeddings, embeddings_path, read_embeddings, save_embeddings
from reelmatch.errors import one_line
from reelmatch.runner import LocalFirst, Stage

log = logging.getLogger(__name__)


def stage_fingerprint(model_fingerprint: str, clip_fingerprint: str) -> str:
    """The catalogue fingerprint of an item's embed stage: which model, which clip config."""
    return fingerprint({"model": model_fingerprint, "clip": clip_fingerprint})


class _EmbedJob:
    """Clips without vectors of this model and clip config; batches embedded by the engine, saved here.

    Items are marked done only once their vectors are on disk (``marks_done``): at
    each flush (every ``config.save_every`` vectors or two minutes) and at the end.
    With ``options.workers_write`` the workers write their vectors as blocks
    (:mod:`reelmatch.embed.blocks`) and return refs: :meth:`sync` commits them
    before the runner marks the batch done, and :meth:`close` folds the committed
    blocks into the embeddings file once. Blocks a killed run committed are folded
    in here (kept, not redone); blocks it wrote but never committed are deleted.
    """

    marks_done = True

    def __init__(self, ws, job_config, options):
        from reelmatch.dataset.store import ClipStore, new_run_id
        from reelmatch.embed.blocks import BlockIndex, blocks_url

        config, embedder, clip_config = job_config
        self.ws, self.config, self.embedder = ws, config, embedder
        self.store = store = ClipStore(ws, clip_config)
        clip_fp = store.config.fingerprint
        model_fp = embedder.fingerprint
        self.fingerprint = fp = stage_fingerprint(model_fp, clip_fp)
        self.path = path = embeddings_path(ws, config.name)
        self.meta = {
            **embedder.describe(),
            "model_fingerprint": model_fp,
            "clip_fingerprint": clip_fp,
            "stage_fingerprint": fp,
            "embed_config": to_jsonable(config),
        }
        if embedder.mode == "backbone":
            log.info("embed: using the pretrained backbone alone (no trained model yet)")
        self.old = old = _previous(path, model_fp, clip_fp)
        # vector blocks: what a killed run wrote but never committed goes; what it committed is kept
        storage = getattr(ws, "storage", None)
        self.blocks = BlockIndex(path, blocks_url(storage, path) if storage else None)
        self.recovered = self.blocks.recover()
        committed, _ = self.blocks.load(fp)
        self.folded = len(committed) if committed is not None else 0
        if committed is not None:
            old = committed if old is None else old.concat(committed)
            old.meta = dict(self.meta)
            self.old = old
        catalogue = {it.id for it in ws.catalog.items()}
        store_ids = [i for i in store.ids() if i in catalogue]
        # a model with plot text also embeds the titles that have a plot and no clip yet (text-only)
        in_store = set(store_ids)
        text_only = sorted(i for i in getattr(embedder, "text_vectors", {}) if i in catalogue and i not in in_store) \
            if getattr(embedder, "has_text", False) else []
        done = set(ws.catalog.done_ids("embed", fp))
        todo_cat = {it.id for it in ws.catalog.todo("embed", fp, retry_failed=options.retry_failed)}
        keep, self.todo = [], []
        for i in store_ids + text_only:
            # a kept vector was made from what the item has now (a text-only title whose clip came is redone)
            same = old is not None and i in old and bool(old.has_visual[old.row(i)]) == (i in in_store)
            if same and i in done and i not in todo_cat:
                keep.append(i)
            elif i in todo_cat or i in done:
                self.todo.append(i)
        self.text_only = len(text_only)
        self.emb = old.subset(keep) if old is not None else None
        if self.emb is not None:
            self.emb.meta = dict(self.meta)
        self.total = len(self.todo)
        log.info("embed: %d item(s) to embed, %d kept, model %s (%s)%s", self.total, len(keep), model_fp, embedder.mode,
                 f"; {len(text_only)} title(s) without a clip, by their plot" if text_only else "")
        self.pending: list[Embeddings] = []
        self.pending_ids: list[str] = []
        self.last_save = time.monotonic()
        self.local = LocalFirst(embedder_factory(embedder), local=embedder)
        self.workers_write = bool(options.workers_write)
        self.marks_done = not self.workers_write  # with blocks, the runner marks each batch after sync()
        self.refs: list = []
        self.block_ids: dict[str, tuple] = {}  # this run's committed blocks: name -> ids
        block_dir = self.blocks.location if self.workers_write else None
        self.fn = partial(_make_embed_fn, self.local, str(store.root), store.config, block_dir, new_run_id(),
                          store.shard_url)

    @property
    def tasks(self):
        """Batches of ids: the worker reads their clips from the store's shards itself (told where
        they are when the shards are on a URL: :func:`~reelmatch.dataset.store.id_batch`)."""
        from reelmatch.dataset.store import id_batch

        size = self.config.batch_size
        for start in range(0, len(self.todo), size):
            yield id_batch(self.store, self.todo[start : start + size])

    def write(self, task, out, error):
        if error is None and not (isinstance(out, tuple) and len(out) == 2):
            error = f"embed worker returned {type(out).__name__}"
        if error is not None:
            return {i: error for i in task}
        part, outcome = out
        outcome = {i: outcome.get(i) for i in task}
        from reelmatch.embed.blocks import BlockRef

        if isinstance(part, BlockRef):  # the worker wrote its vectors: keep the ref, commit it in sync()
            if part.rows:
                self.refs.append(part)
            got = set(part.ids)
            for i in task:
                if outcome[i] is None and i not in got:
                    outcome[i] = "embed worker returned no vector"
            return outcome
        if len(part):
            self.pending.append(part)
            self.pending_ids.extend(part.ids)
        got = set(part.ids)
        missing = [i for i in task if outcome[i] is None and i not in got]
        for i in missing:
            outcome[i] = "embed worker returned no vector"
        if len(self.pending_ids) >= self.config.save_every or time.monotonic() - self.last_save > 120:
            self.flush()
        return outcome

    def flush(self) -> None:
        for part in self.pending:
            self.emb = part if self.emb is None else self.emb.concat(part)
        if self.emb is None:
            self.emb = Embeddings.empty(meta=self.meta)
        self.emb.meta = dict(self.meta)
        save_embeddings(self.emb, self.path, self.config)
        # done only once the vectors are on disk, in one transaction
        self.ws.catalog.mark_many("embed", [(i, None) for i in self.pending_ids], self.fingerprint)
        self.pending, self.pending_ids, self.last_save = [], [], time.monotonic()

    def sync(self) -> None:
        """The blocks written so far: committed in one transaction (the runner then marks their items done)."""
        if self.refs:
            self.blocks.commit(self.refs, self.fingerprint)
            self.block_ids.update({r.name: r.ids for r in self.refs})
            self.refs = []

    def _fold_blocks(self) -> None:
        """This run's committed blocks into ``self.emb`` (damaged ones fail their items)."""
        if not self.block_ids:
            return
        part, bad = self.blocks.load(self.fingerprint)
        if part is not None:
            mine = {i for ids in self.block_ids.values() for i in ids}
            part = part.subset([i for i in part.ids if i in mine])
            self.emb = part if self.emb is None else self.emb.concat(part)
        failed = [(i, f"vector block lost: {reason}") for name, reason in bad.items() for i in self.block_ids.get(name, ())]
        if failed:
            self.ws.catalog.mark_many("embed", failed, self.fingerprint)

    def close(self) -> dict:
        try:
            emb, old = self.emb, self.old
            if self.workers_write or self.folded:
                self._fold_blocks()
                self.flush()
            elif self.pending or emb is None or old is None or len(emb) != len(old) or self.todo:
                self.flush()
            if self.blocks.exists():
                self.blocks.clear()  # folded into the embeddings file (or of another model: stale)
        finally:
            self.blocks.close()
        log.info("embed: %d vectors in %s", len(self.emb), self.path)
        return {"vectors": len(self.emb), "mode": self.embedder.mode, "artifact": self.path,
                "text_only": int((~self.emb.has_visual).sum()), "recovered_blocks": self.recovered["removed"]}


def _previous(path: Path, model_fp: str, clip_fp: str) -> Embeddings | None:
    """The embeddings at ``path`` when they were made by this model and clip config, else None."""
    if not path.exists():
        return None
    try:
        old = read_embeddings(path)
    except Exception as e:  # noqa: BLE001 - unreadable: recompute everything
        log.warning("embed: %s is unreadable (%s): recomputing", path.name, one_line(e, with_type=True, limit=300))
        return None
    if old.model_fingerprint != model_fp or old.clip_fingerprint != clip_fp:
        log.info(
            "embed: %s was made by model %s / clip config %s, now %s / %s: recomputing all",
            path.name, old.model_fingerprint, old.clip_fingerprint, model_fp, clip_fp,
        )
        return None
    return old


def _embed_one_by_one(embedder, ids, clips, first_error=None) -> tuple[Embeddings, dict[str, str]]:
    """Embed clips one at a time: ``(the vectors of those that work, {id: reason} of the others)``."""
    if len(clips) == 1 and first_error is not None:
        return _empty_like(None), {ids[0]: first_error}
    parts, failed = [], {}
    for i, c in zip(ids, clips):
        try:
            parts.append(_to_embeddings([i], [c], embedder.embed([c])))
        except Exception as e:  # noqa: BLE001 - that clip fails alone
            failed[i] = one_line(e, with_type=True, limit=300)
    out = None
    for p in parts:
        out = p if out is None else out.concat(p)
    return (out if out is not None else _empty_like(None)), failed


#: the embed stage, for :func:`reelmatch.runner.run_stage` (model work: one embedder per worker)
EMBED = Stage("embed", plan=_EmbedJob, batched=True)


def run_embed(
    ws,
    config: EmbedConfig = EmbedConfig(),
    *,
    embedder=None,
    clip_config=None,
    progress=None,
    retry_failed: bool = False,
    engine=None,
    workers_write: bool | None = None,
) -> Path:
    """Embed every clip of ``ws`` with its current model; returns the embeddings path.

    Incremental: vectors of the same model and clip config are kept and only new
    (or re-extracted) items are computed. Embeddings made by another model or
    clip config are recomputed from scratch, never mixed. Before any model is
    trained the pretrained backbone is used alone (``meta["mode"] == "backbone"``).
    A clip that fails is marked failed (stage ``embed``) and the batch goes on.
    ``embedder`` overrides the choice (an object with ``fingerprint``,
    ``describe()`` and ``embed(clips)``). ``clip_config``: the clips to embed
    (None: the workspace's current clip config). ``engine``: ``None``/``"local"``
    embeds here; ``"ray"`` or an engine object runs ``embed`` on its workers (GPU
    actors when the cluster has GPUs); same vectors. ``progress(done, total, item_id, error)``.
    ``workers_write`` (default: the engine's, on with Ray): workers write their vectors as
    blocks (:mod:`reelmatch.embed.blocks`), this process commits refs and folds the blocks
    into the embeddings file at the end; same file.
    """
    return Path(embed_stage(ws, config, embedder=embedder, clip_config=clip_config, progress=progress,
                            retry_failed=retry_failed, engine=engine, workers_write=workers_write).artifact)


def embed_stage(ws, config: EmbedConfig = EmbedConfig(), *, embedder=None, clip_config=None, progress=None,
                retry_failed: bool = False, engine=None, workers_write: bool | None = None,
                commit_every: int = 256, commit_seconds: float = 1.0):
    """:func:`run_embed` returning the :class:`~reelmatch.runner.StageResult`."""
    from reelmatch.runner import RunOptions, run_stage

    if clip_config is None:
        from reelmatch.dataset.store import resolve_clip_config

        clip_config = resolve_clip_config(ws)
    embedder = embedder or get_embedder(ws, config, clip_config=clip_config)
    if progress is not None:
        from reelmatch.train.features import _two_or_four

        progress = _two_or_four(progress)
    res = run_stage(ws, EMBED, (config, embedder, clip_config), engine, progress, RunOptions(
        retry_failed=retry_failed, workers_write=workers_write, commit_every=commit_every, commit_seconds=commit_seconds))
    kind = {"model": "trained model", "self-supervised": "self-supervised model"}.get(res.counts["mode"],
                                                                                      "pretrained backbone alone")
    res.summary = f"{res.counts['vectors']} vectors ({kind})"
    if res.counts.get("text_only"):
        res.summary += f", {res.counts['text_only']} of them titles without a clip (by their plot)"
    return res


def embedder_factory(embedder):
    """A picklable zero-argument callable that rebuilds ``embedder`` on another worker."""
    from functools import partial

    from reelmatch.embed.embedder import BackboneEmbedder, ModelEmbedder

    if type(embedder) is BackboneEmbedder:
        return partial(BackboneEmbedder, embedder.name, embedder.audio_weight, pretrained=embedder.pretrained)
    if type(embedder) is ModelEmbedder:
        # the checkpoint (and the text features) must be readable by the workers
        return partial(ModelEmbedder, embedder.checkpoint, text_cache=embedder.text_cache,
                       audio_cache=embedder.audio_cache)
    return partial(_same, embedder)  # any other embedder travels pickled


def _same(obj):
    return obj


def _make_embed_fn(factory, store_root: str, clip_config, block_dir: str | None = None, run: str = "",
                   shard_url: str | None = None):
    """Worker side, once per worker: build the embedder and open the clip store; the returned
    function embeds a batch of ids (:func:`embed_batch`), reading the clips itself. With
    ``block_dir`` it writes the vectors as a block there and returns only its
    :class:`~reelmatch.embed.blocks.BlockRef` (and the outcomes)."""
    from reelmatch.dataset.store import ClipStore
    from reelmatch.runtime import worker_device

    embedder = _on_device(factory(), worker_device())
    store = ClipStore.open_dir(Path(store_root), clip_config, shard_url)
    if block_dir is None:
        return partial(_embed_ids, embedder, store)
    return partial(_embed_to_block, embedder, store, block_dir, run)


def _embed_to_block(embedder, store, block_dir: str, run: str, ids):
    from reelmatch.embed.blocks import write_block

    from reelmatch.embed.blocks import BlockRef

    part, outcome = _embed_ids(embedder, store, ids)
    if not len(part):  # nothing embedded: no block
        return BlockRef((), "", 0, 0), outcome
    return write_block(block_dir, run, part), outcome


def _embed_ids(embedder, store, ids):
    store.use_batch(ids)  # a batch that says where its records are
    return embed_batch(embedder, store, ids)


def embed_batch(embedder, store, ids) -> tuple[Embeddings, dict[str, str | None]]:
    """Worker side: ``(vectors of the clips of ids that embed, {id: None or reason})``.

    Clips are read from ``store``; a batch that fails is redone clip by clip, so
    one bad clip fails alone.
    """
    clips, ok_ids, outcome = [], [], {}
    text_only = [i for i in ids if i not in store] if getattr(embedder, "has_text", False) else []
    parts = []
    if text_only:  # titles with a plot and no clip: the text tower alone
        try:
            out = embedder.embed_text_only(text_only)
            parts.append(Embeddings(list(text_only), out["fused"], out["visual"], out["audio"],
                                    np.zeros(len(text_only), bool), text=out["text"], has_text=out["has_text"],
                                    has_visual=out["has_visual"]))
            outcome.update({i: None for i in text_only})
        except Exception as e:  # noqa: BLE001 - those titles fail, the clips go on
            outcome.update({i: one_line(e, with_type=True, limit=300) for i in text_only})
        ids = [i for i in ids if i not in set(text_only)]
    for i in ids:
        try:
            clips.append(store.get(i))
            ok_ids.append(i)
        except Exception as e:  # noqa: BLE001 - an unreadable clip fails its item
            outcome[i] = f"reading the clip: {one_line(e, with_type=True, limit=300)}"
    if not clips:
        return (parts[0] if parts else Embeddings.empty()), outcome
    part, error = None, None
    try:
        part = _to_embeddings(ok_ids, clips, embedder.embed(clips))
    except Exception as e:  # noqa: BLE001 - retried one by one below
        error = one_line(e, with_type=True, limit=300)
    if part is None:
        if len(clips) > 1:
            log.warning("embed: a batch failed (%s); retrying its %d clips one by one", error, len(clips))
        part, failed = _embed_one_by_one(embedder, ok_ids, clips, first_error=error)
        outcome.update(failed)
    outcome.update({i: None for i in part.ids})
    for p in parts:
        part = p.concat(part) if len(part) else p
    return part, outcome


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


def _to_embeddings(ids, clips, out: dict) -> Embeddings:
    for name in ("fused", "visual", "audio"):
        a = out[name]
        if a.shape[0] != len(ids) or not np.isfinite(a).all():
            raise ValueError(f"embedder returned bad {name} vectors: shape {a.shape} for {len(ids)} clips")
    audio = out["audio"].astype(np.float32)
    # a silent track gives a zero audio vector: no audio score rather than a meaningless 0
    has_audio = np.array([bool(c.has_audio) for c in clips]) & (np.abs(audio).sum(axis=1) > 0)
    return Embeddings(list(ids), out["fused"].astype(np.float32), out["visual"].astype(np.float32), audio, has_audio,
                      text=out.get("text"), has_text=out.get("has_text"), has_visual=out.get("has_visual"))


def _empty_like(_) -> Embeddings:
    return Embeddings.empty()
