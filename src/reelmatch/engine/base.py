"""The engine interface and the local engine.

An engine maps a per-item function over items and yields ``(item, result)``
pairs as results arrive; ``result`` is the function's return value or an
:class:`~reelmatch.errors.ItemFailure` (one-line reason), never raised.
The caller (:func:`reelmatch.runner.run_stage`) alone writes to the catalogue and
the stores, whatever the engine, so the artifacts do not depend on it.

Two kinds of work:

- ``map(fn, items)``: one call per item, CPU work (decode a video) or, with
  ``io_bound=True``, work that waits on the network (download a URL).
  ``fn`` is a module-level function (or a ``functools.partial`` of one).
- ``map_batches(make_fn, batches)``: model work. ``make_fn()`` is called once per
  worker and returns the function applied to each batch, so a model is loaded
  once per worker (a GPU actor under Ray), not once per batch.

Engines are named (:func:`reelmatch.engine.get_engine`): ``local`` (process pool,
this module) and ``ray`` (Ray Data, :mod:`reelmatch.engine.ray`).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Engine(Protocol):
    name: str

    def map(
        self,
        fn: Callable[[Any], Any],
        items: Iterable[Any],
        *,
        workers: int | None = None,
        timeout: float | None = None,
        max_memory_mb: int | None = None,
        io_bound: bool = False,
    ) -> Iterator[tuple[Any, Any]]: ...

    def map_batches(
        self, make_fn: Callable[[], Callable[[Any], Any]], batches: Iterable[Any], *, workers: int | None = None
    ) -> Iterator[tuple[Any, Any]]: ...


class LocalEngine:
    """This machine: items in a crash-isolating process pool, batches in this process.

    ``map`` is :func:`reelmatch.engine.local.run_items`; with ``io_bound`` (work that
    waits on the network) it runs the items in threads of this process instead
    (no time limit, no crash isolation: such work neither hangs a core nor
    crashes). ``map_batches`` runs in
    the calling process (a model's math already uses every core through its
    threads; loading it in several processes would only multiply memory).
    """

    name = "local"

    def __init__(self, workers: int | None = None, *, workers_write: bool = False):
        self.workers = workers
        #: stages let the workers write their own output files (False: results come to the caller,
        #: which writes them; small records travel through the pipes either way)
        self.workers_write = workers_write

    def __repr__(self) -> str:
        return f"LocalEngine(workers={self.workers})"

    def map(self, fn, items, *, workers=None, timeout=None, max_memory_mb=None, io_bound=False):
        from reelmatch.engine.local import run_items

        if io_bound:
            return _map_threads(fn, items, self.workers if workers is None else workers)

        return run_items(
            fn, items, workers=self.workers if workers is None else workers, timeout=timeout, max_memory_mb=max_memory_mb
        )

    def map_batches(self, make_fn, batches, *, workers=None):
        return _map_batches_inline(make_fn, batches)

    def warm_up(self, preload: tuple[str, ...] = ()) -> None:
        """Start the process pool's fork server now, in the background, importing ``preload`` once.

        Called by a stage's plan as soon as it knows it has items to do (a
        catalogue query), so the workers' imports overlap the rest of its
        set-up; ``map`` then forks the workers from it. No-op with ``workers=0``.
        """
        if self.workers == 0:
            return
        from reelmatch.engine.local import start_forkserver

        start_forkserver(preload)


def _map_threads(fn, items, workers: int | None) -> Iterator[tuple[Any, Any]]:
    """``fn(item)`` in a thread pool of this process; ``(item, result)`` in completion order."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from reelmatch.runtime import check_workers

    items = list(items)
    if not items:
        return
    n = min(check_workers(workers, minimum=1, default=4), len(items))
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="item") as pool:
        futures = {pool.submit(_call_reporting, fn, it): it for it in items}
        try:
            for fut in as_completed(futures):
                yield futures[fut], fut.result()
        except BaseException:  # interrupted or closed early: start nothing new
            for fut in futures:
                fut.cancel()
            raise


def _call_reporting(fn, item):
    from reelmatch.errors import failure_from_exception

    try:
        return fn(item)
    except Exception as e:  # noqa: BLE001 - every failure is reported as the item's
        log.debug("item failed: %s", traceback.format_exc())
        return failure_from_exception(e)


def _map_batches_inline(make_fn, batches) -> Iterator[tuple[Any, Any]]:
    from reelmatch.errors import failure_from_exception

    fn = None
    for batch in batches:
        try:
            if fn is None:
                fn = make_fn()
            result = fn(batch)
        except Exception as e:  # noqa: BLE001 - every failure is reported as the batch's
            log.debug("batch failed: %s", traceback.format_exc())
            result = failure_from_exception(e)
        yield batch, result
