NAME = "similar"
HELP = "neighbours of a title, id or video file"
EXAMPLE = "reelmatch -w ws similar 'Sintel' -k 5 --json"


def add_arguments(p) -> None:
    pass


def run(args) -> int:
    from reelmatch.errors import NotBuiltError

    raise NotBuiltError("'similar' is not built yet (issue #5)")
