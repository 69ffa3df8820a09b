NAME = "init"
HELP = "create a workspace"
EXAMPLE = "reelmatch -w ~/reels init"


def add_arguments(p) -> None:
    pass


def run(args) -> int:
    from reelmatch.cli.common import info
    from reelmatch.workspace import Workspace

    ws = Workspace.init(args.workspace)
    info(f"workspace ready at {ws.root}")
    return 0
