NAME = "serve"
HELP = "HTTP API + web page"
EXAMPLE = "reelmatch -w ws serve --port 8000   # then open http://127.0.0.1:8000/ (API docs at /docs)"


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
    )
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        info(f"warning: binding {args.host} exposes the server beyond this machine")
    info(f"serving {ws.root} ({'read-write' if args.allow_writes else 'read-only'}); the page is at /, API docs at /docs")
    serve(ws, config, host=args.host, port=args.port, log_level="info", access_log=args.verbose > 0)
    return 0
