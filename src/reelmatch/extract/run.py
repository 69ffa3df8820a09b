"""``run_extract``: the extract stage over a workspace (resumable, failure-tolerant)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from reelmatch.extract.config import ClipConfig

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

Progress = Callable[[int, int, str, "str | None"], None]


def extract_task(task: tuple) -> object:
    """Worker side: ``(item_id, path, title, config) -> Clip`` (raises on a bad file)."""
    from reelmatch.extract.clip import extract_clip

    item_id, path, title, config = task
    if "://" in path:  # media on object storage (fsspec URL): decode a local copy
        from reelmatch.engine.ray import fetch_local

        path = fetch_local(path)
    return extract_clip(path, config, item_id=item_id, title=title, threads=ITEM_THREADS, decoder_threads=ITEM_DECODER_THREADS)


#: imported once by the local engine's fork server: workers start with PyAV loaded
extract_task.preload_modules = ("av", "reelmatch.extract.clip", "reelmatch.extract.video", "reelmatch.extract.audio")


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
) -> dict:
    """Extract a clip for every item with media whose extract stage is not done with ``config``.

    Workers decode (see :func:`reelmatch.engine.local.run_items`); this process
    alone appends records to the :class:`~reelmatch.dataset.store.ClipStore` and
    marks each item done or failed (one-line reason) in the catalogue, item by
    item, so a run killed at any point loses nothing finished and a new run
    redoes nothing finished. Failed items are retried only with ``retry_failed``.
    ``progress(done, total, item_id, error)`` is called after each item.
    ``engine``: ``"local"`` (default, a process pool), ``"ray"`` or an engine
    object (:func:`reelmatch.engine.get_engine`); the records are the same.

    Returns a summary: ``{"config", "total", "done", "failed", "skipped_no_media",
    "already_done", "clips", "seconds", "failures": [{"id", "title", "error"}]}``.
    """
    from reelmatch.dataset.store import ClipStore, set_current_config
    from reelmatch.engine import get_engine
    from reelmatch.engine.local import ItemFailure

    t_start = time.monotonic()
    fp = config.fingerprint
    cat = ws.catalog
    todo = cat.todo("extract", fp, retry_failed=retry_failed, kind=kind)
    with_media = [it for it in todo if it.media_path]
    no_media = len(todo) - len(with_media)
    already = len(cat.done_ids("extract", fp))
    set_current_config(ws, config)
    store = ClipStore(ws, config)
    titles = {it.id: it.title for it in with_media}
    tasks = [(it.id, it.media_path if "://" in it.media_path else str(ws.media_file(it)), it.title, config)
             for it in with_media]
    total = len(tasks)
    log.info("extract: %d items to do (config %s), %d already done, %d without media", total, fp, already, no_media)
    n_done = n_failed = 0
    failures = []
    writer = store.writer() if tasks else None
    try:
        results = get_engine(engine).map(extract_task, tasks, workers=workers, timeout=timeout, max_memory_mb=max_memory_mb)
        for task, result in results:
            item_id = task[0]
            error = None
            if isinstance(result, ItemFailure):
                error = result.reason
            else:
                try:
                    writer.add(result)
                except (OSError, ValueError) as e:
                    error = f"could not store the clip: {e}"
            if error is None:
                cat.mark_done(item_id, "extract", fp)
                n_done += 1
            else:
                cat.mark_failed(item_id, "extract", error, fp)
                failures.append({"id": item_id, "title": titles.get(item_id), "error": error})
                n_failed += 1
                log.info("extract failed: %s (%s): %s", titles.get(item_id), item_id, error)
            if progress is not None:
                progress(n_done + n_failed, total, item_id, error)
    finally:
        if writer is not None:
            writer.close()
        clips = len(store)
        store.close()
    return {
        "config": fp,
        "total": total,
        "done": n_done,
        "failed": n_failed,
        "already_done": already,
        "skipped_no_media": no_media,
        "clips": clips,
        "seconds": round(time.monotonic() - t_start, 3),
        "failures": failures,
    }
