NAME = "index"
HELP = "build/update the ANN index"
EXAMPLE = "reelmatch -w ws index --kind auto --exact-below 50000"


def add_arguments(p) -> None:
    from reelmatch.index.backends import list_backends

    p.add_argument("--backend", choices=list_backends(), default=list_backends()[0],
                   help="faiss (default; incremental add/remove) or annoy (the recipe's; rebuilt on change)")
    p.add_argument("--kind", choices=("auto", "flat", "hnsw", "ivfpq"), default="auto",
                   help="FAISS structure: exact flat, HNSW, auto = exact below --exact-below vectors,"
                        " or ivfpq = compressed for 10M+ vectors")
    p.add_argument("--exact-below", type=int, default=50_000, metavar="N", help="auto: exact search below N vectors")
    p.add_argument("--ef-search", type=int, default=128, metavar="N", help="HNSW search beam (recall vs speed)")
    p.add_argument("--annoy-trees", type=int, default=50, metavar="N", help="Annoy forest size")
    p.add_argument("--nprobe", type=int, default=32, metavar="N", help="ivfpq: lists visited per query (recall vs speed)")
    p.add_argument("--pq-bytes", type=int, default=32, metavar="M", help="ivfpq: bytes per vector code (divides the dimension)")
    p.add_argument("--refine", choices=("none", "sq8", "flat"), default="none",
                   help="ivfpq: re-rank candidates with 8-bit (sq8) or exact (flat) vectors")
    p.add_argument("--neighbours", type=int, default=None, metavar="K",
                   help="precomputed neighbours per item, read by similar (default: the current table's K,"
                        " else 50; 0 = no table)")
    p.add_argument("--rebuild", action="store_true", help="build from scratch instead of updating")


def run(args) -> int:
    from reelmatch.cli.common import info, open_workspace
    from reelmatch.index import IndexConfig, run_index

    ws = open_workspace(args)
    config = IndexConfig(
        backend=args.backend, kind=args.kind, exact_below=args.exact_below, ef_search=args.ef_search,
        annoy_trees=args.annoy_trees, nprobe=args.nprobe, pq_m=args.pq_bytes, refine=args.refine,
    )
    report = run_index(ws, config, rebuild=args.rebuild, neighbours=args.neighbours)
    info(f"{report.summary}: {report.path}")
    return 0
