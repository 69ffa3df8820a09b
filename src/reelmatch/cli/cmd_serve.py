NAME = "serve"
HELP = "HTTP API + web page"
EXAMPLE = "reelmatch -w ws serve --port 8000 --workers 2   # then open http://127.0.0.1:8000/ (API docs at /docs)"


def add_arguments(p) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000; 0 picks a free one)")
    p.add_argument(
        "--allow-writes", action="store_true", help="enable endpoints that edit the catalogue (read-only by default)"
    )
    p.add_argument("--max-upload-mb", type=float, default=200.0, metavar="MB", help="largest uploaded video (default 200)")
    p.add_argument(
        "--query-timeout", type=float, default=120.0, metavar="S", help="time limit of matching an upload (default 120 s)"
    )
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="server processes on the one port, sharing the read-only artifacts"
                        " (default: one per CPU, at most 4)")
    p.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio",
                   help="event loop (default asyncio: bounded tail latency under overload; uvloop is faster per"
                        " request but starves some connections for seconds when overloaded)")
    p.add_argument("--no-neighbour-table", action="store_true",
                   help="search the index for every similar query instead of reading the precomputed neighbour table")
    p.add_argument("--no-inline-route", action="store_true",
                   help="route every similar request through the full app (no answer before routing; for measuring)")
    p.add_argument("--shared-socket", action="store_true",
                   help="with --workers: one listening socket for every process (uvicorn's; connections go to whichever"
                        " accepts first) instead of one SO_REUSEPORT socket each (spread evenly; for measuring)")


def run(args) -> int:
    from reelmatch.cli.common import info, open_workspace
    from reelmatch.errors import require

    require("fastapi", "serve")
    require("uvicorn", "serve")
    from reelmatch.serve.server import serve
    from reelmatch.serve.config import ServeConfig

    ws = open_workspace(args)
    config = ServeConfig(
        allow_writes=args.allow_writes,
        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        query_timeout=args.query_timeout,
        neighbour_table=not args.no_neighbour_table,
        inline_route=not args.no_inline_route,
    )
    if args.workers is None:
        import os

        args.workers = max(1, min(4, os.cpu_count() or 1))
    if args.workers < 1:
        from reelmatch.errors import InputError

        raise InputError(f"--workers must be at least 1, got {args.workers}")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        info(f"warning: binding {args.host} exposes the server beyond this machine")
    procs = f", {args.workers} processes" if args.workers > 1 else ""
    info(f"serving {ws.root} ({'read-write' if args.allow_writes else 'read-only'}{procs});"
         " the page is at /, API docs at /docs")
    serve(ws, config, host=args.host, port=args.port, log_level="info", access_log=args.verbose > 0,
          workers=args.workers, loop=args.loop, shared_socket=args.shared_socket)
    return 0
