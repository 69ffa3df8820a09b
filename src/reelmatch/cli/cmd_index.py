NAME = "index"
HELP = "build/update the ANN index"
EXAMPLE = "reelmatch -w ws index --backend faiss"


def add_arguments(p) -> None:
    pass


def run(args) -> int:
    from reelmatch.errors import NotBuiltError

    raise NotBuiltError("'index' is not built yet (issue #5)")
