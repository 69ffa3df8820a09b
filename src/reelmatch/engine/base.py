"""The engine interface and the local engine.

An engine maps a per-item function over items and yields ``(item, result)``
pairs as results arrive; ``result`` is the function's return value or an
:class:`~reelmatch.engine.local.ItemFailure` (one-line reason), never raised.
The caller (a stage such as ``run_extract``) alone writes to the catalogue and
the stores, whatever the engine, so the artifacts do not depend on it.

Two kinds of work:

- ``map(fn, items)``: one call per item, CPU work (decode a video, download a
  URL). ``fn`` is a module-level function (or a ``functools.partial`` of one).
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
    ) -> Iterator[tuple[Any, Any]]: ...

    def map_batches(
        self, make_fn: Callable[[], Callable[[Any], Any]], batches: Iterable[Any], *, workers: int | None = None
    ) -> Iterator[tuple[Any, Any]]: ...


class LocalEngine:
    """This machine: items in a crash-isolating process pool, batches in this process.

    ``map`` is :func:`reelmatch.engine.local.run_items`. ``map_batches`` runs in
    the calling process (a model's math already uses every core through its
    threads; loading it in several processes would only multiply memory).
    """

    name = "local"

    def __init__(self, workers: int | None = None):
        self.workers = workers

    def __repr__(self) -> str:
        return f"LocalEngine(workers={self.workers})"

    def map(self, fn, items, *, workers=None, timeout=None, max_memory_mb=None):
        from reelmatch.engine.local import run_items

        return run_items(
            fn, items, workers=self.workers if workers is None else workers, timeout=timeout, max_memory_mb=max_memory_mb
        )

    def map_batches(self, make_fn, batches, *, workers=None):
        return _map_batches_inline(make_fn, batches)


def _map_batches_inline(make_fn, batches) -> Iterator[tuple[Any, Any]]:
    from reelmatch.engine.local import failure_from_exception

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
