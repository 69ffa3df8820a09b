NAME = "evaluate"
HELP = "metrics, plots, HTML report"
EXAMPLE = "reelmatch -w ws evaluate --json"


def add_arguments(p) -> None:
    pass


def run(args) -> int:
    from reelmatch.errors import NotBuiltError

    raise NotBuiltError("'evaluate' is not built yet (issue #8)")
