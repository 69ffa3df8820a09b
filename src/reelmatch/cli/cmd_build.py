NAME = "build"
HELP = "every stage in order"
EXAMPLE = "reelmatch -w ws build"


def add_arguments(p) -> None:
    pass


def run(args) -> int:
    from reelmatch.errors import NotBuiltError

    raise NotBuiltError("'build' is not built yet (issue #8)")
