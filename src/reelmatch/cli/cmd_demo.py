NAME = "demo"
HELP = "sample corpus -> build -> show"
EXAMPLE = "reelmatch demo"


def add_arguments(p) -> None:
    pass


def run(args) -> int:
    from reelmatch.errors import NotBuiltError

    raise NotBuiltError("'demo' is not built yet (issue #8)")
