"""Cost of one ``similar`` answered on the server's inline path (no HTTP), per call, in-process.

The neighbour table and the cached rows answer it (what ``GET /api/items/{id}/similar`` does on
the event loop); each catalogue item queries ``--rounds`` times after a warm-up, and the JSON is
serialised as the server does (orjson). ``--profile`` prints the top functions by own time.

    .venv/bin/python benchmarks/similar_call.py -w /tmp/bench-serve-keep/devdata
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main(args) -> int:
    import orjson

    from reelmatch.serve.app import create_app
    from reelmatch.serve.config import ServeConfig
    from reelmatch.workspace import Workspace

    state = create_app(Workspace(args.workspace), ServeConfig()).state.reelmatch
    ids = [i.id for i in state.ws.catalog.items() if i.kind == "trailer"]
    for i in ids:  # fills the inline path's caches, as the server's first requests do
        state.served.similar(i, k=args.k).to_dict()

    def one(i):
        item = state.inline.catalog.get(i)
        return orjson.dumps(state.inline.similar(item.id, k=args.k, genre=None, kind=None, fallback=False).to_dict())

    for i in ids:
        one(i)
    t = time.perf_counter()
    for _ in range(args.rounds):
        for i in ids:
            one(i)
    ms = 1000 * (time.perf_counter() - t) / (args.rounds * len(ids))
    print(f"{len(ids)} items x {args.rounds} rounds: {ms:.3f} ms per similar (k={args.k}); load {os.getloadavg()[0]:.2f}")
    if args.profile:
        pr = cProfile.Profile()
        pr.enable()
        for i in ids:
            one(i)
        pr.disable()
        pstats.Stats(pr).sort_stats("tottime").print_stats(15)
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-w", "--workspace", required=True, help="a built workspace (embeddings, index, neighbour table)")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--profile", action="store_true")
    sys.exit(main(p.parse_args()))
