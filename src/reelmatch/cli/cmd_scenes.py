NAME = "scenes"
HELP = "scene boundaries and scene vectors of each movie"
EXAMPLE = "reelmatch -w ws scenes --min-scene 1.0 && reelmatch -w ws match-ad spot.mp4 --scenes"


def add_arguments(p) -> None:
    from reelmatch.cli.common import add_engine_flags
    from reelmatch.scenes.config import ScenesConfig

    d = ScenesConfig()
    p.add_argument("--detector", choices=("adaptive", "content", "adaptive+content"), default=d.detector,
                   help=f"PySceneDetect detectors (default {d.detector})")
    p.add_argument("--threshold", type=float, default=d.threshold,
                   help=f"cut threshold of the content detector (default {d.threshold})")
    p.add_argument("--adaptive-threshold", type=float, default=d.adaptive_threshold,
                   help=f"threshold of the adaptive detector (default {d.adaptive_threshold})")
    p.add_argument("--window", type=int, default=d.window,
                   help=f"frames each side in the adaptive detector's rolling average (default {d.window})")
    p.add_argument("--fade-threshold", type=float, default=d.fade_threshold,
                   help="also detect fades through black below this mean intensity (default off: 0)")
    p.add_argument("--min-scene", type=float, default=d.min_scene, help=f"shortest scene, seconds (default {d.min_scene})")
    p.add_argument("--width", type=int, default=d.width, help=f"analyse frames scaled to this width (default {d.width})")
    p.add_argument("--frames", type=int, default=d.frames, help="frames per scene embedding (default: the clips' K)")
    p.add_argument("--kind", choices=("trailer", "ad", "all"), default=d.kind, help="which items (default trailer)")
    p.add_argument("--retry-failed", action="store_true", help="retry items that failed before")
    add_engine_flags(p)


def run(args) -> int:
    from reelmatch.cli.common import StageProgress, clip_config_of, engine_from_args, info, open_workspace
    from reelmatch.scenes import ScenesConfig, run_scenes

    ws = open_workspace(args)
    config = ScenesConfig(detector=args.detector, threshold=args.threshold, adaptive_threshold=args.adaptive_threshold,
                          window=args.window, fade_threshold=args.fade_threshold, min_scene=args.min_scene,
                          width=args.width, frames=args.frames, kind=args.kind)
    with StageProgress("scenes") as progress:
        res = run_scenes(ws, config, clip_config=clip_config_of(ws), engine=engine_from_args(args), progress=progress,
                         retry_failed=args.retry_failed)
    for f in res.failures:
        info(f"failed: {f['title']} ({f['id']}): {f['error']}")
    print(res.line())
    return 0 if res.done or not res.failed else 1
