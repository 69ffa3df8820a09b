NAME = "evaluate"
HELP = "metrics, plots, HTML report"
EXAMPLE = "reelmatch -w ws evaluate --json"


def add_arguments(p) -> None:
    from reelmatch.cli.common import add_json_flag

    add_json_flag(p)
    p.add_argument("--split", default="test", choices=("test", "val", "train"), help="held-out split to query (default test)")
    p.add_argument(
        "--baselines",
        default=None,
        metavar="A,B",
        help="comma-separated baselines (default all: random,pretrained_mean,untrained,audio_only,frames_only)",
    )
    p.add_argument("--no-baselines", action="store_true", help="only the trained model")
    p.add_argument("--projection", default="auto", choices=("auto", "pca", "tsne"), help="2-D map method")
    p.add_argument("--seed", type=int, default=0, help="seed of the random baseline and of the example choice")


def run(args) -> int:
    from reelmatch.cli.common import clip_config_of, emit_json, info, open_workspace
    from reelmatch.evaluate.config import BASELINES, EvalConfig
    from reelmatch.evaluate.run import run_evaluate

    baselines = BASELINES
    if args.no_baselines:
        baselines = ()
    elif args.baselines:
        baselines = tuple(b.strip() for b in args.baselines.split(",") if b.strip())
    config = EvalConfig(split=args.split, baselines=baselines, projection=args.projection, seed=args.seed)
    with open_workspace(args) as ws:
        res = run_evaluate(ws, config, clip_config=clip_config_of(ws), progress=lambda m: info(f"evaluate: {m}"))
    if args.json:
        emit_json(res.doc)
    else:
        print(format_table(res.doc))
    info(f"metrics: {res.metrics_path}")
    info(f"report:  {res.report_path}")
    return 0


def format_table(doc) -> str:
    """The metrics of the trained model and baselines as an aligned text table."""
    cols = (("map_at_r", "MAP@R"), ("precision_at_1", "P@1"), ("precision_at_10", "P@10"), ("ndcg_at_10", "nDCG@10"))
    rows = [("trained model", doc["metrics"])] + [(f"baseline: {k}", v) for k, v in doc.get("baselines", {}).items()]
    width = max(len(r[0]) for r in rows)
    lines = [f"{doc.get('items', '?')} held-out trailers ({doc['split']} split), genre-overlap relevance",
             " " * width + "".join(f"{lab:>9}" for _, lab in cols)]
    for name, m in rows:
        lines.append(name.ljust(width) + "".join(f"{m.get(k, float('nan')):9.3f}" for k, _ in cols))
    return "\n".join(lines)
