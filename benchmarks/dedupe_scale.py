"""Copy detection at catalogue scale: describe + group time and memory.

Grouping runs on a synthetic catalogue of ``--items`` items (generated frame
descriptors, 1280-d like the shipped backbone; ``--copies`` of them are noisy
copies, segments or speed changes of another item) through the stage's own code
path: the candidate frame index (``store.frame_index``: exact below
``IVF_MIN_FRAMES`` frames, IVF-SQ8 above), ``stage.candidate_pairs`` with the
aligned ``PairScorer``, ``connected_groups``. Candidate recall is checked
against the planted copies, and side by side against exact search on a
subset. Describing is measured on real generated clips in a workspace
(``describe_catalogue``) and given per item.

    PYTHONPATH=src .venv/bin/python benchmarks/dedupe_scale.py --items 10000 --frames 12
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic(n: int, frames: int, copies: float, dim: int, seed: int = 0):
    """Items with smooth descriptor trajectories; a fraction are copies (noise, segment, speed) of another."""
    rng = np.random.default_rng(seed)
    descs, times, truth = {}, {}, []
    n_copy = int(n * copies)
    base = n - n_copy
    for i in range(base):
        t = int(rng.integers(max(4, frames // 2), frames * 2))
        walk = np.cumsum(rng.normal(size=(t, dim)).astype(np.float32) * 0.35, axis=0) + rng.normal(size=(1, dim)).astype(np.float32) * 3
        walk /= np.linalg.norm(walk, axis=1, keepdims=True)
        descs[f"i{i:06d}"] = walk
        times[f"i{i:06d}"] = np.arange(t, dtype=np.float32)
    for j in range(n_copy):
        src = f"i{int(rng.integers(base)):06d}"
        d = descs[src]
        kind = j % 3
        if kind == 1 and len(d) > 6:  # a segment
            a = int(rng.integers(0, len(d) - 4))
            d = d[a : a + max(4, len(d) // 2)]
        elif kind == 2:  # speed x1.5
            d = d[np.minimum(np.round(np.arange(0, len(d), 1.5)).astype(int), len(d) - 1)]
        d = d + rng.normal(size=d.shape).astype(np.float32) * 0.012
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        name = f"c{j:06d}"
        descs[name] = d.astype(np.float32)
        times[name] = np.arange(len(d), dtype=np.float32)
        truth.append((src, name))
    return descs, times, truth


def group(descs, times, threshold, exact=False):
    from reelmatch.dedupe import store as store_mod
    from reelmatch.dedupe.groups import connected_groups
    from reelmatch.dedupe.scoring import PairScorer
    from reelmatch.dedupe.stage import candidate_pairs

    ids = sorted(descs)
    t0 = time.perf_counter()
    owner = np.concatenate([np.full(len(descs[i]), n, np.int64) for n, i in enumerate(ids)])
    frames = np.concatenate([descs[i] for i in ids])
    if exact:
        import faiss

        index = faiss.IndexFlatIP(frames.shape[1])
        index.add(frames)
    else:
        index = store_mod.frame_index(frames, frames.shape[1])
    t_index = time.perf_counter() - t0
    pairer = PairScorer(descs, times)
    t1 = time.perf_counter()
    scores = candidate_pairs(descs, threshold, index=(index, owner, ids), score=pairer)
    t_search = time.perf_counter() - t1
    groups = connected_groups(((a, b, s) for (a, b), s in scores.items()), threshold)
    return {"index_s": t_index, "search_score_s": t_search, "frames": len(frames), "scored_pairs": len(scores),
            "groups": groups, "scores": scores, "index_type": type(index).__name__}  # fmt: skip


def describe_rate(n: int) -> dict:
    """Seconds per item of ``describe_catalogue`` on ``n`` generated 8 s clips (real decode + backbone)."""
    from reelmatch.catalog.db import Item
    from reelmatch.dedupe import DedupeConfig, describe_catalogue
    from reelmatch.dedupe.generated import scene_clip
    from reelmatch.workspace import Workspace

    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        ws = Workspace.init(d / "ws")
        for i in range(n):
            p = scene_clip(d / f"clip{i}.mp4", 5000 + i, seconds=8.0)
            ws.catalog.upsert(Item(id=f"v{i}", title=f"clip {i}", media_path=str(p)))
        t0 = time.perf_counter()
        c0 = _cpu()
        rep = describe_catalogue(ws, DedupeConfig(), workers=1)
        dt, cpu = time.perf_counter() - t0, _cpu() - c0
    return {"items": n, "done": rep["done"], "seconds": round(dt, 2), "per_item_s": round(dt / max(n, 1), 3),
            "cpu_per_item_s": round(cpu / max(n, 1), 3)}  # fmt: skip


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the decode workers)."""
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def main(argv=None) -> int:
    from reelmatch.dedupe.config import DEFAULT_THRESHOLD

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, default=10000)
    p.add_argument("--frames", type=int, default=12, help="median frames per item (1 fps: seconds)")
    p.add_argument("--copies", type=float, default=0.1, help="fraction of items that are copies")
    p.add_argument("--dim", type=int, default=1280)
    p.add_argument("--exact-subset", type=int, default=2000, help="items also grouped with exact search (0: skip)")
    p.add_argument("--describe", type=int, default=6, help="generated clips described to time the describe stage (0: skip)")
    args = p.parse_args(argv)
    thr = DEFAULT_THRESHOLD
    if args.describe:
        d = describe_rate(args.describe)
        print(f"describe: {d['done']}/{d['items']} generated 8 s clips in {d['seconds']} s wall = {d['per_item_s']} s per item, "
              f"{d['cpu_per_item_s']} CPU-s per item (backbone load included; x {args.items} items = "
              f"{d['cpu_per_item_s'] * args.items / 3600:.1f} CPU-hours)")  # fmt: skip
    m0 = rss_mb()
    t0 = time.perf_counter()
    descs, times, truth = synthetic(args.items, args.frames, args.copies, args.dim)
    t_gen = time.perf_counter() - t0
    m1 = rss_mb()
    r = group(descs, times, thr)
    m2 = rss_mb()
    found = sum(1 for a, b in truth if r["scores"].get((a, b) if a < b else (b, a), 0) >= thr)
    print(f"group: {args.items} items, {r['frames']} frames ({r['index_type']}): index {r['index_s']:.1f} s, "
          f"candidates + scores {r['search_score_s']:.1f} s ({r['scored_pairs']} pairs scored of {args.items * (args.items - 1) // 2}), "
          f"{len(r['groups'])} groups; planted copies found {found}/{len(truth)}")  # fmt: skip
    print(f"memory: peak RSS {m2:.0f} MB (descriptors {m1 - m0:.0f} MB, generated in {t_gen:.1f} s)")
    if args.exact_subset:
        keep = sorted(descs)[: args.exact_subset]
        sub = {k: descs[k] for k in keep}
        st = {k: times[k] for k in keep}
        import reelmatch.dedupe.store as sm

        old = sm.IVF_MIN_FRAMES
        sm.IVF_MIN_FRAMES = 0  # the approximate index on the subset, against exact search on it
        try:
            ra = group(sub, st, thr)
        finally:
            sm.IVF_MIN_FRAMES = old
        re_ = group(sub, st, thr, exact=True)
        ex = {k for k, s in re_["scores"].items() if s >= thr}
        ap = {k for k, s in ra["scores"].items() if s >= thr}
        print(f"subset {len(keep)} items: exact {re_['index_s'] + re_['search_score_s']:.1f} s, IVF {ra['index_s'] + ra['search_score_s']:.1f} s "
              f"(ratio {(re_['index_s'] + re_['search_score_s']) / max(ra['index_s'] + ra['search_score_s'], 1e-9):.2f}); "
              f"pairs >= threshold: exact {len(ex)}, IVF {len(ap)}, IVF recall {len(ex & ap) / max(len(ex), 1):.3f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
