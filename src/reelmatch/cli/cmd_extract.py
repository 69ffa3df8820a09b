NAME = "extract"
HELP = "clips from media"
EXAMPLE = "reelmatch -w ws extract --workers 2"


def add_arguments(p) -> None:
    pass


def run(args) -> int:
    from reelmatch.errors import NotBuiltError

    raise NotBuiltError("'extract' is not built yet (issue #3)")
