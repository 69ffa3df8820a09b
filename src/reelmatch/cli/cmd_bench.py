NAME = "bench"
HELP = "benchmarks (near-duplicate retrieval)"
EXAMPLE = "reelmatch bench ndvr ../shared/devdata --quick"


def add_arguments(p) -> None:
    from reelmatch.cli.common import add_json_flag

    p.add_argument("benchmark", choices=["ndvr"], help="ndvr: near-duplicate video retrieval over generated copies")
    p.add_argument("video_dir", metavar="VIDEO_DIR", help="folder of distinct videos to copy and search")
    p.add_argument("--out", metavar="DIR", default=None, help="keep the generated copies here (default: a temporary folder)")
    p.add_argument("--quick", action="store_true", help="6 s per video, 8 queries, one transformation per family")
    p.add_argument("--seconds", type=float, default=None, help="length of each original used (default 20, quick 6)")
    p.add_argument("--queries", type=int, default=None, help="originals that get copies (default all, quick 8)")
    p.add_argument("--transforms", default=None, help="comma-separated subset of the suite (see docs/dedupe.md)")
    p.add_argument("--backbone", default="efficientnet_lite0", help="frame backbone")
    p.add_argument("--frame-norm", default="legacy", metavar="NAME",
                   help="the backbone's input normalisation (default legacy: ImageNet statistics for EfficientNet-Lite)")
    p.add_argument("--augly", action="store_true",
                   help="the copy-detection suite: AugLy edits, compounds and hard negatives, pair precision/recall and µAP")
    p.add_argument("--sources", type=int, default=0, help="--augly: videos of the folder used (default all)")
    p.add_argument("--generated", type=int, default=8, help="--augly: generated films added as sources")
    p.add_argument("--cache", default=None, help="--augly: cache of generated media (default /tmp/reelmatch-augly)")
    add_json_flag(p)


def run(args) -> int:
    from dataclasses import replace

    from reelmatch.cli.common import emit_json, info
    from reelmatch.dedupe.config import DedupeConfig
    from reelmatch.dedupe.ndvr import NdvrConfig, format_table, run_ndvr

    if args.augly:
        return _run_augly(args)
    cfg = NdvrConfig.quick() if args.quick else NdvrConfig()
    cfg = replace(cfg, dedupe=DedupeConfig(backbone=args.backbone, frame_norm=args.frame_norm))
    if args.seconds:
        cfg = replace(cfg, max_seconds=args.seconds)
    if args.queries is not None:
        cfg = replace(cfg, max_queries=args.queries)
    if args.transforms:
        cfg = replace(cfg, transforms=tuple(t.strip() for t in args.transforms.split(",") if t.strip()))
    doc = run_ndvr(args.video_dir, cfg, out_dir=args.out, progress=(lambda m: info(f"ndvr: {m}")) if args.verbose else None)
    if args.json:
        emit_json(doc)
    else:
        print(format_table(doc))
    return 0


def _run_augly(args) -> int:
    from pathlib import Path

    from reelmatch.cli.common import emit_json, info
    from reelmatch.dedupe.config import DedupeConfig
    from reelmatch.dedupe.copybench import CopyBenchConfig, format_report, run_copybench

    cfg = CopyBenchConfig(dedupe=DedupeConfig(backbone=args.backbone, frame_norm=args.frame_norm), max_sources=args.sources, generated=args.generated)
    if args.cache:
        cfg = CopyBenchConfig(**{**cfg.__dict__, "cache_dir": Path(args.cache)})
    doc = run_copybench(args.video_dir, cfg, progress=(lambda m: info(f"ndvr: {m}")) if args.verbose else None)
    if args.json:
        emit_json(doc)
    else:
        print(format_report(doc))
    return 0
