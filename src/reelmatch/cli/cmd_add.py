NAME = "add"
HELP = "files or folders of videos"
EXAMPLE = "reelmatch -w ws add trailers/ --genre Horror"


def add_arguments(p) -> None:
    pass


def run(args) -> int:
    from reelmatch.errors import NotBuiltError

    raise NotBuiltError("'add' is not built yet (issue #2)")
