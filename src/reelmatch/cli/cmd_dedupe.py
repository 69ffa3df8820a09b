NAME = "dedupe"
HELP = "groups of copies"
EXAMPLE = "reelmatch -w ws dedupe --json"


def add_arguments(p) -> None:
    from reelmatch.cli.common import add_engine_flags, add_json_flag, add_workers_flag

    p.add_argument(
        "--threshold", type=float, default=None, metavar="T",
        help="copy-score threshold in [0, 1] (default: the calibrated one, see docs/dedupe.md)",
    )
    p.add_argument("--backbone", default="efficientnet_lite0", help="frame backbone of the copy descriptor")
    p.add_argument("--fps", type=float, default=1.0, help="frames described per second (default 1)")
    p.add_argument("--no-audio", action="store_true",
                   help="pictures only: do not fingerprint soundtracks (Chromaprint) as copy evidence")
    p.add_argument("--retry-failed", action="store_true", help="retry items whose media failed before")
    add_workers_flag(p)
    add_engine_flags(p)
    add_json_flag(p)


def run(args) -> int:
    from reelmatch.cli.common import StageProgress, emit_json, engine_from_args, info, open_workspace
    from reelmatch.dedupe import DEFAULT_THRESHOLD, DedupeConfig, describe_catalogue, find_duplicates
    from reelmatch.errors import InputError

    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    if not -1.0 <= threshold <= 1.0:
        raise InputError(f"--threshold {threshold} is not in [-1, 1]")
    config = DedupeConfig(backbone=args.backbone, fps=args.fps, audio=not args.no_audio)
    with open_workspace(args) as ws:
        with StageProgress("copy descriptors") as progress:
            rep = describe_catalogue(ws, config, workers=args.workers, retry_failed=args.retry_failed,
                                     progress=progress, engine=engine_from_args(args))
        for f in rep["failures"]:
            info(f"dedupe: {f['id']} ({f['title']}): {f['error']}")
        doc = find_duplicates(ws, threshold, config)
    if args.json:
        emit_json(doc)
    else:
        if not doc["groups"]:
            print(f"no copies among {doc['described']} described items (threshold {threshold})")
        for n, g in enumerate(doc["groups"], 1):
            print(f"group {n}  score {g['score']:.3f}")
            for it in g["items"]:
                print(f"  {it['id']}  {it['title']}  {it['path']}")
        if doc["failures"]:
            info(f"{len(doc['failures'])} item(s) could not be described (see 'reelmatch status')")
    return 0
