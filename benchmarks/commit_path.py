"""Commit-path load test: how many items per second the one driver commits.

The extract stage runs through the real runner (``reelmatch.runner.run_stage``),
the real extract job and the real catalogue and clip index (SQLite, WAL) of a
scratch workspace, with a synthetic engine in place of the workers: results
arrive as fast as the driver takes them. Side by side in one run:

* **workers write, batched commits** (the Ray engine's path): each result is the
  small ``RecordRef`` a worker returns after appending its record to its own
  shard; the driver commits the clip index and the catalogue once per
  ``--commit-every`` items (or second);
* **driver writes, batched commits** (the local engine's path): each result is an
  encoded record (JPEG frames, as workers make them, ~``--record-kb`` KB); the
  driver appends it to its shard and fsyncs once per batch;
* **per-item commits** (the previous path, ``--commit-every 1``): a fsync and a
  catalogue transaction per item, on ``--baseline-items`` items.

Prints items/s of each and the ratios (target: >= 5,000 items/s committed).

    .venv/bin/python benchmarks/commit_path.py                 # 20,000 items
    .venv/bin/python benchmarks/commit_path.py --items 100000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


class SyntheticEngine:
    """An engine whose 'workers' answer at once: ``make(task) -> result`` for every task."""

    name = "synthetic"

    def __init__(self, make, workers_write: bool):
        self.make = make
        self.workers_write = workers_write

    def map(self, fn, items, **_):
        for task in items:
            yield task, self.make(task)

    def map_batches(self, make_fn, batches, **_):  # pragma: no cover - not used by extract
        raise NotImplementedError


def make_workspace(root: Path, n: int):
    from reelmatch.workspace import Workspace

    ws = Workspace.init(root / "ws")
    cat = ws.catalog
    with cat.transaction() as c:  # one transaction: this is set-up, not the measured path
        c.executemany("INSERT INTO items (id, title, kind, media_path, created_at, updated_at) VALUES (?,?,?,?,?,?)",
                      [(f"i{i:07d}", f"Title {i}", "trailer", f"/media/{i}.mp4", time.time(), time.time()) for i in range(n)])
    return ws


def run(root: Path, n: int, mode: str, commit_every: int, record) -> tuple[float, dict]:
    from reelmatch.dataset.store import RecordRef
    from reelmatch.extract import ClipConfig
    from reelmatch.extract.run import extract_stage

    ws = make_workspace(root, n)
    if mode == "refs":
        def make(task):
            return RecordRef(task[0], "clips-20260101000000-abcdef-host-1-00001.tar", {"json": [512, 300]},
                             "train", True, 10, 150_000, 0)
    else:
        from dataclasses import replace

        def make(task):
            return replace(record, id=task[0])
    engine = SyntheticEngine(make, workers_write=(mode == "refs"))
    t = time.perf_counter()
    res = extract_stage(ws, ClipConfig(), engine=engine, commit_every=commit_every, commit_seconds=1.0)
    dt = time.perf_counter() - t
    st = ws.status()["stages"]["extract"]
    ws.close()
    if res.done != n or st["done"] != n:
        raise SystemExit(f"{mode}: {res.done} done, status {st}")
    return dt, res.counts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=20000, help="items of the batched runs (default 20,000)")
    ap.add_argument("--baseline-items", type=int, default=1000, help="items of the per-item run (default 1,000)")
    ap.add_argument("--commit-every", type=int, default=256, help="items per commit (default 256)")
    ap.add_argument("--record-kb", type=int, default=150, help="size of a synthetic encoded record (default 150 KB)")
    ap.add_argument("--dir", type=Path, default=None, help="scratch directory (default: a temporary one)")
    args = ap.parse_args(argv)

    import numpy as np

    from reelmatch.dataset.store import EncodedRecord

    rng = np.random.default_rng(0)
    record = EncodedRecord("x", "train", True, 10, {"json": b"{}" * 100,
                                                    "f00.jpg": rng.bytes(args.record_kb * 1024)})
    rows = []
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        for label, mode, n, every in (
            ("workers write, batched commits", "refs", args.items, args.commit_every),
            ("driver writes, batched commits", "records", args.items, args.commit_every),
            ("per-item commits (driver writes)", "records", args.baseline_items, 1),
        ):
            dt, counts = run(Path(d) / f"{mode}-{every}", n, mode, every, record)
            rows.append((label, n, dt, counts.get("bytes_written", 0)))
            print(f"{label:34} {n:>7} items in {dt:7.2f} s: {n / dt:9.0f} items/s", flush=True)
    base = rows[2][1] / rows[2][2]
    print()
    for label, n, dt, nbytes in rows:
        mbps = nbytes / dt / 1e6
        print(f"{label:34} {n / dt:9.0f} items/s  {n / dt / base:6.1f}x per-item commits"
              + (f"  ({mbps:.0f} MB/s through the driver)" if nbytes and "driver" in label else ""))
    best = rows[0][1] / rows[0][2]
    print(f"\ncommit path (workers write): {best:.0f} items/s (target >= 5,000): {'ok' if best >= 5000 else 'BELOW TARGET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
