NAME = "train"
HELP = "fit the model (phases)"
EXAMPLE = "reelmatch -w ws train --epochs 10"


def add_arguments(p) -> None:
    pass


def run(args) -> int:
    from reelmatch.errors import NotBuiltError

    raise NotBuiltError("'train' is not built yet (issue #4)")
