NAME = "add"
HELP = "files or folders of videos"
EXAMPLE = "reelmatch -w ws add trailers/ --genre Horror"


def add_arguments(p) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="video files or folders (walked recursively)")
    p.add_argument("--genre", action="append", default=[], metavar="G", help="genre label for every file (repeatable)")
    p.add_argument(
        "--kind", choices=("trailer", "ad"), default=None,
        help="trailer or ad (default: trailer for new items; items already there keep theirs)",
    )  # fmt: skip
    p.add_argument("--title", default=None, help="title for the items (default: from the file name)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON document on stdout")
    p.epilog = (p.epilog or "") + (
        "\n\nVideos are recognised by content (PyAV decodes a video stream), not by extension;"
        "\nother files are skipped with a reason. The same content added twice is one item."
        "\nExit status: 0 if any video is in the catalogue after the run, 1 if none was found."
    )


def run(args) -> int:
    from reelmatch.cli.common import StageProgress, open_workspace, report_ingest
    from reelmatch.ingest import add_paths

    ws = open_workspace(args)
    with StageProgress("add") as progress:
        report = add_paths(ws, args.paths, genres=args.genre, kind=args.kind, title=args.title, progress=progress)
    report_ingest(report, "add", "skipped", args.json)
    return 0 if report.imported else 1
