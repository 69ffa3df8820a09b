NAME = "match-ad"
HELP = "movies for a commercial"
EXAMPLE = "reelmatch -w ws match-ad commercial.mp4 --json"


def add_arguments(p) -> None:
    pass


def run(args) -> int:
    from reelmatch.errors import NotBuiltError

    raise NotBuiltError("'match-ad' is not built yet (issue #5)")
