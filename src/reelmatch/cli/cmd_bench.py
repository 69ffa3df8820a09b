NAME = "bench"
HELP = "benchmarks (near-duplicate retrieval)"
EXAMPLE = "reelmatch bench ndvr ../shared/devdata"


def add_arguments(p) -> None:
    pass


def run(args) -> int:
    from reelmatch.errors import NotBuiltError

    raise NotBuiltError("'bench' is not built yet (issue #7)")
