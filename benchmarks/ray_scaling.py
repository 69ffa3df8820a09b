"""Ray extract with several workers: records/s as workers are added, the driver only committing.

A local Ray instance (``--cpus`` logical CPUs) runs ``run_extract`` with the Ray
engine, workers writing their own shards (the default on Ray), over the same
trailers (the extract benchmark's cached 720p ones, each ``--repeat`` times as
separate items), once per worker count of ``--workers``. Printed per run:
records/s, the driver process's own CPU seconds (what committing costs it), the
MB/s of records written by the workers, and the speed-up over one worker. On
a machine with fewer cores than workers the curve flattens at the core count
(CPU-bound), not at the disk: compare the MB/s with the disk's.

    .venv/bin/python benchmarks/ray_scaling.py --workers 1 2 4
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", nargs="*", type=Path)
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "reelmatch-bench-extract")
    ap.add_argument("--repeat", type=int, default=2, help="items per trailer (default 2)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--cpus", type=int, default=None, help="logical CPUs of the Ray instance (default: max --workers)")
    args = ap.parse_args(argv)

    import ray

    from reelmatch.catalog import Item
    from reelmatch.engine.ray import RayEngine
    from reelmatch.extract import ClipConfig, run_extract
    from reelmatch.workspace import Workspace

    files = args.files or sorted(args.cache.glob("trailer-v3-*-150s.mp4"))
    if not files:
        print("no trailers: run benchmarks/extract.py once or pass --files", file=sys.stderr)
        return 2
    ray.init(num_cpus=args.cpus or max(args.workers), include_dashboard=False, log_to_driver=False)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as d:
            # warm-up: workers import PyAV once, as a long run would have them
            ws = Workspace.init(Path(d) / "warm")
            ws.catalog.upsert(Item(id="w", title="warm", media_path=str(files[0])))
            run_extract(ws, ClipConfig(), engine=RayEngine(), workers=max(args.workers))
            ws.close()
            for w in args.workers:
                ws = Workspace.init(Path(d) / f"ws{w}")
                for r in range(args.repeat):
                    for i, p in enumerate(files):
                        ws.catalog.upsert(Item(id=f"t{r}-{i:03d}", title=f"{p.stem} {r}", media_path=str(p)))
                me0 = resource.getrusage(resource.RUSAGE_SELF)
                t = time.perf_counter()
                res = run_extract(ws, ClipConfig(), engine=RayEngine(), workers=w)
                dt = time.perf_counter() - t
                me1 = resource.getrusage(resource.RUSAGE_SELF)
                store_bytes = sum(p.stat().st_size for p in (Path(d) / f"ws{w}" / "clips").rglob("*.tar"))
                ws.close()
                if res["failed"]:
                    raise SystemExit(f"{w} workers: {res['failures'][:3]}")
                driver = (me1.ru_utime + me1.ru_stime) - (me0.ru_utime + me0.ru_stime)
                rows.append((w, res["done"], dt, driver, store_bytes))
                print(f"{w} workers: {res['done']} records in {dt:.1f} s = {res['done'] / dt:.2f} records/s,"
                      f" driver CPU {driver:.2f} s, {store_bytes / dt / 1e6:.1f} MB/s written", flush=True)
    finally:
        ray.shutdown()
    base = rows[0][1] / rows[0][2]
    print(f"\n{'workers':>7} {'records/s':>10} {'speed-up':>9} {'driver CPU/record':>18} {'MB/s':>7}")
    for w, n, dt, driver, nbytes in rows:
        print(f"{w:>7} {n / dt:10.2f} {n / dt / base:8.2f}x {1000 * driver / n:15.1f} ms {nbytes / dt / 1e6:7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
