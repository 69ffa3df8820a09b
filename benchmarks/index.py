"""Index benchmark: reelmatch's FAISS index vs Annoy at equal recall@10.

For 100K and 1M clustered L2-normalised vectors of dim 256
(``reelmatch.index.synthetic.ClusteredDataset``) and held-out queries, measures
for reelmatch's index (``build_index`` with the default config: HNSW above the
exact threshold) and for Annoy (the recipe's library, used directly):

- build time (both with the same number of threads),
- memory (RSS growth during the build, and the serialised index size),
- recall@10 against exact search (numpy brute force),
- queries per second, single-threaded, at the smallest search effort
  (HNSW ``efSearch`` / Annoy ``search_k``) that reaches ``--recall`` (0.95),
  found by a doubling sweep then bisection, so both run at equal recall.

It prints one table per size and the qps ratio (reelmatch / Annoy) last.

    .venv/bin/python benchmarks/index.py --quick      # 100K only, a few minutes
    .venv/bin/python benchmarks/index.py              # 100K and 1M: 50 min measured on 2 busy cores
    .venv/bin/python benchmarks/index.py --ivfpq      # exact vs compressed IVF-PQ at 1M: memory, recall
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    from reelmatch.index.synthetic import recall_at_k

    return recall_at_k(found, truth)


class Reelmatch:
    name = "reelmatch (FAISS HNSW)"
    knob = "efSearch"

    def __init__(self, ds, build_threads: int):
        import faiss

        from reelmatch.index import IndexConfig, build_index, save_index

        faiss.omp_set_num_threads(build_threads)
        self.config = IndexConfig()
        m0, t0 = rss_bytes(), time.perf_counter()
        self.index = build_index(ds.base, ds.ids, self.config)
        self.build_s = time.perf_counter() - t0
        self.rss = rss_bytes() - m0
        with tempfile.TemporaryDirectory() as d:
            save_index(self.index, f"{d}/i.npz")
            self.size = os.path.getsize(f"{d}/i.npz")
        faiss.omp_set_num_threads(1)
        self.labels = {s: i for i, s in enumerate(ds.ids)}

    @property
    def structure(self) -> str:
        return self.index.structure

    def query(self, q: np.ndarray, k: int, effort: int) -> np.ndarray:
        ids, _ = self.index.search(q, k, ef_search=effort)
        return np.vectorize(self.labels.__getitem__, otypes=[np.int64])(ids)

    def efforts(self, k: int) -> list[int]:
        return [max(k, 2**i) for i in range(3, 14)]


class Annoy:
    name = "annoy"
    knob = "search_k"
    structure = "annoy"

    def __init__(self, ds, build_threads: int, trees: int):
        import annoy

        self.trees = trees
        m0, t0 = rss_bytes(), time.perf_counter()
        self.tree = annoy.AnnoyIndex(ds.d, "angular")
        self.tree.set_seed(0)
        for i, v in enumerate(ds.base):
            self.tree.add_item(i, v)
        self.tree.build(trees, n_jobs=build_threads)
        self.build_s = time.perf_counter() - t0
        self.rss = rss_bytes() - m0
        with tempfile.TemporaryDirectory() as d:
            self.tree.save(f"{d}/a.ann")
            self.size = os.path.getsize(f"{d}/a.ann")
            self.tree.unload()
            self.tree.load(f"{d}/a.ann", prefault=True)  # mapped: stays valid after the directory goes

    def query(self, q: np.ndarray, k: int, effort: int) -> np.ndarray:
        get = self.tree.get_nns_by_vector
        out = np.full((len(q), k), -1, dtype=np.int64)
        for r, v in enumerate(q):
            got = get(v, k, search_k=effort)
            out[r, : len(got)] = got
        return out

    def efforts(self, k: int) -> list[int]:
        return [self.trees * k * 2**i for i in range(0, 12)]


def timed(engine, q, k, effort) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    found = engine.query(q, k, effort)
    return found, time.perf_counter() - t0


def tune(engine, q, truth, k, target, max_seconds: float, bisect_steps: int = 4) -> dict:
    """Smallest effort reaching ``target`` recall: doubling sweep, then bisection."""
    last_fail, first_ok, best = None, None, None
    sweep = []
    budget = time.perf_counter() + max_seconds
    for effort in engine.efforts(k):
        found, dt = timed(engine, q, k, effort)
        r = recall(found, truth)
        sweep.append((effort, r, len(q) / dt))
        if r >= target:
            first_ok, best = effort, (effort, r, len(q) / dt)
            break
        last_fail = effort
        best = (effort, r, len(q) / dt)
        if time.perf_counter() > budget:
            break
    if first_ok is not None and last_fail is not None:
        lo, hi = last_fail, first_ok
        for _ in range(bisect_steps):
            mid = (lo + hi) // 2
            if mid in (lo, hi):
                break
            found, dt = timed(engine, q, k, mid)
            r = recall(found, truth)
            sweep.append((mid, r, len(q) / dt))
            if r >= target:
                hi, best = mid, (mid, r, len(q) / dt)
            else:
                lo = mid
    return {"effort": best[0], "recall": best[1], "reached": best[1] >= target, "sweep": sweep}


def measure(engine, q, truth, k, effort, repeats: int) -> tuple[float, float]:
    """Recall and the best-of-``repeats`` single-thread queries/s at ``effort``."""
    best = 0.0
    for _ in range(repeats):
        found, dt = timed(engine, q, k, effort)
        best = max(best, len(q) / dt)
    return recall(found, truth), best


def run_size(n: int, args) -> dict:
    from reelmatch.index.synthetic import ClusteredDataset

    t0 = time.perf_counter()
    ds = ClusteredDataset(n, nq=args.queries, d=args.dim, latent=args.latent, noise=args.noise, seed=args.seed)
    truth = ds.ground_truth(args.k)
    print(f"\n== {n:,} vectors, d={args.dim}, {args.queries} queries (data + exact ground truth {time.perf_counter() - t0:.0f} s)", flush=True)
    rows = {}
    for make in (lambda: Reelmatch(ds, args.build_threads), lambda: Annoy(ds, args.build_threads, args.annoy_trees)):
        engine = make()
        print(f"  {engine.name}: built in {engine.build_s:.1f} s, tuning {engine.knob}...", flush=True)
        t = tune(engine, ds.queries, truth, args.k, args.recall, args.tune_seconds)
        rec, qps = measure(engine, ds.queries, truth, args.k, t["effort"], args.repeats)
        sweep = ", ".join(f"{e}:{r:.3f}@{s:.0f}/s" for e, r, s in t["sweep"])
        print(f"    sweep {engine.knob}:recall@qps  {sweep}", flush=True)
        rows[engine.name] = {
            "engine": engine, "effort": t["effort"], "recall": rec, "qps": qps,
            "reached": rec >= args.recall, "build_s": engine.build_s, "rss": engine.rss, "size": engine.size,
        }
        del engine
    print(f"  {'index':<24} {'build s':>8} {'RSS MB':>8} {'file MB':>8} {'knob':>16} {'recall@10':>10} {'qps (1 thread)':>15}")
    for name, r in rows.items():
        knob = f"{r['engine'].knob}={r['effort']}"
        flag = "" if r["reached"] else "  (target not reached)"
        print(
            f"  {name:<24} {r['build_s']:>8.1f} {r['rss'] / 2**20:>8.0f} {r['size'] / 2**20:>8.0f} {knob:>16}"
            f" {r['recall']:>10.3f} {r['qps']:>15.0f}{flag}"
        )
    ours, theirs = rows["reelmatch (FAISS HNSW)"], rows["annoy"]
    ratio = ours["qps"] / theirs["qps"]
    print(f"  qps ratio at recall@10 >= {args.recall}: {ratio:.1f}x", flush=True)
    return {"n": n, "ratio": ratio, "equal_recall": ours["reached"] and theirs["reached"]}


# ---------------------------------------------------------------- --ivfpq
class ReelmatchConfigured:
    """reelmatch's index with a given config (``--ivfpq``: exact flat, IVF-PQ, IVF-PQ + SQ8 re-ranking)."""

    def __init__(self, ds, build_threads: int, config, name: str):
        import faiss

        from reelmatch.index import build_index, save_index

        faiss.omp_set_num_threads(build_threads)
        self.name, self.config = name, config
        self.knob = "nprobe" if config.kind == "ivfpq" else "-"
        m0, t0 = rss_bytes(), time.perf_counter()
        self.index = build_index(ds.base, ds.ids, config)
        self.build_s = time.perf_counter() - t0
        self.rss = rss_bytes() - m0
        # bytes of the FAISS structure itself (what a server holds), and the saved file (+ ids, label map)
        self.struct = int(self.index._payload()["index"].nbytes)
        with tempfile.TemporaryDirectory() as d:
            save_index(self.index, f"{d}/i.npz")
            self.size = os.path.getsize(f"{d}/i.npz")
        faiss.omp_set_num_threads(1)
        self.labels = {s: i for i, s in enumerate(ds.ids)}

    def query(self, q: np.ndarray, k: int, effort: int) -> np.ndarray:
        ids, _ = self.index.search(q, k, nprobe=effort if self.knob == "nprobe" else None)
        return np.vectorize(self.labels.__getitem__, otypes=[np.int64])(ids)

    def efforts(self, k: int) -> list[int]:
        return [2**i for i in range(0, 12)] if self.knob == "nprobe" else [0]


def sweep_until_plateau(engine, q, truth, k, target, gain: float = 0.002) -> dict:
    """Double the effort until recall reaches ``target`` or stops growing (PQ codes cap recall):
    the effort kept is the smallest reaching the target, else the smallest at the plateau."""
    sweep = []
    for effort in engine.efforts(k):
        found, dt = timed(engine, q, k, effort)
        sweep.append((effort, recall(found, truth), len(q) / dt))
        if sweep[-1][1] >= target or (len(sweep) > 1 and sweep[-1][1] - sweep[-2][1] < gain):
            break
    best = next((s for s in sweep if s[1] >= target), None)
    if best is None:
        top = max(r for _, r, _ in sweep)
        best = next(s for s in sweep if s[1] >= top - gain)
    return {"effort": best[0], "recall": best[1], "reached": best[1] >= target, "sweep": sweep}


def run_ivfpq(n: int, args) -> dict:
    """Exact flat vs IVF-PQ vs IVF-PQ + SQ8 re-ranking at ``n`` vectors: memory, recall@k, queries/s."""
    from reelmatch.index import IndexConfig
    from reelmatch.index.synthetic import ClusteredDataset

    t0 = time.perf_counter()
    ds = ClusteredDataset(n, nq=args.queries, d=args.dim, latent=args.latent, noise=args.noise, seed=args.seed)
    truth = ds.ground_truth(args.k)
    print(f"\n== IVF-PQ, {n:,} vectors, d={args.dim}, {args.queries} queries"
          f" (data + exact ground truth {time.perf_counter() - t0:.0f} s)", flush=True)
    m = args.pq_bytes
    variants = [
        ("flat (exact)", IndexConfig(kind="flat")),
        (f"IVF-PQ{m}", IndexConfig(kind="ivfpq", pq_m=m)),
        (f"IVF-PQ{m} + SQ8 rerank", IndexConfig(kind="ivfpq", pq_m=m, refine="sq8", refine_factor=args.refine_factor)),
    ]
    rows = {}
    for name, config in variants:
        engine = ReelmatchConfigured(ds, args.build_threads, config, name)
        print(f"  {name}: built in {engine.build_s:.1f} s ({engine.index.structure}), tuning {engine.knob}...", flush=True)
        t = sweep_until_plateau(engine, ds.queries, truth, args.k, args.recall)
        rec, qps = measure(engine, ds.queries, truth, args.k, t["effort"], args.repeats)
        sweep = ", ".join(f"{e}:{r:.3f}@{s:.0f}/s" for e, r, s in t["sweep"])
        print(f"    sweep {engine.knob}:recall@qps  {sweep}", flush=True)
        rows[name] = {"engine": engine, "effort": t["effort"], "recall": rec, "qps": qps, "reached": rec >= args.recall}
        del engine
    print(f"  {'index':<24} {'build s':>8} {'RSS MB':>8} {'struct MB':>9} {'file MB':>8} {'B/vector':>8}"
          f" {'knob':>12} {'recall@10':>10} {'qps (1 thread)':>15}")
    for name, r in rows.items():
        e = r["engine"]
        knob = f"{e.knob}={r['effort']}" if e.knob != "-" else "-"
        flag = "" if r["reached"] else "  (target not reached)"
        print(
            f"  {name:<24} {e.build_s:>8.1f} {e.rss / 2**20:>8.0f} {e.struct / 2**20:>9.1f} {e.size / 2**20:>8.1f}"
            f" {e.struct / n:>8.1f} {knob:>12} {r['recall']:>10.3f} {r['qps']:>15.0f}{flag}"
        )
    flat, pq, sq8 = (rows[name] for name, _ in variants)
    mem = flat["engine"].struct / pq["engine"].struct
    mem_sq8 = flat["engine"].struct / sq8["engine"].struct
    print(f"  memory flat/IVF-PQ{m}: {mem:.1f}x at recall@{args.k} {pq['recall']:.3f};"
          f" flat/IVF-PQ{m}+SQ8: {mem_sq8:.1f}x at recall@{args.k} {sq8['recall']:.3f}", flush=True)
    return {"n": n, "mem": mem, "mem_sq8": mem_sq8, "recall": pq["recall"], "recall_sq8": sq8["recall"],
            "qps": pq["qps"], "qps_sq8": sq8["qps"], "qps_flat": flat["qps"]}


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="100K vectors only")
    p.add_argument("--sizes", type=int, nargs="+", default=None, help="database sizes (default 100000 1000000)")
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--recall", type=float, default=0.95, help="recall@k both indexes must reach")
    p.add_argument("--annoy-trees", type=int, default=100)
    p.add_argument("--build-threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3, help="timing repeats at the tuned setting (best kept)")
    p.add_argument("--tune-seconds", type=float, default=300, help="stop a tuning sweep after this long")
    p.add_argument("--latent", type=int, default=64, help="intrinsic dimension of each cluster (data difficulty)")
    p.add_argument("--noise", type=float, default=0.05, help="isotropic noise level")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ivfpq", action="store_true",
                   help="instead: exact flat vs compressed IVF-PQ (and + SQ8 re-ranking), memory and recall (default size 1M)")
    p.add_argument("--pq-bytes", type=int, default=32, help="--ivfpq: bytes per PQ code")
    p.add_argument("--refine-factor", type=int, default=16, help="--ivfpq: candidates re-ranked per result with SQ8")
    return p


def main(args) -> int:
    if args.ivfpq:
        sizes = args.sizes or [1_000_000]
        print(f"index benchmark --ivfpq: sizes {sizes}, dim {args.dim} (clustered, latent dim {args.latent}, noise"
              f" {args.noise}), recall@{args.k} target {args.recall}, queries single-threaded, builds with"
              f" {args.build_threads} threads")
        results = [run_ivfpq(n, args) for n in sizes]
        print()
        for r in results:
            print(f"{r['n']:>9,} vectors: IVF-PQ recall@{args.k} {r['recall']:.3f} ({r['qps']:.0f} q/s),"
                  f" +SQ8 {r['recall_sq8']:.3f} ({r['qps_sq8']:.0f} q/s), exact {r['qps_flat']:.0f} q/s;"
                  f" memory flat/IVF-PQ = {r['mem']:.1f}x, flat/IVF-PQ+SQ8 = {r['mem_sq8']:.1f}x")
        return 0
    sizes = args.sizes or ([100_000] if args.quick else [100_000, 1_000_000])
    print(f"index benchmark: sizes {sizes}, dim {args.dim} (clustered, latent dim {args.latent}, noise {args.noise}), "
          f"recall@{args.k} target {args.recall}, "
          f"queries single-threaded, builds with {args.build_threads} threads")
    results = [run_size(n, args) for n in sizes]
    print()
    for r in results:
        note = "" if r["equal_recall"] else " (one index did not reach the recall target)"
        print(f"{r['n']:>9,} vectors: reelmatch/Annoy queries/s at equal recall = {r['ratio']:.1f}x{note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(get_args_parser().parse_args()))
