NAME = "init"
HELP = "create a workspace"
EXAMPLE = "reelmatch -w ~/reels init  |  reelmatch -w ~/reels init --storage s3://bucket/reels"


def add_arguments(p) -> None:
    p.add_argument("--storage", metavar="URL", default=None,
                   help="fsspec URL (s3://, gs://, file://...) where clip shards are written from now on; "
                        "the catalogue and indexes stay in the workspace (recorded in workspace.json)")


def run(args) -> int:
    from reelmatch.cli.common import info
    from reelmatch.workspace import Workspace

    ws = Workspace.init(args.workspace, storage=args.storage)
    info(f"workspace ready at {ws.root}" + (f", clip shards on {ws.storage}" if ws.storage else ""))
    return 0
