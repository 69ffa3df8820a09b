"""Runtime helpers every engine and stage share, tied to no engine.

- :func:`default_workers`, :func:`check_workers`: how many workers, and a
  clear error for a bad ``--workers``;
- :func:`single_threaded`: one BLAS/OpenMP thread in an item worker;
- :func:`worker_device`: the device a worker computes on;
- :func:`is_url`, :func:`storage_fs`, :func:`fetch_local`, :func:`publish`: inputs
  and artifacts on fsspec URLs (object storage), fetched to / copied from a local cache.

Stages import these from here, never from :mod:`reelmatch.engine`.
"""

from __future__ import annotations

import logging
import os
import sys

from reelmatch.errors import InputError, require

log = logging.getLogger(__name__)


def default_workers() -> int:
    """Worker processes to use when not told: the CPUs this process may run on."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # pragma: no cover - not Linux
        return max(os.cpu_count() or 1, 1)


def check_workers(value, *, flag: str = "--workers", minimum: int = 0, default: int | None = None) -> int:
    """``value`` as a worker count (``None``: ``default``, else :func:`default_workers`).

    ``InputError`` naming ``flag`` and the value when it is not an integer >= ``minimum``
    (``0`` runs items in the calling process where a stage allows it).
    """
    if value is None:
        return default if default is not None else default_workers()
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            as_int = int(str(value).strip())
        except ValueError:
            raise InputError(f"{flag} must be a whole number, got {value!r}") from None
        value = as_int
    if value < minimum:
        raise InputError(f"{flag} must be at least {minimum}, got {value}")
    return value


#: the thread variables :func:`single_threaded` sets
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: True once :func:`single_threaded` ran before any BLAS/OpenMP library was loaded (kept across fork)
_SINGLE_FROM_START = False


def single_threaded(*, first_import: bool = False) -> None:
    """One BLAS/OpenMP thread in this worker process, as in every engine's item workers.

    Parallelism comes from items (one per core), so threads inside an item only
    oversubscribe the cores; and a matrix product's rounding depends on its thread
    count, so this also makes an item's result independent of the engine.

    ``first_import``: the caller runs before this process loaded any BLAS/OpenMP
    library (the local engine's fork server, first thing: see
    :mod:`reelmatch.engine.forkserver_init`), so setting the variables is enough:
    every library then starts with one thread, and later calls here (in the
    workers forked from it) have nothing to do, sparing threadpoolctl's scan of
    the loaded libraries.
    """
    global _SINGLE_FROM_START
    if _SINGLE_FROM_START and all(os.environ.get(v) == "1" for v in _THREAD_VARS):
        return
    for var in _THREAD_VARS:
        os.environ[var] = "1"  # libraries loaded later
    if first_import:
        _SINGLE_FROM_START = True
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a core dependency
        return
    threadpool_limits(1)  # libraries already loaded (numpy's BLAS in the fork server)


def worker_device() -> str:
    """``"cuda"`` in a worker that was given a GPU (a Ray GPU actor) and torch sees it, else ``"cpu"``.

    A plain process (the local engine) computes on the CPU: its model work runs in
    the calling process, which chooses its own device.
    """
    ray = sys.modules.get("ray")  # only a Ray worker has Ray loaded
    try:
        if ray is not None and ray.is_initialized() and ray.get_gpu_ids():
            import torch

            if torch.cuda.is_available():
                return "cuda"
    except Exception:  # noqa: BLE001 - no Ray context, no torch: the CPU
        pass
    return "cpu"


# --------------------------------------------------------------- storage
def is_url(path: str | os.PathLike) -> bool:
    """True for an fsspec URL (``s3://``, ``gs://``, ``file://``...), false for a plain path."""
    return "://" in str(path)


def storage_fs(url: str):
    """``(filesystem, path)`` of an fsspec URL (``s3://bucket/ws`` -> the S3 filesystem, ``bucket/ws``).

    A missing fsspec, or a missing driver of the URL's protocol (``s3fs`` for
    ``s3://``, ``gcsfs`` for ``gs://``), is an ``InputError`` saying what to install.
    """
    fsspec = require("fsspec", "ray")
    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as e:
        raise InputError(f"storage {url}: {' '.join(str(e).split())}") from None
    except ValueError as e:  # an unknown protocol
        raise InputError(f"storage {url}: {e}") from None


def fetch_local(url: str, cache_dir: str | os.PathLike | None = None) -> str:
    """A local path holding the content of ``url`` (a plain path is returned as is).

    Remote files are copied once per node into ``cache_dir`` (default: a
    ``reelmatch-fsspec`` folder in the system temporary directory) with
    fsspec's ``filecache``, so a worker decodes a local file.
    """
    if not is_url(url):
        return str(url)
    fsspec = require("fsspec", "ray")
    import tempfile

    cache = str(cache_dir or os.path.join(tempfile.gettempdir(), "reelmatch-fsspec"))
    if str(url).startswith("file://"):
        return fsspec.core.url_to_fs(url)[1]
    with fsspec.open(f"filecache::{url}", "rb", filecache={"cache_storage": cache}) as f:
        return f.name


def publish(local_dir: str | os.PathLike, url: str) -> int:
    """Copy the files under ``local_dir`` to the fsspec ``url`` (same relative layout); returns the file count.

    Files are written to a temporary name then moved, so a reader never sees half a file
    where the store supports moves.
    """
    from pathlib import Path

    fsspec = require("fsspec", "ray")
    fs, root = fsspec.core.url_to_fs(url)
    local_dir = Path(local_dir)
    n = 0
    for p in sorted(local_dir.rglob("*")):
        if not p.is_file():
            continue
        rel = p.relative_to(local_dir).as_posix()
        dest = f"{root.rstrip('/')}/{rel}"
        fs.makedirs(dest.rsplit("/", 1)[0], exist_ok=True)
        tmp = dest + ".part"
        fs.put_file(str(p), tmp)
        fs.mv(tmp, dest)
        n += 1
    return n
