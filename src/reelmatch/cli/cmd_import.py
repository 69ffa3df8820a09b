NAME = "import"
HELP = "CSV/JSONL manifest, MovieLens files"
EXAMPLE = "reelmatch -w ws import catalogue.csv  |  reelmatch -w ws import --movielens ml-25m/"


def add_arguments(p) -> None:
    pass


def run(args) -> int:
    from reelmatch.errors import NotBuiltError

    raise NotBuiltError("'import' is not built yet (issue #2)")
