NAME = "features"
HELP = "cache backbone features"
EXAMPLE = "reelmatch -w ws features"


def add_arguments(p) -> None:
    pass


def run(args) -> int:
    from reelmatch.errors import NotBuiltError

    raise NotBuiltError("'features' is not built yet (issue #4)")
