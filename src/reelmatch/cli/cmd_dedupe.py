NAME = "dedupe"
HELP = "groups of copies"
EXAMPLE = "reelmatch -w ws dedupe --json"


def add_arguments(p) -> None:
    pass


def run(args) -> int:
    from reelmatch.errors import NotBuiltError

    raise NotBuiltError("'dedupe' is not built yet (issue #7)")
