"""The local engine: a pool that survives raising, hanging and crashing items."""

from __future__ import annotations

import ctypes
import os
import time

import pytest

from reelmatch.engine.local import ItemFailure, run_items


def square_or_misbehave(x):
    """Worker function: squares ints; some values raise, hang, segfault or exit."""
    if x == 3:
        raise ValueError("three is\nbad")
    if x == 5:
        time.sleep(60)
    if x == 7:
        ctypes.string_at(0)  # segfault
    if x == 9:
        os._exit(3)
    return x * x


def allocate(mb):
    return len(bytearray(mb * 1024 * 1024))


def pid_of(_):
    return os.getpid()


def blas_threads(_):
    """Worker function: the thread count of every BLAS library loaded once numpy is."""
    import numpy  # noqa: F401
    from threadpoolctl import threadpool_info

    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_workers_are_single_threaded_whatever_they_load():
    out = dict(run_items(blas_threads, [1, 2], workers=2, timeout=60))
    assert out[1] and set(out[1] + out[2]) == {1}, out


def test_single_threaded_before_the_first_import_needs_no_library_scan():
    """What the fork server does first (reelmatch.engine.forkserver_init): numpy then starts with one thread."""
    import subprocess
    import sys

    code = ("import sys; from reelmatch.runtime import single_threaded; single_threaded(first_import=True)\n"
            "import numpy\n"
            "single_threaded()  # a forked worker's call: nothing left to do\n"
            "assert 'threadpoolctl' not in sys.modules\n"
            "from threadpoolctl import threadpool_info\n"
            "print([i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'])")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, timeout=60)
    assert out.stdout.strip() == "[1]", out


def test_bad_items_fail_alone_and_the_batch_completes():
    t = time.monotonic()
    out = dict(run_items(square_or_misbehave, range(11), workers=2, timeout=2.0))
    assert time.monotonic() - t < 30
    assert sorted(out) == list(range(11))
    for x in (0, 1, 2, 4, 6, 8, 10):
        assert out[x] == x * x
    assert isinstance(out[3], ItemFailure) and out[3].kind == "error"
    assert str(out[3]) == "ValueError: three is bad"  # one line
    assert out[5].kind == "timeout" and "timed out after 2 s" in out[5].reason
    assert out[7].kind == "crash" and "SIGSEGV" in out[7].reason
    assert out[9].kind == "crash" and "status 3" in out[9].reason


def test_inline_mode_reports_errors_without_raising():
    out = dict(run_items(square_or_misbehave, [1, 2, 3], workers=0))
    assert out[1] == 1 and out[2] == 4
    assert isinstance(out[3], ItemFailure)


def test_memory_limit_fails_the_item_not_the_batch():
    out = dict(run_items(allocate, [1, 3000, 2], workers=1, timeout=30, max_memory_mb=1024))
    assert out[1] == 1024 * 1024 and out[2] == 2 * 1024 * 1024
    assert isinstance(out[3000], ItemFailure) and "memory" in out[3000].reason


def test_lazy_items_and_early_close_reaps_workers():
    gen = run_items(pid_of, iter(range(100)), workers=2, timeout=10)
    pids = {next(gen)[1] for _ in range(4)}
    gen.close()
    time.sleep(0.2)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        list(run_items(pid_of, [1], workers=-1))
    with pytest.raises(ValueError):
        list(run_items(pid_of, [1], workers=1, timeout=0))
