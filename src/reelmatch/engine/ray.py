"""The Ray engine: the local engine's per-item functions, mapped with Ray Data.

``RayEngine(address)`` connects to a Ray cluster (``None``: the running
instance, ``$RAY_ADDRESS``, or a new local one) and maps the SAME functions the
local engine runs:

- ``map(fn, items)``: a Ray Data ``map_batches`` of stateless tasks, one item
  per block, so a worker that dies (segfault, out of memory) loses that one item
  only: Ray retries it ``max_retries`` times, then the item is reported as a
  crash and the batch goes on (``DataContext.max_errored_blocks = -1``).
- ``map_batches(make_fn, batches)``: a Ray Data ``map_batches`` over an actor
  pool; each actor calls ``make_fn()`` once (loads the model) and applies it to
  its batches. Actors take one GPU each when the cluster has GPUs, else CPUs.

Items and results travel pickled (``cloudpickle``) in a binary column, exactly
as the local pool sends them through pipes. ``workers_write`` (default True)
tells the stages that the workers write their own output files (clip shards,
feature files) to the workspace's storage and send back only metadata; the
caller commits the catalogue in batches as results arrive. The records are the
same as the local engine's (tests/test_ray.py checks it), and an interrupted run
loses nothing committed. Items are sent in windows of ``window`` items so a catalogue
of a million rows is never materialised in the object store at once.

Media and artifacts may be fsspec URLs (``s3://``, ``gs://``, ``file://``...):
:func:`reelmatch.runtime.fetch_local` gives a worker a local copy of a remote input (cached per
node), :func:`reelmatch.runtime.publish` copies a finished artifact directory to a URL.
"""

from __future__ import annotations

import logging
import signal
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from reelmatch.errors import InputError, require

log = logging.getLogger(__name__)

#: items per Ray Data dataset (a window); results of a window stream as they finish
DEFAULT_WINDOW = 1024


class _Timeout(Exception):
    pass


def _call(fn, item, timeout: float | None):
    """``fn(item)`` -> ``(ok, result-or-ItemFailure)``; a Python-level time limit in the main thread."""
    from reelmatch.errors import ItemFailure, failure_from_exception

    use_alarm = timeout is not None and threading.current_thread() is threading.main_thread()
    if use_alarm:
        def on_alarm(signum, frame):
            raise _Timeout()

        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return True, fn(item)
    except _Timeout:
        return False, ItemFailure(f"timed out after {timeout:g} s", "timeout")
    except MemoryError:
        return False, ItemFailure("out of memory", "error", "MemoryError")
    except Exception as e:  # noqa: BLE001 - every failure is reported as the item's
        log.debug("item failed: %s", traceback.format_exc())
        return False, failure_from_exception(e)
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)


def _run_rows(batch: dict, fn_blob: bytes, timeout: float | None) -> dict:
    """Ray task body: unpickle each task, run it, pickle its result."""
    import numpy as np
    from ray import cloudpickle

    from reelmatch.errors import ItemFailure
    from reelmatch.runtime import single_threaded

    single_threaded()  # as in the local engine's workers: same rounding, no oversubscription
    try:
        fn = cloudpickle.loads(fn_blob)
    except Exception as e:  # noqa: BLE001 - e.g. the function's module is not installed on the worker
        fn, load_error = None, ItemFailure(
            f"the function cannot be loaded on the Ray worker (is reelmatch installed there?): {type(e).__name__}: {e}"
        )
    out = []
    for blob in batch["task"]:
        if fn is None:
            result = load_error
        else:
            _, result = _call(fn, cloudpickle.loads(blob), timeout)
        try:
            payload = cloudpickle.dumps(result)
        except Exception as e:  # noqa: BLE001 - e.g. an unpicklable result
            payload = cloudpickle.dumps(ItemFailure(f"result could not be sent back: {type(e).__name__}: {e}"))
        out.append(payload)
    return {"seq": np.asarray(batch["seq"]), "result": np.array(out, dtype=object)}


class _BatchActor:
    """Ray Data actor: builds the batch function once, applies it to each batch."""

    def __init__(self, make_fn_blob: bytes):
        from ray import cloudpickle

        self._make = cloudpickle.loads(make_fn_blob)
        self._fn = None
        self._error = None

    def __call__(self, batch: dict) -> dict:
        import numpy as np
        from ray import cloudpickle

        from reelmatch.errors import failure_from_exception

        out = []
        for blob in batch["task"]:
            if self._fn is None and self._error is None:
                try:
                    self._fn = self._make()
                except Exception as e:  # noqa: BLE001 - reported for every batch of this actor
                    log.debug("batch function could not be made: %s", traceback.format_exc())
                    self._error = failure_from_exception(e)
            if self._error is not None:
                result = self._error
            else:
                _, result = _call(self._fn, cloudpickle.loads(blob), None)
            out.append(cloudpickle.dumps(result))
        return {"seq": np.asarray(batch["seq"]), "result": np.array(out, dtype=object)}


class RayEngine:
    """Runs per-item and per-batch functions on a Ray cluster with Ray Data.

    address:     Ray cluster address (``"auto"``, ``"ray://head:10001"``...); ``None``
                 reuses the running instance or starts/connects as ``ray.init()`` does.
    max_retries: further attempts of an item whose worker died.
    window:      items per Ray Data dataset (results stream within a window).
    gpus:        GPUs per model actor; ``None``: 1 if the cluster has GPUs, else 0.
    init_kwargs: passed to ``ray.init`` when this engine starts Ray.
    workers_write: stages let the workers write their own output files (the driver only commits).
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        workers: int | None = None,
        max_retries: int = 1,
        window: int = DEFAULT_WINDOW,
        gpus: float | None = None,
        init_kwargs: dict | None = None,
        workers_write: bool = True,
    ):
        if window < 1:
            raise InputError(f"window must be at least 1, got {window}")
        self.address = address
        self.workers = workers
        self.max_retries = max_retries
        self.window = window
        self.gpus = gpus
        self.init_kwargs = dict(init_kwargs or {})
        self.workers_write = workers_write
        self._ray = None

    def __repr__(self) -> str:
        return f"RayEngine(address={self.address!r})"

    # -------------------------------------------------------------- cluster
    def connect(self):
        """The ``ray`` module, connected (idempotent)."""
        if self._ray is None:
            ray = require("ray", "ray")
            if not ray.is_initialized():
                kwargs = {"include_dashboard": False, "log_to_driver": False, **self.init_kwargs}
                log.info("starting/connecting Ray (address=%s)", self.address or "default")
                ray.init(address=self.address, **kwargs)
            self._ray = ray
        return self._ray

    def resources(self) -> dict:
        """Total cluster resources: ``{"CPU": n, "GPU": n, ...}``."""
        return dict(self.connect().cluster_resources())

    def _gpus_per_actor(self) -> float:
        if self.gpus is not None:
            return self.gpus
        return 1.0 if self.resources().get("GPU", 0) >= 1 else 0.0

    # ------------------------------------------------------------- mapping
    def map(self, fn, items, *, workers=None, timeout=None, max_memory_mb=None, io_bound=False):
        """``fn(item)`` for every item as Ray tasks; yields ``(item, result)`` in completion order.

        ``io_bound`` work runs as tasks too (one item per task). ``max_memory_mb`` is not enforced per item (Ray's memory monitor kills
        workers that exhaust a node; such an item is reported as a crash).
        """
        from ray import cloudpickle

        fn_blob = cloudpickle.dumps(fn)

        size = workers or self.workers

        def stage(ds, n):
            import ray.data

            return ds.map_batches(
                _run_rows, fn_args=(fn_blob, timeout), batch_size=1, batch_format="numpy",
                num_cpus=1, max_retries=self.max_retries, compute=ray.data.TaskPoolStrategy(size=size),
            )

        yield from self._windows(items, stage, items_per_block=1)

    def map_batches(self, make_fn, batches, *, workers=None):
        """``make_fn()(batch)`` for every batch on an actor pool; yields ``(batch, result)`` in input order.

        One actor per GPU when the cluster has GPUs (or ``workers`` actors),
        else ``workers`` CPU actors (default 1).
        """
        from ray import cloudpickle

        make_blob = cloudpickle.dumps(make_fn)
        gpus = self._gpus_per_actor()
        n = workers or self.workers
        if n is None:
            n = max(int(self.resources().get("GPU", 0)), 1) if gpus else 1

        def stage(ds, _n):
            import ray.data

            return ds.map_batches(
                _BatchActor, fn_constructor_args=(make_blob,), batch_size=1, batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=n), num_gpus=gpus or None, num_cpus=None if gpus else 1,
                max_restarts=-1, max_task_retries=self.max_retries,
            )

        yield from self._windows(batches, stage, items_per_block=1, ordered=True)

    def _windows(
        self, items: Iterable[Any], stage: Callable, items_per_block: int, ordered: bool = False
    ) -> Iterator[tuple[Any, Any]]:
        from ray import cloudpickle

        from reelmatch.errors import ItemFailure

        ray = self.connect()
        import ray.data

        source = iter(items)
        while True:
            window = []
            for item in source:
                window.append(item)
                if len(window) >= self.window:
                    break
            if not window:
                return
            ctx = ray.data.DataContext.get_current()
            saved = (ctx.max_errored_blocks, ctx.enable_progress_bars)
            ctx.max_errored_blocks = -1  # a dead worker loses its block's items, not the run
            ctx.enable_progress_bars = False
            try:
                rows = [{"seq": i, "task": cloudpickle.dumps(it)} for i, it in enumerate(window)]
                ds = ray.data.from_items(rows, override_num_blocks=max(len(rows) // items_per_block, 1))
                seen: set[int] = set()
                held: dict[int, Any] = {}  # ordered: results waiting for an earlier one
                nxt = 0
                for out in stage(ds, len(window)).iter_rows():
                    seq = int(out["seq"])
                    if seq in seen:  # a retried block may deliver twice
                        continue
                    seen.add(seq)
                    result = cloudpickle.loads(out["result"])
                    if not ordered:
                        yield window[seq], result
                        continue
                    held[seq] = result
                    while nxt in held:
                        yield window[nxt], held.pop(nxt)
                        nxt += 1
            finally:
                ctx.max_errored_blocks, ctx.enable_progress_bars = saved
            for seq, item in enumerate(window):
                if seq in held:
                    yield item, held.pop(seq)
                elif seq not in seen:
                    log.warning("item %r: its Ray worker died (retried %d times)", item, self.max_retries)
                    yield item, ItemFailure(
                        f"Ray worker died while processing it (after {self.max_retries} retries)", "crash"
                    )


#: kept importable from here (they live in reelmatch.runtime, which stages use)
from reelmatch.runtime import fetch_local, is_url, publish, worker_device  # noqa: E402,F401
