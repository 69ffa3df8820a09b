"""``run_extract``: the extract stage over a workspace (resumable, failure-tolerant)."""

from __future__ import annotations

import logging

from reelmatch.extract.config import WORKER_MODULES, ClipConfig
from reelmatch.runner import Progress, RunOptions, Stage, StageResult, run_stage

log = logging.getLogger(__name__)

#: seconds one item may take before its worker is killed
DEFAULT_TIMEOUT = 300.0
#: decoding threads per item inside a worker (1: the instants and the audio in order).
#: Parallelism comes from items, one per worker: threads inside an item cost CPU
#: (10% measured with 2 item threads and 2 frame threads per decoder) and only pay
#: off when fewer items than cores remain; ``extract_clip`` alone (one file, e.g.
#: ``similar VIDEO_FILE``) uses more for latency
ITEM_THREADS = 1
#: FFmpeg frame threads of each video decoder in a worker (1, same reason; the
#: frames of an intact stream do not depend on it)
ITEM_DECODER_THREADS = 1
#: address-space limit of each worker (MB); an absurd file fails instead of swapping
DEFAULT_MAX_MEMORY_MB = 4096

def extract_task(task: tuple) -> object:
    """Worker side: ``(item_id, path, title, config) -> Clip`` (raises on a bad file)."""
    from reelmatch.extract.clip import extract_clip
    from reelmatch.runtime import fetch_local, is_url

    item_id, path, title, config = task
    if is_url(path):  # media on object storage (fsspec URL): decode a local copy
        path = fetch_local(path)
    return extract_clip(path, config, item_id=item_id, title=title, threads=ITEM_THREADS, decoder_threads=ITEM_DECODER_THREADS)


def extract_record_task(task: tuple) -> object:
    """Worker side: the clip of ``task`` encoded as its record (frames compressed here, not in the driver)."""
    from reelmatch.dataset.store import encode_record

    return encode_record(extract_task(task), task[3])


def extract_write_task(root: str, run: str, task: tuple, shard_url: str | None = None) -> object:
    """Worker side: extract, encode and append the record to this worker's own shard; returns its ``RecordRef``.

    ``shard_url``: the store's shards are on this fsspec URL (the record is uploaded there as its own object).
    """
    from reelmatch.dataset.store import worker_append

    return worker_append(root, task[3], run, extract_record_task(task), shard_url)


#: imported once by the local engine's fork server: workers start with PyAV loaded
extract_task.preload_modules = WORKER_MODULES
extract_record_task.preload_modules = WORKER_MODULES
extract_write_task.preload_modules = WORKER_MODULES


class _ExtractJob:
    """Items with media whose extract stage is not done with the config; records go to the clip store.

    Workers extract and encode (frames compressed in the worker). With
    ``options.workers_write`` they also append the record to their own shard
    and return its :class:`~reelmatch.dataset.store.RecordRef`; else this
    process appends the encoded bytes. Either way :meth:`sync` (called by the
    runner before each catalogue commit) makes the records durable and indexes
    them in one transaction. Before starting, what a killed run wrote but never
    committed is removed (:meth:`ClipStore.recover`).
    """

    marks_done = False

    def __init__(self, ws, config: ClipConfig, options):
        from functools import partial

        from reelmatch.dataset.store import ClipStore, new_run_id, set_current_config

        self.fingerprint = fp = config.fingerprint
        cat = ws.catalog
        todo = cat.todo("extract", fp, retry_failed=options.retry_failed, kind=options.kind)
        with_media = [it for it in todo if it.media_path]
        if with_media and options.warm_up is not None:  # the workers' imports overlap the set-up below
            options.warm_up(WORKER_MODULES)
        self.no_media = len(todo) - len(with_media)
        self.already = len(cat.done_ids("extract", fp))
        set_current_config(ws, config)
        self.store = ClipStore(ws, config)
        self.recovered = self.store.recover() if self.store.shard_url or self.store.shard_dir.exists() else {}
        self.tasks = [(it.id, it.media_path if "://" in it.media_path else str(ws.media_file(it)), it.title, config)
                      for it in with_media]
        self.total = len(self.tasks)
        self.writer = self.store.writer() if self.tasks else None
        self.workers_write = bool(options.workers_write)
        if self.workers_write:
            self.fn = partial(extract_write_task, str(self.store.root), self.writer.run if self.writer else new_run_id(),
                              shard_url=self.store.shard_url)
            self.fn.preload_modules = extract_write_task.preload_modules
        else:
            self.fn = extract_record_task
        self.refs: list = []
        self.bytes_written = 0
        log.info("extract: %d already done, %d without media", self.already, self.no_media)

    def write(self, task, result, error):
        from reelmatch.dataset.store import RecordRef

        if error is None:
            try:
                ref = result if isinstance(result, RecordRef) else self.writer.append(result)
                if ref.id != task[0]:
                    raise ValueError(f"the worker returned the record of {ref.id!r}")
                self.refs.append(ref)
                self.bytes_written += ref.size
            except (OSError, ValueError) as e:
                error = f"could not store the clip: {e}"
        return {task[0]: error}

    def sync(self) -> None:
        """The records written so far: durable, then indexed in one transaction."""
        if self.refs:
            self.writer.sync()
            self.store.commit(self.refs)
            self.refs = []

    def close(self) -> dict:
        try:
            if self.writer is not None:
                self.writer.close()
                if self.workers_write:
                    self.store.recover()  # close the workers' shards (end-of-archive marker)
            clips = len(self.store)
        finally:
            self.store.close()
        return {"config": self.fingerprint, "already_done": self.already, "skipped_no_media": self.no_media,
                "clips": clips, "bytes_written": self.bytes_written, "recovered": self.recovered,
                "artifact": self.store.root}


#: the extract stage, for :func:`reelmatch.runner.run_stage`
EXTRACT = Stage("extract", plan=_ExtractJob, timeout=DEFAULT_TIMEOUT, max_memory_mb=DEFAULT_MAX_MEMORY_MB)


def run_extract(
    ws,
    config: ClipConfig = ClipConfig(),
    *,
    workers: int | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    retry_failed: bool = False,
    progress: Progress | None = None,
    max_memory_mb: int | None = DEFAULT_MAX_MEMORY_MB,
    kind: str | None = None,
    engine=None,
    workers_write: bool | None = None,
    commit_every: int = 256,
    commit_seconds: float = 1.0,
) -> dict:
    """Extract a clip for every item with media whose extract stage is not done with ``config``.

    Workers decode and encode the records (the :data:`EXTRACT` stage run by
    :func:`reelmatch.runner.run_stage`); with ``workers_write`` (default on the Ray
    engine) they also append them to their own shards. This process makes them
    durable, indexes them and marks the items done or failed (one-line reason) in
    batches of ``commit_every`` items or ``commit_seconds``, so a run killed at any
    point loses nothing committed and a new run redoes nothing committed. Failed items are retried only with ``retry_failed``.
    ``progress(done, total, item_id, error)`` is called after each item.
    ``engine``: ``"local"`` (default, a process pool), ``"ray"`` or an engine
    object (:func:`reelmatch.engine.get_engine`); the records are the same.

    Returns a summary: ``{"config", "total", "done", "failed", "skipped_no_media",
    "already_done", "clips", "seconds", "failures": [{"id", "title", "error"}]}``.
    """
    res = extract_stage(ws, config, workers=workers, timeout=timeout, retry_failed=retry_failed, progress=progress,
                        max_memory_mb=max_memory_mb, kind=kind, engine=engine, workers_write=workers_write,
                        commit_every=commit_every, commit_seconds=commit_seconds)
    return res.result


def extract_stage(ws, config: ClipConfig = ClipConfig(), *, workers=None, timeout=DEFAULT_TIMEOUT,
                  retry_failed=False, progress=None, max_memory_mb=DEFAULT_MAX_MEMORY_MB, kind=None,
                  engine=None, workers_write=None, commit_every=256, commit_seconds=1.0) -> StageResult:
    """:func:`run_extract` returning the :class:`~reelmatch.runner.StageResult` (its summary in ``.result``)."""
    options = RunOptions(workers=workers, timeout=timeout, retry_failed=retry_failed, max_memory_mb=max_memory_mb,
                         kind=kind, workers_write=workers_write, commit_every=commit_every,
                         commit_seconds=commit_seconds)
    res = run_stage(ws, EXTRACT, config, engine, progress, options)
    c = res.counts
    res.summary = (f"{res.done} extracted, {res.failed} failed, {c['clips']} clips in the store" if res.total
                   else f"{c['clips']} clips")
    res.result = {
        "config": c["config"], "total": res.total, "done": res.done, "failed": res.failed,
        "already_done": c["already_done"], "skipped_no_media": c["skipped_no_media"], "clips": c["clips"],
        "seconds": round(res.seconds, 3), "failures": res.failures,
    }
    return res
