NAME = "embed"
HELP = "vectors for all clips"
EXAMPLE = "reelmatch -w ws embed"


def add_arguments(p) -> None:
    pass


def run(args) -> int:
    from reelmatch.errors import NotBuiltError

    raise NotBuiltError("'embed' is not built yet (issue #5)")
