"""One runner for every item stage, on every engine.

A stage is declared once, as data (:class:`Stage`): its name, ``plan`` (which
items are to do for the config's fingerprint, and how their results are
written: a :class:`Job`), and what counts as failed. :func:`run_stage` does the
rest, the same way for every stage and engine:

1. takes the stage's workspace lock (a second writer of the same stage exits
   with a one-line message naming the running process, see :func:`stage_lock`);
2. asks the stage for its job: the tasks (items, or batches of items) to do;
3. maps the job's picklable per-item function (or per-worker batch function)
   over them with the engine (``local`` process pool, ``ray``...);
4. hands each result to the job, which writes it (a record, a file, vectors) or,
   when the workers wrote it themselves, takes its small metadata;
5. commits in batches, one per ``commit_every`` items or ``commit_seconds``:
   first the job's ``sync()`` (its files durable, its index committed), then the
   catalogue status of every item of the batch in one transaction, so a killed
   run loses nothing committed and a new run redoes nothing committed (at most
   the last uncommitted batch);
6. reports progress through one callback type, :data:`Progress`, and returns
   one result type, :class:`StageResult`.

With ``workers_write`` (the Ray engine's default) a stage's workers write their
own output files (clip shards, feature files) and return metadata; this process
only commits. Otherwise workers compute and this process writes. Stages never
import an engine module; their runtime helpers are in :mod:`reelmatch.runtime`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from reelmatch.errors import BusyError, ItemFailure, failure_from_exception

log = logging.getLogger(__name__)

#: ``progress(done, total, item_id, error)``: after each item; ``error`` is the
#: one-line reason of a failed item, else None (``item_id`` may be None for a batch)
Progress = Callable[[int, int, "str | None", "str | None"], None]


@dataclass(frozen=True)
class RunOptions:
    """How a stage runs (not what it makes: that is its config, whose fingerprint the items record).

    workers:       parallel workers (None: the engine's default; 0: in this process, local engine).
    timeout:       per-item time limit in seconds (None: the stage's default).
    retry_failed:  also redo items that failed before.
    max_memory_mb: address-space limit per worker (local engine).
    kind:          only items of this kind (``trailer``/``ad``), where the stage allows it.
    workers_write: workers write their own output files and return metadata (None: the
                   engine's ``workers_write``: True on Ray, False on the local engine).
    commit_every / commit_seconds: a catalogue transaction per this many items or seconds.
    warm_up:       set by :func:`run_stage`: ``warm_up(preload_modules)`` starts the engine's
                   workers' machinery in the background (the local pool's fork server); a
                   plan calls it as soon as it knows it has items to do, before the rest of
                   its set-up (None: the engine has nothing to start early).
    """

    workers: int | None = None
    timeout: float | None = None
    retry_failed: bool = False
    max_memory_mb: int | None = None
    kind: str | None = None
    workers_write: bool | None = None
    commit_every: int = 256
    commit_seconds: float = 1.0
    warm_up: Callable[[tuple[str, ...]], None] | None = None


class Job(Protocol):
    """One run of a stage over a workspace, made by ``Stage.plan``.

    fingerprint: the config fingerprint the items are marked with.
    total:       items to do; tasks: the tasks (an item each, or a batch), may be lazy.
    fn:          picklable ``fn(task) -> result`` (or, for a batched stage, a
                 picklable ``make_fn() -> fn``, called once per worker).
    marks_done:  True when the job marks items done itself (after a flush).
    """

    fingerprint: str
    total: int
    tasks: Iterable[Any]
    fn: Callable
    marks_done: bool

    def write(self, task: Any, result: Any, error: str | None) -> dict[str, str | None]:
        """Write a task's result; per item id: None (done) or a one-line reason (failed)."""

    def close(self) -> dict:
        """Finish (flush, close files); extra counts for the result, ``"artifact"`` its path."""

    # optional: ``sync()``, make everything written so far durable and indexed; the
    # runner calls it before each catalogue commit


def _failure_reason(result: Any) -> str | None:
    return result.reason if isinstance(result, ItemFailure) else None


@dataclass(frozen=True)
class Stage:
    """An item stage as data.

    name:      catalogue stage name (and lock name).
    plan:      ``plan(ws, config, options) -> Job``: which items are to do for
               ``config``'s fingerprint and how results are written.
    failed:    ``failed(result) -> reason or None``: what counts as failed (default:
               the engine's :class:`~reelmatch.errors.ItemFailure`).
    batched:   the job's ``fn`` is a per-worker batch-function factory (model work:
               ``engine.map_batches``), else a per-item function (``engine.map``).
    io_bound:  per-item work that waits on the network (threads on the local engine).
    timeout:   default per-item time limit (seconds).
    max_memory_mb: default address-space limit per worker.
    min_workers: the smallest ``workers`` value the stage accepts.
    """

    name: str
    plan: Callable[..., Job]
    failed: Callable[[Any], "str | None"] = _failure_reason
    batched: bool = False
    io_bound: bool = False
    timeout: float | None = None
    max_memory_mb: int | None = None
    min_workers: int = 0


@dataclass
class StageResult:
    """What a stage did: the one result type of every stage, reported the same way by build and the CLI.

    status:   ``"ran"`` (work done), ``"up to date"``, ``"skipped"`` (``summary`` says why).
    done / failed: items done / failed in this run; failures: ``[{"id", "title", "error"}]``.
    artifact: the path of what the stage made (a store, a file), when it has one.
    counts:   further counts of the stage (``already_done``, ``clips``...).
    """

    name: str
    status: str = "ran"
    done: int = 0
    failed: int = 0
    failures: list[dict] = field(default_factory=list)
    artifact: str | None = None
    counts: dict = field(default_factory=dict)
    summary: str = ""
    seconds: float = 0.0
    result: Any = None

    @property
    def total(self) -> int:
        return self.done + self.failed

    def line(self, label: str | None = None) -> str:
        """One line for people: ``label: status - summary (seconds)`` (label: the stage name)."""
        text = self.summary or (f"{self.done} done, {self.failed} failed" if self.total else "")
        return f"{label or self.name}: {self.status}" + (f" - {text}" if text else "") + f" ({self.seconds:.1f} s)"

    def to_dict(self) -> dict:
        return {"stage": self.name, "status": self.status, "done": self.done, "failed": self.failed,
                "failures": list(self.failures), "artifact": self.artifact, "seconds": round(self.seconds, 3),
                **self.counts}


# ------------------------------------------------------------------ locking
def _lock_path(ws, name: str):
    d = ws.dir("tmp") / "locks"
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{name}.lock"


#: per lock file: (an RLock for the threads of this process, how deep this process holds it)
_HELD: dict[str, list] = {}
_HELD_GUARD = threading.Lock()


@contextmanager
def stage_lock(ws, name: str, *, wait: float = 0.0) -> Iterator[None]:
    """Hold the workspace lock of stage ``name`` (an OS file lock: released when the process dies).

    Another process waits up to ``wait`` seconds, then gets a :class:`BusyError`
    naming the process that holds it (pid, command, start time). Threads of this
    process take turns (a server adding two uploads), and a thread that holds the
    lock may take it again.
    """
    path = _lock_path(ws, name)
    with _HELD_GUARD:
        entry = _HELD.setdefault(str(path), [threading.RLock(), 0, None])
    rlock = entry[0]
    with rlock:
        if entry[1]:  # this thread holds it already
            entry[1] += 1
            try:
                yield
            finally:
                entry[1] -= 1
            return
        fd = _take_file_lock(path, name, ws, wait)
        entry[1], entry[2] = 1, fd
        try:
            yield
        finally:
            entry[1], entry[2] = 0, None
            os.close(fd)  # releases the lock


def _take_file_lock(path, name: str, ws, wait: float) -> int:
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise BusyError(_busy_message(path, name, ws)) from None
            time.sleep(0.2)
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({
        "pid": os.getpid(), "command": " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv)),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }).encode(), 0)
    return fd


def _busy_message(path, name: str, ws) -> str:
    try:
        holder = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        holder = {}
    who = f"pid {holder.get('pid', '?')}"
    if holder.get("command"):
        who += f" ({holder['command']})"
    if holder.get("started"):
        who += f", started {holder['started']}"
    return f"another '{name}' is already writing {ws.root}: {who}; wait for it to finish or stop it"


# ------------------------------------------------------------------- running
def run_stage(
    ws,
    stage: Stage,
    config: Any,
    engine: Any = None,
    progress: Progress | None = None,
    options: RunOptions = RunOptions(),
) -> StageResult:
    """Run ``stage`` with ``config`` over ``ws`` on ``engine`` (a name, an engine, None: local).

    Returns a :class:`StageResult`; items that fail are recorded, never raised.
    """
    from reelmatch.engine import get_engine
    from reelmatch.runtime import check_workers

    import dataclasses

    t0 = time.monotonic()
    if options.workers is not None:
        check_workers(options.workers, minimum=stage.min_workers)
    if options.commit_every < 1 or options.commit_seconds < 0:
        from reelmatch.errors import InputError

        raise InputError(f"commit_every must be >= 1 and commit_seconds >= 0, got {options.commit_every}, "
                         f"{options.commit_seconds}")
    result = StageResult(stage.name)
    eng = get_engine(engine)
    if options.workers_write is None:
        options = dataclasses.replace(options, workers_write=bool(getattr(eng, "workers_write", False)))
    if options.warm_up is None and options.workers != 0 and not (stage.batched or stage.io_bound):
        options = dataclasses.replace(options, warm_up=getattr(eng, "warm_up", None))
    with stage_lock(ws, stage.name):
        job = stage.plan(ws, config, options)
        cat = ws.catalog
        fp = job.fingerprint
        log.info("%s: %d item(s) to do (config %s)", stage.name, job.total, fp)
        n = 0
        batch: list[tuple[str, str | None]] = []
        last_commit = time.monotonic()

        def commit() -> None:
            nonlocal last_commit
            sync = getattr(job, "sync", None)
            if sync is not None:
                sync()  # the payload durable (and indexed) before the catalogue says done
            if batch:
                cat.mark_many(stage.name, batch, fp, done=not job.marks_done)
                batch.clear()
            last_commit = time.monotonic()

        try:
            if job.total:
                if stage.batched:
                    results = eng.map_batches(job.fn, job.tasks, workers=options.workers)
                else:
                    timeout = options.timeout if options.timeout is not None else stage.timeout
                    memory = options.max_memory_mb if options.max_memory_mb is not None else stage.max_memory_mb
                    results = eng.map(job.fn, job.tasks, workers=options.workers, timeout=timeout,
                                      max_memory_mb=memory, io_bound=stage.io_bound)
                for task, res in results:
                    try:
                        error = stage.failed(res)
                    except Exception as e:  # noqa: BLE001 - a result the stage cannot read fails its item
                        error = failure_from_exception(e).reason
                    for item_id, err in job.write(task, res, error).items():
                        n += 1
                        if err is None:
                            result.done += 1
                        else:
                            err = " ".join(str(err).split())[:500] or "unknown error"
                            result.failed += 1
                            item = cat.maybe_get(item_id)
                            result.failures.append({"id": item_id, "title": item.title if item else None, "error": err})
                            log.info("%s failed: %s (%s): %s", stage.name, item.title if item else "?", item_id, err)
                        batch.append((item_id, err))
                        if progress is not None:
                            progress(n, job.total, item_id, err)
                    if len(batch) >= options.commit_every or time.monotonic() - last_commit >= options.commit_seconds:
                        commit()
                commit()
        finally:
            try:
                if batch:  # interrupted: what was written is still committed
                    commit()
            finally:
                extra = job.close() or {}
    result.artifact = None if extra.get("artifact") is None else str(extra.pop("artifact"))
    result.counts = extra
    result.status = "ran" if result.total else "up to date"
    result.seconds = time.monotonic() - t0
    return result


# ----------------------------------------------------------------- registry
#: the item stages, in pipeline order: name -> "module:attribute" of its :class:`Stage`
_STAGES = {
    "download": "reelmatch.download.fetch:DOWNLOAD",
    "extract": "reelmatch.extract.run:EXTRACT",
    "features": "reelmatch.train.features:FEATURES",
    "embed": "reelmatch.embed.run:EMBED",
    "dedupe": "reelmatch.dedupe.stage:DEDUPE",
    "scenes": "reelmatch.scenes.stage:SCENES",
}


def list_stages() -> list[str]:
    """Names of the item stages run by :func:`run_stage`."""
    return list(_STAGES)


def get_stage(name: str) -> Stage:
    """The :class:`Stage` named ``name`` (imported on first use)."""
    import importlib

    from reelmatch.errors import InputError

    if name not in _STAGES:
        raise InputError(f"unknown stage {name!r}: known stages are {', '.join(_STAGES)}")
    module, attr = _STAGES[name].split(":")
    return getattr(importlib.import_module(module), attr)


def resolve_engine(engine: Any = None) -> Any:
    """The engine a stage-like job runs on: ``engine`` as is, or by name (None: the local pool).

    For the caches that run their own loop (the audio expert's) but must not pick
    an engine themselves: only the runner knows the engines.
    """
    from reelmatch.engine import get_engine

    return get_engine(engine)


class LocalFirst:
    """A picklable factory that returns ``local`` in this process and ``factory()`` elsewhere.

    A batched stage's per-worker function needs a model: in the process that
    already built it (the local engine runs batches here) it is reused; pickled
    to another worker (Ray) only ``factory`` travels and the model is rebuilt there.
    """

    def __init__(self, factory: Callable[[], Any], local: Any = None):
        self.factory = factory
        self.local = local

    def __call__(self):
        if self.local is None:
            self.local = self.factory()
        return self.local

    def __getstate__(self):
        return {"factory": self.factory, "local": None}
