"""Cost of one ``similar`` answered on the server's inline path (no HTTP), per call, in-process.

The neighbour table and the cached rows answer it (what ``GET /api/items/{id}/similar`` does on
the event loop); each catalogue item queries ``--rounds`` times after a warm-up, and the JSON is
serialised as the server does (orjson). ``--profile`` prints the top functions by own time.

``--asgi`` also times whole requests through the app in-process (an ASGI call of
``GET /api/items/{id}/similar?k=10`` with no socket), side by side, rotated over
``--repeats`` rounds: answered before routing (the default, :mod:`reelmatch.serve.fastpath`),
through FastAPI's route (``inline_route=False``), and ``/api/health`` for scale.

    .venv/bin/python benchmarks/similar_call.py -w /tmp/bench-serve-keep/devdata
    .venv/bin/python benchmarks/similar_call.py -w /tmp/bench-serve-keep/devdata --asgi
    .venv/bin/python benchmarks/similar_call.py -w /tmp/bench-serve-keep/synthetic-100000 --ids 200 --asgi
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
    if args.ids:  # the first N trailers, the ids benchmarks/serve.py queries (/api/items?kind=trailer&limit=N)
        ids = [it.id for it in state.ws.catalog.search(kind="trailer", limit=args.ids)]
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
    if args.asgi:
        asgi_requests(args, ids)
    if args.profile:
        pr = cProfile.Profile()
        pr.enable()
        for i in ids:
            one(i)
        pr.disable()
        pstats.Stats(pr).sort_stats("tottime").print_stats(15)
    return 0


def asgi_requests(args, ids) -> None:
    import asyncio
    import statistics

    from reelmatch.serve.app import create_app
    from reelmatch.serve.config import ServeConfig
    from reelmatch.workspace import Workspace

    apps = {"before routing (default)": create_app(Workspace(args.workspace), ServeConfig()),
            "through the route": create_app(Workspace(args.workspace), ServeConfig(inline_route=False))}

    def scope(path: str, qs: bytes) -> dict:
        return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": qs, "root_path": "",
                "headers": [(b"host", b"127.0.0.1"), (b"accept", b"*/*")], "client": ("127.0.0.1", 1),
                "server": ("127.0.0.1", 8000)}

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    statuses = []

    async def send(message):
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    similar = [(f"/api/items/{i}/similar", f"k={args.k}".encode()) for i in ids]
    sides = [(name, app, similar) for name, app in apps.items()]
    sides.append(("GET /api/health", apps["before routing (default)"], [("/api/health", b"")] * len(ids)))

    async def run(app, paths, rounds):
        for _ in range(rounds):
            for path, qs in paths:
                await app(scope(path, qs), receive, send)

    async def measure():
        times = {name: [] for name, _, _ in sides}
        for _, app, paths in sides:
            await run(app, paths, 3)  # warm: caches filled, middleware stacks built
        for rep in range(args.repeats):
            for name, app, paths in sides[rep % len(sides):] + sides[:rep % len(sides)]:
                t = time.perf_counter()
                await run(app, paths, args.rounds)
                times[name].append(1000 * (time.perf_counter() - t) / (args.rounds * len(paths)))
        return times

    times = asyncio.run(measure())
    assert set(statuses) == {200}, f"unexpected statuses {sorted(set(statuses))}"
    base = statistics.median(times["through the route"])
    print(f"ASGI requests in-process, median of {args.repeats} rotated rounds; load {os.getloadavg()[0]:.2f}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:28s} {med:.3f} ms per request ({base / med:.2f}x the route)")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-w", "--workspace", required=True, help="a built workspace (embeddings, index, neighbour table)")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--ids", type=int, default=0,
                   help="only the first N trailers, as benchmarks/serve.py queries them (default: every trailer)")
    p.add_argument("--asgi", action="store_true", help="also: whole requests through the app in-process")
    p.add_argument("--repeats", type=int, default=5, help="--asgi: rotated rounds per side (default 5)")
    sys.exit(main(p.parse_args()))
