NAME = "demo"
HELP = "sample corpus -> build -> show"
EXAMPLE = "reelmatch demo --items 200 --serve"

DEFAULT_DIR = "demo-workspace"


def add_arguments(p) -> None:
    from reelmatch.cli.common import add_workers_flag

    p.add_argument(
        "--workspace", dest="demo_workspace", default=None, metavar="PATH",
        help=f"demo workspace (default: -w if given, else ./{DEFAULT_DIR})",
    )
    p.add_argument("--items", type=int, default=None, help="generated sample items (default 200)")
    p.add_argument("--seconds", type=float, default=None, help="length of each generated video in seconds")
    p.add_argument("--frames", type=int, default=None, help="frames sampled per clip")
    p.add_argument("--clip-size", type=int, default=None, help="side of the sampled frames in pixels")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: train's phases)")
    p.add_argument("--backbone", default=None, help="frame backbone (default efficientnet_lite0; 'tiny' is for tests)")
    p.add_argument("--devdata", default=None, metavar="DIR", help="folder of real clips to add (default ../shared/devdata if it exists, env REELMATCH_DEVDATA)")
    p.add_argument("--no-devdata", action="store_true", help="do not add real clips")
    p.add_argument("--sampling", choices=("keyframe", "exact"), default=None, help="frame sampling (default keyframe)")
    p.add_argument("--frame-codec", choices=("jpeg", "webp", "raw"), default=None,
                   help="how clip records keep frames (default jpeg)")
    p.add_argument("--spectrogram-codec", choices=("png", "float16"), default=None,
                   help="how records with jpeg/webp frames keep the log-mel (default png: 8-bit)")
    p.add_argument("--serve", action="store_true", help="start the web page when done")
    p.add_argument("--host", default="127.0.0.1", help="with --serve: address to bind (default loopback)")
    p.add_argument("--port", type=int, default=8000, help="with --serve: port (default 8000)")
    add_workers_flag(p)


def demo_workspace_path(args):
    import os
    from pathlib import Path

    if args.demo_workspace:
        return Path(args.demo_workspace).expanduser()
    if os.environ.get("REELMATCH_WORKSPACE") or Path(args.workspace) != Path("workspace"):
        return Path(args.workspace).expanduser()
    return Path(DEFAULT_DIR)


def run(args) -> int:
    import dataclasses
    import time
    from pathlib import Path

    from reelmatch.cli.cmd_build import StageProgress
    from reelmatch.cli.common import info
    from reelmatch.demo import DemoConfig, default_devdata_dir, run_demo
    from reelmatch.workspace import Workspace

    t0 = time.perf_counter()
    config = DemoConfig(workers=args.workers)
    overrides = {k: v for k, v in (("items", args.items), ("seconds", args.seconds), ("epochs", args.epochs), ("backbone", args.backbone),
        ("frames", args.frames), ("clip_size", args.clip_size), ("sampling", args.sampling),
        ("frame_codec", args.frame_codec), ("spectrogram_codec", args.spectrogram_codec)) if v is not None}
    if args.no_devdata:
        devdata = None
    elif args.devdata:
        devdata = Path(args.devdata).expanduser()
        if not devdata.is_dir():
            from reelmatch.errors import InputError

            raise InputError(f"--devdata {devdata}: not a folder")
    else:
        devdata = default_devdata_dir()
    config = dataclasses.replace(config, devdata=devdata, **overrides)
    path = demo_workspace_path(args)
    info(f"demo workspace: {path.resolve()}")
    progress = StageProgress()
    try:
        with Workspace.init(path) as ws:
            result = run_demo(ws, config, progress=progress, say=lambda m: info(f"demo: {m}"))
            print_result(result)
            info(f"demo finished in {time.perf_counter() - t0:.0f} s")
            if args.serve:
                serve(ws, args)
    finally:
        progress.close()
    return 0


def print_result(result) -> None:
    """Recommendations, the ad match and the metrics, for a person."""
    from reelmatch.cli.cmd_evaluate import format_table

    for title, res in result.similar:
        print(f"\nTrailers most like '{title}':")
        for r in _results(res):
            shared = ", ".join(r.get("shared_genres") or []) or "-"
            print(f"  {r['rank']:>2}. {r['title']:<34} score {r['score']:.3f}  genres {', '.join(r.get('genres') or []) or '-'}  (shared: {shared})")
    if result.ad_match is not None:
        q = _query(result.ad_match)
        print(f"\nMovies matched to the commercial '{q.get('title', '?')}':")
        for r in _results(result.ad_match):
            sc = r.get("scores") or {}
            print(
                f"  {r['rank']:>2}. {r['title']:<34} score {r['score']:.3f}"
                f"  (visual {_num(sc.get('visual'))}, audio {_num(sc.get('audio'))})"
                f"  genres {', '.join(r.get('genres') or []) or '-'}"
            )
    if result.metrics:
        print()
        print(format_table(result.metrics))
    if result.report_path:
        print(f"\nReport: {result.report_path}")
    print(f"Workspace: {result.workspace}")


def _num(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _doc(res):
    return res.to_dict() if hasattr(res, "to_dict") else res


def _results(res):
    return _doc(res).get("results", [])


def _query(res):
    return _doc(res).get("query", {})


def serve(ws, args) -> None:
    from reelmatch.cli.common import info
    from reelmatch.errors import require

    require("fastapi", "serve")
    require("uvicorn", "serve")
    from reelmatch.serve.server import serve as serve_forever

    info(f"serving the web page at http://{args.host}:{args.port}/ (read-only; Ctrl-C to stop)")
    serve_forever(ws, host=args.host, port=args.port, log_level="warning")
