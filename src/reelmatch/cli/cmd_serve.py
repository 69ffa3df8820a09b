NAME = "serve"
HELP = "HTTP API + web page"
EXAMPLE = "reelmatch -w ws serve --port 8000"


def add_arguments(p) -> None:
    pass


def run(args) -> int:
    from reelmatch.errors import NotBuiltError

    raise NotBuiltError("'serve' is not built yet (issue #6)")
