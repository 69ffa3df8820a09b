"""HTTP load benchmark of ``reelmatch serve`` on 127.0.0.1 (bounded, stops by itself).

Starts ``reelmatch -w WS serve`` as a separate process on a free loopback port,
then drives it with ``--clients`` concurrent httpx clients (asyncio) for
``--seconds`` on each endpoint, side by side in one run:

- ``GET /api/health``                 the framework floor (no workspace work),
- ``GET /api/items?q=...``             a catalogue page (SQLite),
- ``GET /api/items/{id}/similar?k=10`` the question the page asks most.

For each, after a 2-second warm-up that is not counted: requests, errors
(non-200 or transport errors; target 0), requests/s, p50 and p99 latency. The ratio of similar's requests/s to the
framework floor's is printed last.

The workspace is ``--workspace`` (a built one, e.g. after ``reelmatch demo``),
or, by default, a demo-like workspace built in a temporary directory:
``--items`` (200, the demo's size) generated videos in six genre styles,
extracted, embedded and indexed (about a minute on 2 cores).

    .venv/bin/python benchmarks/serve.py                      # build a small demo-like workspace
    .venv/bin/python benchmarks/serve.py -w workspace --seconds 20 --clients 32
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


GENRES = [("Action",), ("Drama", "Romance"), ("Comedy",), ("Horror", "Thriller"), ("Animation", "Family"), ("Sci-Fi", "Action")]


def build_demo_like(root: Path, items: int, workers: int | None) -> Path:
    """A catalogue of ``items`` generated 2-second videos in six genre styles (10% ads),
    extracted, embedded (the pretrained backbone alone, as before any training)
    and indexed: what ``similar`` serves on the demo, at the demo's size."""
    import numpy as np

    from reelmatch.embed import EmbedConfig, run_embed
    from reelmatch.extract import ClipConfig, run_extract
    from reelmatch.index import run_index
    from reelmatch.ingest import add_paths
    from reelmatch.samples.media import moving_box_frames, tone, write_video
    from reelmatch.workspace import Workspace

    t0 = time.perf_counter()
    print(f"building a demo-like workspace of {items} items in {root} ...", flush=True)
    ws = Workspace.init(root)
    rng = np.random.default_rng(0)
    for i in range(items):
        style = i % len(GENRES)
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        background = tuple(int(40 * style + c) % 256 for c in rng.integers(0, 60, 3))
        f = write_video(
            root / "media" / "generated" / f"sample-{i:04d}.mp4",
            frames=moving_box_frames(64, 64, color=color, background=background, speed=0.5 + style / 2),
            audio=tone(200.0 * (style + 1) + float(rng.integers(0, 50))),
        )
        ad = i % 10 == 9
        add_paths(ws, [f], title=f"{'Ad' if ad else 'Sample'} {i:04d}", genres=[] if ad else list(GENRES[style]),
                  kind="ad" if ad else "trailer")
    run_extract(ws, ClipConfig(start=0.0, window=2.0, num_frames=4, interval=0.5, size=64), workers=workers)
    run_embed(ws, EmbedConfig(use_model=False))  # the pretrained backbone alone, as before any training
    run_index(ws)
    ws.close()
    print(f"  built in {time.perf_counter() - t0:.0f} s", flush=True)
    return root


def start_server(ws_path: Path, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "reelmatch", "-w", str(ws_path), "serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not answer within 60 s")


async def load(base: str, urls: list[str], clients: int, seconds: float) -> dict:
    """``clients`` concurrent loops GETting ``urls`` round-robin for ``seconds``."""
    import httpx

    latencies: list[float] = []
    errors: dict[str, int] = {}
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def worker(i: int) -> None:
            n = i
            while time.perf_counter() < stop:
                url = urls[n % len(urls)]
                n += clients
                t0 = time.perf_counter()
                try:
                    r = await client.get(url)
                    await r.aread()
                    if r.status_code != 200:
                        errors[str(r.status_code)] = errors.get(str(r.status_code), 0) + 1
                        continue
                except httpx.HTTPError as e:
                    errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
                    continue
                latencies.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(clients)))
        wall = time.perf_counter() - t0
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else float("nan")

    return {
        "requests": len(latencies) + sum(errors.values()),
        "ok": len(latencies),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "rps": len(latencies) / wall,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
    }


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-w", "--workspace", type=Path, default=None, help="a built workspace (default: build a demo-like one)")
    p.add_argument("--items", type=int, default=200, help="items of the generated workspace (default 200, the demo's)")
    p.add_argument("--workers", type=int, default=None, help="extract workers for the generated workspace")
    p.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    p.add_argument("--seconds", type=float, default=20.0, help="duration of the similar run (default 20)")
    p.add_argument("--floor-seconds", type=float, default=5.0, help="duration of the health and catalogue runs (default 5)")
    p.add_argument("-k", type=int, default=10, help="neighbours per similar query (default 10)")
    return p


def main(args) -> int:
    import httpx

    tmp = None
    if args.workspace is None:
        tmp = tempfile.TemporaryDirectory(prefix="reelmatch-bench-serve-")
        ws_path = build_demo_like(Path(tmp.name) / "ws", args.items, args.workers)
    else:
        ws_path = args.workspace.expanduser().resolve()
    port = free_port()
    proc = start_server(ws_path, port)
    base = f"http://127.0.0.1:{port}"
    try:
        page = httpx.get(f"{base}/api/items", params={"kind": "trailer", "limit": 200}).json()["items"]
        ids = [it["id"] for it in page]
        if not ids:
            print("the workspace has no trailers", file=sys.stderr)
            return 1
        probe = httpx.get(f"{base}/api/items/{ids[0]}/similar", params={"k": args.k})
        if probe.status_code != 200:
            print(f"similar does not answer on this workspace: {probe.status_code} {probe.text[:300]}", file=sys.stderr)
            return 1
        words = sorted({w for it in page for w in it["title"].split() if len(w) > 2})[:50] or ["a"]
        runs = [
            ("GET /api/health", ["/api/health"], args.floor_seconds),
            ("GET /api/items?q=", [f"/api/items?q={w}&limit=24" for w in words], args.floor_seconds),
            (f"GET /api/items/{{id}}/similar?k={args.k}", [f"/api/items/{i}/similar?k={args.k}" for i in ids], args.seconds),
        ]
        print(
            f"serve benchmark: {len(ids)} trailers, {args.clients} concurrent clients, server pid {proc.pid} on {base}, "
            f"{os.cpu_count()} CPUs shared by client and server",
            flush=True,
        )
        print(f"  {'endpoint':<34} {'seconds':>7} {'requests':>9} {'errors':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
        results = {}
        for name, urls, seconds in runs:
            asyncio.run(load(base, urls, args.clients, min(2.0, seconds)))  # warm-up: connections, threads, caches
            r = asyncio.run(load(base, urls, args.clients, seconds))
            results[name] = r
            kinds = f"  {r['error_kinds']}" if r["errors"] else ""
            print(
                f"  {name:<34} {seconds:>7.0f} {r['requests']:>9} {r['errors']:>7} {r['rps']:>8.1f} "
                f"{r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f}{kinds}",
                flush=True,
            )
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if tmp is not None:
            tmp.cleanup()
    sim = results[runs[-1][0]]
    floor = results[runs[0][0]]
    total_errors = sum(r["errors"] for r in results.values())
    print(f"errors: {total_errors} (target 0)")
    print(f"similar req/s / framework-floor req/s = {sim['rps'] / floor['rps']:.2f}")
    return 0 if total_errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
