NAME = "download"
HELP = "fetch URL items (yt-dlp)"
EXAMPLE = "reelmatch -w ws download --workers 4 --max-height 720 --rate-limit 2M"


def add_arguments(p) -> None:
    from reelmatch.download.config import DownloadConfig

    from reelmatch.cli.common import add_engine_flags, add_workers_flag

    d = DownloadConfig()
    add_workers_flag(p, default=4, help="parallel downloads (default 4)")
    p.add_argument("--retry-failed", action="store_true", help="try items that failed before again")
    p.add_argument("--max-height", type=int, default=d.max_height, metavar="PX", help=f"highest resolution (default {d.max_height})")
    p.add_argument("--rate-limit", default=None, metavar="RATE", help="total bandwidth over all workers, e.g. 500K, 2M (default: none)")
    p.add_argument("--retries", type=int, default=d.retries, metavar="N", help=f"further attempts after a transient failure, with backoff (default {d.retries})")
    p.add_argument("--format", default=None, metavar="SPEC", help="a yt-dlp format spec replacing the default choice")
    p.add_argument("--json", action="store_true", help="print the report as one JSON document on stdout")
    add_engine_flags(p)
    p.epilog = (p.epilog or "") + (
        "\n\nFiles go to <workspace>/media/<id>.<ext>; an interrupted download is resumed, and a file"
        "\ncounts as done only once complete and decodable. Without an ffmpeg binary only formats"
        "\nthat need no merging are chosen. Failures are listed by 'reelmatch status'."
        "\nExit status: 0 if no item failed in this run, 1 if some did."
    )


def run(args) -> int:
    from reelmatch.cli.common import StageProgress, emit_json, engine_from_args, info, open_workspace
    from reelmatch.download import DownloadConfig, download_all, parse_rate
    from reelmatch.errors import InputError

    try:
        config = DownloadConfig(
            max_height=args.max_height, rate_limit=parse_rate(args.rate_limit), retries=args.retries, format=args.format
        )
    except ValueError as e:
        raise InputError(str(e)) from None
    ws = open_workspace(args)
    with StageProgress("download") as progress:
        report = download_all(ws, config, workers=args.workers, retry_failed=args.retry_failed, progress=progress,
                              engine=engine_from_args(args))
    info(f"download: {report.summary()}")
    if args.json:
        emit_json(report.to_dict())
    return 1 if report.failed else 0
