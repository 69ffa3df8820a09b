"""The local engine: a process pool where one bad item cannot stop the batch.

``run_items(fn, items, workers=..., timeout=...)`` calls ``fn(item)`` for every
item in worker processes and yields ``(item, result)`` as results arrive
(completion order). When ``fn`` raises, hangs past ``timeout`` or kills its
process (segfault, ``os._exit``, out of memory), the result is an
:class:`ItemFailure` carrying a one-line reason; the worker is replaced and the
batch goes on. Results travel back to the parent, which alone writes to the
catalogue and the stores: workers never touch shared state.

``fn`` and the items must be picklable (``fn`` a module-level function) since
workers are started with the ``forkserver`` (default) or ``spawn`` method.
``workers=0`` runs everything in the calling process (no time limit, no crash
isolation): for debugging and for callers that are themselves workers.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import signal
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import wait
from typing import Any

from reelmatch.errors import ItemFailure, ReelmatchError, failure_from_exception
from reelmatch.runtime import default_workers, single_threaded

#: kept importable from here (they moved to reelmatch.errors and reelmatch.runtime)
__all__ = ["EngineError", "ItemFailure", "default_workers", "failure_from_exception", "run_items", "single_threaded"]

log = logging.getLogger(__name__)

#: seconds a worker gets to exit cleanly at shutdown before it is killed
_SHUTDOWN_GRACE = 2.0
#: first message of a worker once it is initialised
_READY = "ready"


class EngineError(ReelmatchError):
    """The pool itself cannot work (e.g. worker processes die before starting)."""


def _limit_memory(max_memory_mb: int | None) -> None:
    if not max_memory_mb:
        return
    try:
        import resource

        limit = int(max_memory_mb) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError) as e:  # pragma: no cover - platform dependent
        log.warning("could not set a memory limit of %s MB: %s", max_memory_mb, e)


def _worker_main(conn, fn, initializer, initargs, max_memory_mb) -> None:
    """Loop of one worker process: receive ``(seq, item)``, send ``(seq, ok, payload)``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    _limit_memory(max_memory_mb)
    single_threaded()
    if initializer is not None:
        initializer(*initargs)
    conn.send(_READY)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        seq, item = msg
        try:
            result = fn(item)
            out = (seq, True, result)
        except MemoryError:
            out = (seq, False, ItemFailure("out of memory (worker memory limit reached)", "error", "MemoryError"))
        except BaseException as e:  # noqa: BLE001 - every failure is reported as the item's
            log.debug("item failed: %s", traceback.format_exc())
            out = (seq, False, failure_from_exception(e))
        try:
            conn.send(out)
        except Exception as e:  # noqa: BLE001 - e.g. an unpicklable result
            conn.send((seq, False, ItemFailure(f"result could not be sent back: {type(e).__name__}: {e}")))


class _Worker:
    def __init__(self, ctx, fn, initializer, initargs, max_memory_mb):
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(
            target=_worker_main, args=(child, fn, initializer, initargs, max_memory_mb), daemon=True
        )
        self.proc.start()
        child.close()
        self.task: tuple[int, Any] | None = None  # (seq, item)
        self.deadline: float | None = None
        self.ready = False

    def send(self, seq: int, item: Any, timeout: float | None) -> None:
        self.task = (seq, item)
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.conn.send((seq, item))

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.proc.join(_SHUTDOWN_GRACE)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        self.conn.close()


def _death_reason(proc) -> str:
    code = proc.exitcode
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return f"worker process died with {name}{hint}"
    return f"worker process exited with status {code}"


def run_items(
    fn: Callable[[Any], Any],
    items: Iterable[Any],
    *,
    workers: int | None = None,
    timeout: float | None = 600.0,
    max_memory_mb: int | None = None,
    initializer: Callable[..., None] | None = None,
    initargs: tuple = (),
    start_method: str = "forkserver",
    preload: tuple[str, ...] = (),
) -> Iterator[tuple[Any, Any]]:
    """Run ``fn(item)`` for every item in a process pool; yield ``(item, result)``.

    ``result`` is ``fn``'s return value, or an :class:`ItemFailure` (never raised)
    when the item raised, ran longer than ``timeout`` seconds (its worker is
    killed) or crashed its worker. Results come in completion order.

    workers:       processes (default: usable CPUs); ``0`` runs inline, in this process.
    timeout:       per-item wall-clock limit in seconds (``None``: no limit).
    max_memory_mb: address-space limit per worker (``RLIMIT_AS``); an item that
                   exceeds it fails with an out-of-memory reason.
    initializer:   called once in each new worker with ``initargs``.
    preload:       modules the fork server imports once, so each new worker
                   starts with them loaded (forkserver start method only);
                   ``fn.preload_modules`` (a tuple of names), when set, is added.

    Items are fed lazily, so ``items`` may be a generator. Closing the iterator
    early (``break``) stops and reaps every worker.
    """
    if workers is None:
        workers = default_workers()
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    if timeout is not None and timeout <= 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
    if workers == 0:
        yield from _run_inline(fn, items, initializer, initargs)
        return

    ctx = mp.get_context(start_method)
    if start_method == "forkserver":  # the server starts with the first worker, unless warmed up before
        _set_forkserver_preload((*preload, *getattr(fn, "preload_modules", ())))
    pool = _Pool(ctx, fn, items, workers, timeout, (initializer, initargs, max_memory_mb), start_method)
    try:
        while pool.dispatch():
            yield from pool.collect()
            yield from pool.reap_timeouts()
    finally:
        pool.close()


def start_forkserver(preload: tuple[str, ...] = ()) -> None:
    """Start the fork server that :func:`run_items` forks its workers from, importing ``preload`` once.

    The server is started at most once per process, with the modules of the
    first call (a later call's are imported by each worker on first use). It
    starts in the background: a stage that knows it has items to do calls this
    (through :meth:`reelmatch.engine.base.LocalEngine.warm_up`) as soon as it
    knows, so the server's imports (numpy, PyAV: ~0.2 s) overlap the rest of the
    stage's set-up instead of delaying its first item. Returns at once.
    """
    from multiprocessing import forkserver

    _set_forkserver_preload(preload)
    forkserver.ensure_running()


def _set_forkserver_preload(modules: tuple[str, ...]) -> None:
    # single-threaded before anything loads, then the modules (see forkserver_init)
    mp.get_context("forkserver").set_forkserver_preload(
        ["reelmatch.engine.forkserver_init", "reelmatch.engine.local", *dict.fromkeys(modules)])


class _Pool:
    """The workers of one :func:`run_items` call and the tasks they hold."""

    def __init__(self, ctx, fn, items, size: int, timeout, worker_args: tuple, start_method: str):
        self.ctx, self.fn, self.size, self.timeout = ctx, fn, size, timeout
        self.initializer, self.initargs, self.max_memory_mb = worker_args
        self.start_method = start_method
        self.source = iter(items)
        self.exhausted = False
        self.seq = 0
        self.workers: list[_Worker] = []
        self.finished: set[int] = set()  # workers whose item was answered this round

    def _next_task(self) -> tuple[int, Any] | None:
        if self.exhausted:
            return None
        try:
            item = next(self.source)
        except StopIteration:
            self.exhausted = True
            return None
        self.seq += 1
        return (self.seq, item)

    def dispatch(self) -> bool:
        """Hand a task to every idle worker, starting workers as needed; False when all is done."""
        for w in [w for w in self.workers if w.task is None]:
            task = self._next_task()
            if task is None:
                break
            w.send(*task, self.timeout)
        while len(self.workers) < self.size:
            task = self._next_task()
            if task is None:
                break
            w = _Worker(self.ctx, self.fn, self.initializer, self.initargs, self.max_memory_mb)
            self.workers.append(w)
            w.send(*task, self.timeout)
        return any(w.task is not None for w in self.workers)

    def collect(self) -> Iterator[tuple[Any, Any]]:
        """Wait for a result, a dead worker or the next deadline; yield the items answered."""
        busy = [w for w in self.workers if w.task is not None]
        deadlines = [w.deadline for w in busy if w.deadline is not None]
        wait_for = None if not deadlines else max(min(deadlines) - time.monotonic(), 0.0)
        handles = {}
        for w in busy:
            handles[w.conn] = w
            handles[w.proc.sentinel] = w
        self.finished = set()
        for h in wait(list(handles), timeout=wait_for):
            w = handles[h]
            if id(w) in self.finished:
                continue
            if h is w.conn or w.conn.poll():
                answered = self._receive(w)
                if answered is _NOT_YET:
                    continue
                if answered is not None:
                    self.finished.add(id(w))
                    yield answered
                    continue
            # the process is gone (or its pipe broke) while working on an item
            self.finished.add(id(w))
            yield self._dead(w)

    def _receive(self, w: "_Worker"):
        """``(item, payload)`` of a worker's answer; ``_NOT_YET`` for its ready message alone; None if its pipe broke."""
        try:
            msg = w.conn.recv()
        except (EOFError, OSError):
            return None
        if msg == _READY:
            w.ready = True
            if not w.conn.poll():
                return _NOT_YET
            msg = w.conn.recv()
        rseq, _ok, payload = msg
        if rseq is None:
            return None
        _, item = w.task
        w.task, w.deadline = None, None
        return item, payload  # the value, or the ItemFailure the worker sent

    def _dead(self, w: "_Worker") -> tuple[Any, ItemFailure]:
        w.proc.join(1)
        _, item = w.task
        reason = _death_reason(w.proc)
        if not w.ready:
            # it never started: the pool is broken, not the item
            raise EngineError(
                f"worker processes cannot start ({reason}); with the '{self.start_method}' start method a"
                " script must guard its entry point with if __name__ == '__main__'"
            )
        log.warning("item %r: %s", item, reason)
        w.kill()
        self.workers.remove(w)
        return item, ItemFailure(reason, "crash")

    def reap_timeouts(self) -> Iterator[tuple[Any, ItemFailure]]:
        """Kill the workers past their item's deadline; yield those items as timed out."""
        now = time.monotonic()
        for w in list(self.workers):
            if id(w) in self.finished or w.task is None or w.deadline is None or w.deadline > now:
                continue
            _, item = w.task
            log.warning("item %r: timed out after %s s, killing its worker", item, self.timeout)
            w.kill()
            self.workers.remove(w)
            yield item, ItemFailure(f"timed out after {self.timeout:g} s", "timeout")

    def close(self) -> None:
        for w in self.workers:
            if w.task is None:
                w.stop()
            else:
                w.kill()


_NOT_YET = object()


def _run_inline(fn, items, initializer, initargs) -> Iterator[tuple[Any, Any]]:
    if initializer is not None:
        initializer(*initargs)
    for item in items:
        try:
            result = fn(item)
        except Exception as e:  # noqa: BLE001 - every failure is reported as the item's
            log.debug("item failed: %s", traceback.format_exc())
            result = failure_from_exception(e)
        yield item, result
