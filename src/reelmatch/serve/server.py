"""Running the app: in the foreground (the CLI) or in a background thread (tests, benchmarks)."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import asdict

from reelmatch.serve.app import create_app
from reelmatch.serve.config import ServeConfig

log = logging.getLogger(__name__)

#: how ``serve(workers=N)`` hands the workspace and config to its worker processes
ENV_WORKSPACE = "REELMATCH_SERVE_WORKSPACE"
ENV_CONFIG = "REELMATCH_SERVE_CONFIG"


#: Event loops the server can run on. ``asyncio`` (the default) is the standard
#: library's: under overload it serves ready connections in turn, so the slowest
#: request stays bounded. ``uvloop`` is faster per request but under overload
#: (more connections than a 2-core machine answers at once) it starves some
#: connections for seconds: ``benchmarks/serve.py --extra after-uvloop:--loop uvloop``
#: measures both side by side (docs/serve.md).
LOOPS = ("asyncio", "uvloop")
DEFAULT_LOOP = "asyncio"


def check_loop(loop: str) -> str:
    from reelmatch.errors import InputError

    if loop not in LOOPS:
        raise InputError(f"serve: unknown event loop {loop!r}: choose one of {', '.join(LOOPS)}")
    if loop == "uvloop":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            raise InputError("serve: --loop uvloop needs the package uvloop (pip install uvloop)") from None
    return loop


def serve(
    ws,
    config: ServeConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
    access_log: bool = False,
    workers: int = 1,
    loop: str = DEFAULT_LOOP,
    shared_socket: bool = False,
) -> None:
    """Serve ``ws`` with uvicorn until interrupted (uvicorn logs the address it bound).

    ``workers > 1`` runs that many server processes, each on a listening socket of its
    own bound to the same port with ``SO_REUSEPORT``, so the kernel spreads connections
    evenly (:mod:`reelmatch.serve.workers`; uvicorn's one shared socket where the option
    does not exist, or with ``shared_socket``); each loads the workspace's artifacts read-only (the neighbour table memory-mapped,
    shared through the page cache) and picks up rebuilt ones by itself.
    ``loop``: the event loop (see :data:`LOOPS`).
    """
    import uvicorn

    config = config or ServeConfig()
    options = dict(host=host, port=port, log_level=log_level, access_log=access_log, server_header=False,
                   loop=check_loop(loop))
    if workers <= 1:
        _one_thread_per_search()
        app = create_app(ws, config)
        warm(app)
        uvicorn.run(app, **options)
        return
    from uvicorn.supervisors import Multiprocess

    from reelmatch.serve.workers import reuseport_available, run_workers

    os.environ[ENV_WORKSPACE] = str(ws.root)
    os.environ[ENV_CONFIG] = json.dumps(asdict(config))
    if reuseport_available() and not shared_socket:
        code = run_workers(options, workers)
        if code:
            raise SystemExit(code)
        return
    uconfig = uvicorn.Config("reelmatch.serve.server:app_from_env", factory=True, workers=workers, **options)
    sock = uconfig.bind_socket()  # logs the address (the real port when port=0)
    # listening before the workers start: a client connecting early waits in the backlog, it is not refused
    sock.listen(uconfig.backlog)
    try:
        Multiprocess(uconfig, sockets=[sock]).run()
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()


def app_from_env():
    """The app of one worker process of ``serve(workers=N)`` (uvicorn calls it in each process)."""
    from reelmatch.workspace import Workspace

    _one_thread_per_search()
    app = create_app(Workspace(os.environ[ENV_WORKSPACE]), ServeConfig(**json.loads(os.environ[ENV_CONFIG])))
    warm(app)
    return app


def warm(app) -> None:
    """Load the artifacts and start the upload processes before the first request (nothing to load yet is fine)."""
    from reelmatch.errors import ReelmatchError

    state = app.state.reelmatch
    try:
        state.artifacts.searcher()
    except ReelmatchError as e:
        log.info("nothing to search yet: %s", e)
    state.upload_embedder.start()


def _one_thread_per_search() -> None:
    """Requests are the parallelism of a server: one FAISS (OpenMP) thread per search, not a team each."""
    try:
        import faiss

        faiss.omp_set_num_threads(1)
    except ImportError:
        pass


class ServerThread:
    """A real uvicorn server on ``host`` (loopback) and a free port, in a daemon thread.

    >>> with ServerThread(create_app(ws)) as url:   # doctest: +SKIP
    ...     httpx.get(url + "/api/health")
    """

    def __init__(self, app, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning", timeout: float = 30.0,
                 loop: str = DEFAULT_LOOP):
        import uvicorn

        self.server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_level=log_level, server_header=False, lifespan="off",
                           loop=check_loop(loop))
        )
        self.thread = threading.Thread(target=self.server.run, name="reelmatch-uvicorn", daemon=True)
        self.timeout = timeout
        self.url: str | None = None

    def start(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + self.timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the uvicorn server did not start")
            time.sleep(0.02)
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(self.timeout)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
