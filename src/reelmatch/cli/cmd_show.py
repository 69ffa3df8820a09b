NAME = "show"
HELP = "contact sheet PNG of a clip"
EXAMPLE = "reelmatch -w ws show 'Sintel' -o sintel.png"


def add_arguments(p) -> None:
    pass


def run(args) -> int:
    from reelmatch.errors import NotBuiltError

    raise NotBuiltError("'show' is not built yet (issue #3)")
