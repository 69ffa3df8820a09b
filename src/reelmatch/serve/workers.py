"""``serve --workers N``: N uvicorn processes, each with a listening socket of its own.

With one listening socket shared by every worker (uvicorn's ``--workers``), the
connections go to whichever process accepts first: under a burst of 256 keep-alive
connections one of two workers was measured holding 184 and the other 72, so the
busier one answered 2.5x slower and set the p99 (docs/serve.md). Here the parent
binds N sockets to the same address with ``SO_REUSEPORT`` and listens on all of
them before any worker starts (a client that connects early waits in a backlog,
it is not refused); the kernel spreads new connections over the N sockets by a
hash of the connection, evenly, and worker ``i`` serves socket ``i`` only. A
worker that dies is started again on the same socket (its backlog kept). Where
``SO_REUSEPORT`` does not exist, uvicorn's shared-socket supervisor is used.
"""

from __future__ import annotations

import logging
import signal
import socket
import time

log = logging.getLogger("uvicorn.error")

#: a worker that exits within this many seconds of its start counts as a failed start
QUICK_EXIT_S = 10.0
#: failed starts in a row after which the supervisor gives up (a broken workspace, a bad config)
MAX_QUICK_EXITS = 3


def reuseport_available() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def listening_sockets(host: str, port: int, n: int, backlog: int) -> list[socket.socket]:
    """``n`` sockets bound to ``(host, port)`` with ``SO_REUSEPORT``, listening (``port=0``: one free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            s = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            socks.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind((host, port))
            port = s.getsockname()[1]  # the others join the first one's port
            s.listen(backlog)
            s.set_inheritable(True)
    except OSError:
        for s in socks:
            s.close()
        raise
    return socks


def _worker(options: dict, sock: socket.socket) -> None:  # pragma: no cover - runs in the worker process
    import uvicorn

    uvicorn.Server(uvicorn.Config("reelmatch.serve.server:app_from_env", factory=True, **options)).run(sockets=[sock])


def run_workers(options: dict, n: int) -> int:
    """Serve with ``n`` worker processes until SIGINT/SIGTERM; 0, or 1 when the workers keep failing to start.

    ``options``: keyword arguments of ``uvicorn.Config`` (host, port, log level, loop...), the
    app being :func:`reelmatch.serve.server.app_from_env` (its workspace and config in the environment).
    """
    import multiprocessing

    import uvicorn

    config = uvicorn.Config("reelmatch.serve.server:app_from_env", factory=True, **options)
    host = options.get("host", "127.0.0.1")
    try:
        socks = listening_sockets(host, options.get("port", 8000), n, config.backlog)
    except OSError as e:
        log.error("%s", e)
        return 1
    shown = f"[{host}]" if ":" in host else host
    log.info("Uvicorn running on http://%s:%d (Press CTRL+C to quit)", shown, socks[0].getsockname()[1])
    log.info("%d worker processes, one SO_REUSEPORT socket each", n)
    ctx = multiprocessing.get_context("spawn")
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    procs: list = [None] * n
    started = [0.0] * n
    quick_exits = 0
    try:
        for i in range(n):
            procs[i] = ctx.Process(target=_worker, args=(options, socks[i]), name=f"reelmatch-serve-{i}")
            procs[i].start()
            started[i] = time.monotonic()
        while not stopping:
            time.sleep(0.2)
            for i, p in enumerate(procs):
                if stopping or p.is_alive():
                    continue
                quick = time.monotonic() - started[i] < QUICK_EXIT_S
                quick_exits = quick_exits + 1 if quick else 0
                log.warning("worker %d (pid %s) exited with %s; starting it again", i, p.pid, p.exitcode)
                if quick_exits >= MAX_QUICK_EXITS:
                    log.error("the workers keep exiting right after they start: giving up")
                    return 1
                procs[i] = ctx.Process(target=_worker, args=(options, socks[i]), name=f"reelmatch-serve-{i}")
                procs[i].start()
                started[i] = time.monotonic()
        return 0
    finally:
        for p in procs:
            if p is not None and p.is_alive():
                p.terminate()  # SIGTERM: uvicorn shuts down gracefully
        deadline = time.monotonic() + 10
        for p in procs:
            if p is not None:
                p.join(max(0.0, deadline - time.monotonic()))
                if p.is_alive():
                    p.kill()
                    p.join(5)
        for s in socks:
            s.close()
        for s, h in previous.items():
            signal.signal(s, h)
