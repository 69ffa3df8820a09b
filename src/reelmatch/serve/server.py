"""Running the app: in the foreground (the CLI) or in a background thread (tests, benchmarks)."""

from __future__ import annotations

import threading
import time

from reelmatch.serve.app import create_app
from reelmatch.serve.config import ServeConfig


def serve(
    ws,
    config: ServeConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
    access_log: bool = False,
) -> None:
    """Serve ``ws`` with uvicorn until interrupted (uvicorn logs the address it bound)."""
    import uvicorn

    uvicorn.run(
        create_app(ws, config), host=host, port=port, log_level=log_level, access_log=access_log, server_header=False
    )


class ServerThread:
    """A real uvicorn server on ``host`` (loopback) and a free port, in a daemon thread.

    >>> with ServerThread(create_app(ws)) as url:   # doctest: +SKIP
    ...     httpx.get(url + "/api/health")
    """

    def __init__(self, app, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning", timeout: float = 30.0):
        import uvicorn

        self.server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_level=log_level, server_header=False, lifespan="off")
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
