NAME = "download"
HELP = "fetch URL items (yt-dlp)"
EXAMPLE = "reelmatch -w ws download --workers 4"


def add_arguments(p) -> None:
    pass


def run(args) -> int:
    from reelmatch.errors import NotBuiltError

    raise NotBuiltError("'download' is not built yet (issue #2)")
