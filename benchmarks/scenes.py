"""Issue 19 measured: scene boundaries, scene-style ranking for ads, filtered search, explanation cost.

Four parts, each printing side-by-side figures (run one with ``--part``):

* ``boundaries``: generated long videos with known scene boundaries (hard cuts
  and fades through black, :mod:`reelmatch.scenes.generated`), detected by
  :func:`reelmatch.scenes.detect_scenes` (PySceneDetect over frames decoded by the
  media layer): precision/recall/F1 within ``--tolerance`` s, for the default
  config (content detector) and with the fade (threshold) detector added; seconds
  of video analysed per second of CPU.
* ``ranking``: movies whose scenes are drawn and voiced in the demo genres' styles
  and one-style commercials, built into a workspace by the real stages (import,
  extract, embed, index, ``scenes``); for every (ad, movie) pair, is the best scene
  ``match-ad --scenes`` returns for the movie one of the ad's style? Side by side:
  chance (the share of the movie's scenes in that style), the visual tower only,
  the audio tower only, the fused vector (what match-ad ranks by).
* ``filter``: a synthetic catalogue (``--items``), 99.9 % of it flagged; ``similar``
  with ``exclude_flag`` (0.1 % selectivity) against exact search over what is left,
  and the HNSW search with FAISS's ``IDSelectorBitmap`` alone (the small-subset
  shortcut off); latency next to the unfiltered query.
* ``explain``: ``similar`` latency without and with ``explain=True`` (and without
  again, an A/A control), interleaved in rotated order on the same queries, in
  ``--repeats`` repeats, on the ranking workspace (real frame table) and on the
  synthetic catalogue with a frame table of the same shape (K=10, 128-d): answered
  from the neighbour table, and with ``table=False`` (the index searched, as for filtered queries).

    .venv/bin/python benchmarks/scenes.py                       # everything (about 10 min on 2 cores)
    .venv/bin/python benchmarks/scenes.py --part boundaries --videos 4 --seconds 300
    .venv/bin/python benchmarks/scenes.py --part ranking filter explain --items 100000
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", nargs="+", choices=("all", "boundaries", "ranking", "filter", "explain"), default=["all"],
                   help="parts to run (default all)")
    p.add_argument("--videos", type=int, default=4, help="boundaries: generated videos (default 4)")
    p.add_argument("--seconds", type=float, default=300.0, help="boundaries: seconds per video (default 300)")
    p.add_argument("--size", type=int, default=128, help="boundaries: frame size in pixels (default 128)")
    p.add_argument("--fps", type=int, default=24, help="boundaries: frames per second (default 24)")
    p.add_argument("--fade", type=float, default=0.5, help="boundaries: seconds of each fade out and in (default 0.5)")
    p.add_argument("--tolerance", type=float, default=0.5, help="boundaries: match tolerance in seconds (default 0.5)")
    p.add_argument("--movies", type=int, default=3, help="ranking: generated movies (default 3)")
    p.add_argument("--movie-seconds", type=float, default=120.0, help="ranking: seconds per movie (default 120)")
    p.add_argument("--ads-per-genre", type=int, default=3, help="ranking: commercials per style (default 3)")
    p.add_argument("--genre-look", type=float, nargs="+", default=[1.0, 0.5],
                   help="ranking: share of each scene's and ad's look that is its genre's (default 1.0 and 0.5,"
                        " the demo corpus's)")
    p.add_argument("--backbone", default="efficientnet_lite0", help="ranking: pretrained backbone (default efficientnet_lite0)")
    p.add_argument("--workdir", type=Path, default=None, help="where the media and workspace go (default: a temp dir)")
    p.add_argument("--items", type=int, default=100_000, help="filter/explain: synthetic catalogue size (default 100000)")
    p.add_argument("--queries", type=int, default=200, help="filter/explain: queries (default 200)")
    p.add_argument("--repeats", type=int, default=3, help="explain: repeats, each with its own queries (default 3)")
    return p


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


def load() -> str:
    try:
        return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return ""


# ------------------------------------------------------------------ boundaries
def part_boundaries(args, work: Path) -> None:
    from reelmatch.scenes import ScenesConfig, boundary_f1, detect_scenes
    from reelmatch.scenes.generated import true_boundaries, write_movie

    configs = {"adaptive (default)": ScenesConfig(),
               "content (PySceneDetect defaults)": ScenesConfig(detector="content"),
               "adaptive 3.0/2 (its defaults)": ScenesConfig(adaptive_threshold=3.0, window=2),
               "adaptive + fade detector": ScenesConfig(fade_threshold=12.0)}
    totals = {name: {"tp": 0, "found": 0, "truth": 0, "cpu": 0.0, "err": []} for name in configs}
    print(f"\n== scene boundaries: {args.videos} generated videos x {args.seconds:g} s, {args.size}px {args.fps} fps,"
          f" fades {args.fade:g}+{args.fade:g} s, tolerance {args.tolerance:g} s ({load()})")
    print(f"{'video':<8} {'cuts':>5} {'fades':>5}  " + "  ".join(f"{n:>32}" for n in configs))
    for v in range(args.videos):
        path = work / f"long-{v}.mp4"
        plan = write_movie(path, args.seconds, size=args.size, fps=args.fps, seed=100 + v, fade=args.fade)
        truth = true_boundaries(plan)
        cells = []
        for name, cfg in configs.items():
            c0 = cpu()
            scenes = detect_scenes(path, cfg)
            dt = cpu() - c0
            m = boundary_f1([s.start for s in scenes[1:]], truth, args.tolerance)
            t = totals[name]
            t["tp"] += m["tp"]
            t["found"] += m["found"]
            t["truth"] += m["truth"]
            t["cpu"] += dt
            found = sorted(s.start for s in scenes[1:])
            t["err"] += [min(abs(f - b) for f in found) for b in truth if found and min(abs(f - b) for f in found) <= args.tolerance]
            cells.append(f"P {m['precision']:.3f} R {m['recall']:.3f} F1 {m['f1']:.3f}")
        n_fades = sum(s.fade_in for s in plan)
        print(f"{v:<8} {len(truth) - n_fades:>5} {n_fades:>5}  " + "  ".join(f"{c:>32}" for c in cells), flush=True)
    print(f"{'all':<8} {'':>5} {'':>5}  " + "  ".join(
        f"{_f1(t):>32}" for t in totals.values()))
    for name, t in totals.items():
        secs = args.videos * args.seconds
        print(f"  {name}: {secs / max(t['cpu'], 1e-9):.1f} s of video per CPU second (decode + detect),"
              f" median boundary error {statistics.median(t['err']) if t['err'] else float('nan'):.3f} s")


def _f1(t) -> str:
    p = t["tp"] / t["found"] if t["found"] else 1.0
    r = t["tp"] / t["truth"] if t["truth"] else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return f"P {p:.3f} R {r:.3f} F1 {f:.3f}"


# --------------------------------------------------------------------- ranking
def build_ranking_workspace(args, work: Path, look: float = 1.0):
    """Movies and ads in the demo genres' styles, through the real stages; returns (ws, plans, ad_genre)."""
    import json

    from reelmatch.embed import EmbedConfig, run_embed
    from reelmatch.extract import ClipConfig, run_extract
    from reelmatch.index import run_index
    from reelmatch.ingest import import_manifest
    from reelmatch.samples.corpus import GENRES
    from reelmatch.scenes import ScenesConfig, run_scenes
    from reelmatch.scenes.generated import write_movie
    from reelmatch.train.features import FeaturesConfig, features_stage
    from reelmatch.workspace import Workspace

    media = work / f"ranking-media-{look:g}"
    rows, plans, ad_genre = [], {}, {}
    for m in range(args.movies):
        title = f"Movie {m}"
        plans[title] = write_movie(media / f"movie-{m}.mp4", args.movie_seconds, size=128, fps=12, seed=200 + m,
                                   genre_look=look)
        rows.append({"title": title, "path": str(media / f"movie-{m}.mp4"), "genres": "Drama"})
    for g in GENRES:
        for a in range(args.ads_per_genre):
            title = f"Ad {g} {a}"
            write_movie(media / f"ad-{g}-{a}.mp4", 8.0, size=128, fps=12, seed=300 + 17 * a + len(g), genres=[g],
                        genre_look=look)
            rows.append({"title": title, "path": str(media / f"ad-{g}-{a}.mp4"), "kind": "ad"})
            ad_genre[title] = g
    (media / "catalogue.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    ws = Workspace.init(work / f"ranking-ws-{look:g}")
    import_manifest(ws, media / "catalogue.jsonl")
    clip = ClipConfig(start=0.0, window=125.0, num_frames=8, interval=1.0, size=96)
    t0, c0 = time.time(), cpu()
    run_extract(ws, clip, workers=2)
    features_stage(ws, config=FeaturesConfig(backbone=args.backbone), clip_config=clip)
    run_embed(ws, EmbedConfig(backbone=args.backbone, use_model=False), clip_config=clip)
    run_index(ws)
    t1, c1 = time.time(), cpu()
    res = run_scenes(ws, ScenesConfig(), clip_config=clip)
    t2, c2 = time.time(), cpu()
    print(f"  built: extract+features+embed+index {t1 - t0:.0f} s wall / {c1 - c0:.0f} s CPU;"
          f" scenes stage {t2 - t1:.0f} s wall / {c2 - c1:.0f} s CPU for {res.counts.get('scenes')} scenes of"
          f" {res.done} movies ({args.movies * args.movie_seconds:g} s of video)")
    return ws, plans, ad_genre


def _planned_genre(plan, start: float, end: float) -> str:
    """The genre of the planned scene overlapping [start, end] most."""
    best = max(plan, key=lambda s: min(end, s.end) - max(start, s.start))
    return best.genre


def part_ranking(args, work: Path):
    ws = None
    for look in args.genre_look:
        ws = ranking_once(args, work, look)
    return ws


def ranking_once(args, work: Path, look: float):
    from reelmatch.scenes import load_scenes

    print(f"\n== scene-style ranking: {args.movies} movies x {args.movie_seconds:g} s, {args.ads_per_genre} ads per style,"
          f" genre look {look:g}, backbone {args.backbone} (no training) ({load()})")
    ws, plans, ad_genre = build_ranking_workspace(args, work, look)
    ids = {it.title: it.id for it in ws.catalog.items()}
    emb_hits = {"chance": [], "visual tower only": [], "audio tower only": [], "fused (match-ad --scenes)": []}
    per_genre: dict[str, list[bool]] = {}
    for ad, g in ad_genre.items():
        res = ws.match_ad(ids[ad], k=len(plans), scenes=True, scenes_per_movie=1)
        target = ws.catalog.get(ids[ad])
        from reelmatch.query.search import searcher_for

        e = searcher_for(ws).emb
        r = e.row(target.id)
        for n in res.results:
            plan = plans[n.title]
            sc = load_scenes(ws, n.id)
            genres = [_planned_genre(plan, s.start, s.end) for s in sc.scenes]
            emb_hits["chance"].append(sum(x == g for x in genres) / len(genres))
            top = n.scenes[0]
            ok = _planned_genre(plan, top["start"], top["end"]) == g
            emb_hits["fused (match-ad --scenes)"].append(float(ok))
            per_genre.setdefault(g, []).append(ok)
            emb_hits["visual tower only"].append(float(genres[int(np.argmax(sc.visual @ e.visual[r]))] == g))
            emb_hits["audio tower only"].append(float(genres[int(np.argmax(sc.audio @ e.audio[r]))] == g))
    n = len(emb_hits["chance"])
    print(f"  {n} (ad, movie) pairs: the best scene is of the ad's style in")
    for name, v in emb_hits.items():
        print(f"    {name:<28} {100 * np.mean(v):5.1f} %")
    print("  per style (fused): " + ", ".join(f"{g} {100 * np.mean(v):.0f} %" for g, v in sorted(per_genre.items())))
    return ws


# ---------------------------------------------------------------------- filter
def synthetic_ws(args, work: Path):
    import json

    from reelmatch.index import IndexConfig, run_index
    from reelmatch.index.synthetic import synthetic_catalogue
    from reelmatch.workspace import Workspace

    path = work / f"synthetic-ws-{args.items}"
    if (path / "index" / "default.neighbours.npz").exists():  # built by an earlier run in this --workdir
        ws = Workspace(path)
        ids = [it.id for it in ws.catalog.items()]
        keep = set(ws.catalog.filter_ids(exclude_flags=["violence"]))
        print(f"  synthetic catalogue of {len(ids)} items reused from {path}")
        return ws, ids, keep
    ws = Workspace.init(path)
    ids = synthetic_catalogue(ws, args.items, d=256, seed=1)
    rng = np.random.default_rng(0)
    keep = set(rng.choice(ids, max(1, args.items // 1000), replace=False).tolist())
    with ws.catalog.transaction() as c:
        c.executemany("UPDATE items SET flags=? WHERE id=?",
                      [(json.dumps([] if i in keep else ["violence"]), i) for i in ids])
    t0 = time.time()
    run_index(ws, IndexConfig(kind="hnsw"))
    print(f"  synthetic catalogue of {args.items} items indexed (HNSW) in {time.time() - t0:.0f} s")
    return ws, ids, keep


def part_filter(args, work: Path, synth=None):
    from reelmatch.embed.vectors import load_embeddings
    from reelmatch.query import similar
    from reelmatch.query.filters import Exclusions
    from reelmatch.query.search import searcher_for

    print(f"\n== filtered search at 0.1 % selectivity: {args.items} items, {args.queries} queries ({load()})")
    ws, ids, keep = synth or synthetic_ws(args, work)
    emb = load_embeddings(ws)
    allowed_rows = np.array(sorted(emb.row(i) for i in keep))
    ex = Exclusions(exclude_flags=("violence",))
    rng = np.random.default_rng(1)
    queries = [ids[i] for i in rng.choice(len(ids), args.queries, replace=False)]
    index = searcher_for(ws).index
    same_lib = same_sel = 0
    t_plain, t_filt = [], []
    for q in queries:
        v = emb.vectors[emb.row(q)]
        rows = allowed_rows[[emb.ids[r] != q for r in allowed_rows]]
        order = np.argsort(-(emb.vectors[rows] @ v), kind="stable")[:10]
        exact = [emb.ids[rows[j]] for j in order]
        t0 = time.perf_counter()
        similar(ws, q, k=10, table=False)
        t1 = time.perf_counter()
        got = similar(ws, q, k=10, exclusions=ex).ids
        t2 = time.perf_counter()
        t_plain.append(t1 - t0)
        t_filt.append(t2 - t1)
        same_lib += got == exact
        old = index.exact_subset_max
        index.exact_subset_max = 0
        try:
            sel_ids, _ = index.search(v[None, :], 10, allow=keep, exclude={q})
        finally:
            index.exact_subset_max = old
        same_sel += list(sel_ids[0]) == exact
    print(f"  {'path':<52} {'= exact top-10':>15} {'median ms':>10}")
    print(f"  {'similar() unfiltered (index search)':<52} {'':>15} {1000 * statistics.median(t_plain):>10.2f}")
    print(f"  {'similar(exclusions=exclude_flag violence)':<52} {f'{same_lib}/{len(queries)}':>15}"
          f" {1000 * statistics.median(t_filt):>10.2f}")
    print(f"  {'HNSW + IDSelectorBitmap alone (no exact shortcut)':<52} {f'{same_sel}/{len(queries)}':>15}")
    from reelmatch.query import search

    cold = []
    for q in queries[:10]:  # a profile's first query: the allowed ids come from SQL over the catalogue
        search._ALLOWED.clear()
        t0 = time.perf_counter()
        similar(ws, q, k=10, exclusions=ex)
        cold.append(time.perf_counter() - t0)
    print(f"  {'  the first query of a profile (SQL, then cached)':<52} {'':>15} {1000 * statistics.median(cold):>10.2f}")
    wide = Exclusions(exclude_genres=("Horror",))  # leaves most of the catalogue: the HNSW selector path
    t_wide, ok_wide = [], 0
    allowed_wide = set(ws.catalog.filter_ids(exclude_genres=["Horror"]))
    rows_wide = np.array(sorted(emb.row(i) for i in allowed_wide))
    for q in queries[:50]:
        v = emb.vectors[emb.row(q)]
        t0 = time.perf_counter()
        got = similar(ws, q, k=10, exclusions=wide, table=False).ids
        t_wide.append(time.perf_counter() - t0)
        rows = rows_wide[[emb.ids[r] != q for r in rows_wide]]
        order = np.argsort(-(emb.vectors[rows] @ v), kind="stable")[:10]
        ok_wide += len(set(got) & {emb.ids[rows[j]] for j in order})
    print(f"  {f'similar(exclude_genre Horror): {len(allowed_wide)} allowed, recall@10':<52}"
          f" {ok_wide / (10 * len(t_wide)):>15.3f} {1000 * statistics.median(t_wide):>10.2f}")
    return ws, ids, keep


# --------------------------------------------------------------------- explain
#: the variants timed side by side: (label, explain, same as "off": the A/A control of the method)
VARIANTS = (("off", False), ("on", True), ("off again", False))


def _time_explain(ws, qs, *, document: bool = False, table: bool = True, k: int = 10) -> dict:
    """Per-query seconds of ``similar(q, k)`` without explain, with explain and without again (an A/A
    control: what the method reads as overhead where there is none), for the same queries ``qs``.

    Each query runs every variant once, in an order rotated from query to query, so each variant is
    first (the query's cold call: its catalogue rows, neighbour-table and frame-table rows not yet in
    the CPU caches) equally often. ``document``: the JSON document (``to_dict()``) is built too, as
    ``--json`` and the HTTP API do; ``table=False``: the index is searched (the path of filtered
    queries and ``match-ad``; a result's frame pair is still looked up when the result is in the
    query's neighbour-table row, else computed). Returns ``{label: [seconds]}``,
    ``{label + " cold": [seconds of first calls]}`` and ``{label + " cpu": [CPU seconds of this thread]}``
    (other jobs on a shared machine delay the wall clock, not this thread's CPU time)."""
    from reelmatch.query import similar

    for q in qs[:20]:  # warm: caches, the lazily loaded frame table (these queries are timed again below)
        similar(ws, q, k=k, table=table)
        similar(ws, q, k=k, explain=True, table=table)
    out = {label + tail: [] for label, _ in VARIANTS for tail in ("", " cold", " cpu")}
    n = len(VARIANTS)
    for j, q in enumerate(qs):
        for pos in range(n):
            label, flag = VARIANTS[(j + pos) % n]
            c0, t0 = time.thread_time(), time.perf_counter()
            res = similar(ws, q, k=k, explain=flag, table=table)
            if document:
                res.to_dict()
            dt = time.perf_counter() - t0
            out[label + " cpu"].append(time.thread_time() - c0)
            out[label].append(dt)
            if pos == 0:
                out[label + " cold"].append(dt)
    return out


def _fake_frame_table(ws):
    """A frame table of the synthetic catalogue's shape (K=10, 128-d, random unit rows), with the frame pairs
    precomputed as the index stage does; kept in the workspace (a later run with the same ``--workdir``
    reuses it)."""
    from reelmatch.embed.vectors import load_embeddings
    from reelmatch.index import index_path
    from reelmatch.index.neighbours import load_table, neighbours_path
    from reelmatch.query.explain import FORMAT_VERSION, FrameTable, frames_path, load_frame_table, precompute_pairs, \
        save_frame_table

    emb = load_embeddings(ws)
    path = frames_path(index_path(ws))
    nb = load_table(neighbours_path(index_path(ws)), mmap=False)
    if path.exists():
        try:
            old = load_frame_table(path, vectors_fingerprint=emb.vectors_fingerprint)
            if old.meta.get("features") == "synthetic" and old.meta.get("pairs_k") == nb.k:
                print(f"  frame table of {len(old)} items reused from {path}")
                return
        except Exception:  # noqa: BLE001 - stale: made again below
            pass
    n = len(emb.ids)
    rng = np.random.default_rng(0)
    f = rng.standard_normal((n, 10, 128)).astype(np.float32)
    f /= np.linalg.norm(f, axis=2, keepdims=True)
    times = np.tile(np.arange(10, dtype=np.float32) * 12 + 11, (n, 1))
    meta = {"format_version": FORMAT_VERSION, "vectors_fingerprint": emb.vectors_fingerprint, "features": "synthetic",
            "dim": 128, "projection_seed": 0}
    table = FrameTable(emb.ids, f.astype(np.float16), np.ones((n, 10), bool), times, meta)
    t0, c0 = time.time(), cpu()
    table.pairs = precompute_pairs(table, nb, emb)  # what the index stage does beside a real frame table
    table.meta["pairs_k"] = nb.k
    print(f"  frame pairs of {n} items x {nb.k} neighbours precomputed in {time.time() - t0:.1f} s wall,"
          f" {cpu() - c0:.1f} s CPU")
    save_frame_table(table, path)


def _explain_rows(name: str, ws, ids, args, rng, *, table: bool = True, k: int = 10) -> list:
    """One row per repeat and what is timed: (name, repeat, {label: seconds}); a fresh query sample per repeat."""
    rows = []
    for rep in range(args.repeats):
        qs = [ids[i] for i in rng.choice(len(ids), args.queries, replace=len(ids) < args.queries)]
        for doc in (False, True):
            what = name + (": + to_dict()" if doc else ": similar()")
            rows.append((what, rep, _time_explain(ws, qs, document=doc, table=table, k=k), load()))
    return rows


def part_explain(args, work: Path, ranking_ws=None, synth=None):
    print(f"\n== explain overhead on similar (k=10 unless said, catalogue-item queries, {args.queries} per repeat,"
          f" {args.repeats} repeats, variants interleaved in rotated order) ({load()})")
    rng = np.random.default_rng(2)
    rows = []
    if ranking_ws is not None:
        ids = [it.id for it in ranking_ws.catalog.items()]
        rows += _explain_rows(f"ranking workspace ({len(ids)} items, real frame table)", ranking_ws, ids, args, rng)
    ws, ids, _ = synth or synthetic_ws(args, work)
    _fake_frame_table(ws)
    ws.__dict__.pop("_searchers", None)  # reload with the frame table
    name = f"synthetic {len(ids)} items (frame table K=10, 128-d)"
    rows += _explain_rows(name, ws, ids, args, rng)
    rows += _explain_rows(name + ", table=False (index search)", ws, ids, args, rng, table=False)
    from reelmatch.query.search import searcher_for

    kt = searcher_for(ws).table.k  # k beyond the neighbour table: index search, the last pairs computed
    rows += _explain_rows(name + f", k={kt + 10} (beyond the table's {kt})", ws, ids, args, rng, k=kt + 10)
    med = lambda x: 1000 * statistics.median(x)  # noqa: E731
    over = lambda t, a, b: 100 * (statistics.median(t[b]) / statistics.median(t[a]) - 1)  # noqa: E731
    print(f"  {'what is timed':<92} {'rep':>3} {'off ms':>7} {'on ms':>7} {'overhead':>8} {'A/A':>6}"
          f" {'cold off':>8} {'cold on':>8} {'cold +':>7} {'CPU +':>6}  load after")
    summary: dict = {}
    for what, rep, t, ld in rows:
        o, a = over(t, "off", "on"), over(t, "off", "off again")
        oc, ocpu = over(t, "off cold", "on cold"), over(t, "off cpu", "on cpu")
        summary.setdefault(what, []).append((med(t["off"]), med(t["on"]), o, a, oc, ocpu))
        print(f"  {what:<92} {rep:>3} {med(t['off']):>7.3f} {med(t['on']):>7.3f} {o:>7.1f}% {a:>5.1f}%"
              f" {med(t['off cold']):>8.3f} {med(t['on cold']):>8.3f} {oc:>6.1f}% {ocpu:>5.1f}%  {ld}")
    print(f"  medians over the {args.repeats} repeats (overhead: median of the repeats' overheads, [min, max]):")
    for what, xs in summary.items():
        col = lambda i: [x[i] for x in xs]  # noqa: E731
        print(f"  {what:<92} off {statistics.median(col(0)):.3f} ms, on {statistics.median(col(1)):.3f} ms,"
              f" overhead {statistics.median(col(2)):.1f}% [{min(col(2)):.1f}, {max(col(2)):.1f}],"
              f" A/A {statistics.median(col(3)):.1f}%, cold {statistics.median(col(4)):.1f}%,"
              f" CPU {statistics.median(col(5)):.1f}%")


def main(args) -> int:
    work = args.workdir or Path(tempfile.mkdtemp(prefix="reelmatch-bench-scenes-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"benchmarks/scenes.py: work dir {work}")
    ranking_ws = synth = None
    if {"all", "boundaries"} & set(args.part):
        part_boundaries(args, work)
    if {"all", "ranking"} & set(args.part):
        ranking_ws = part_ranking(args, work)
    if {"all", "filter"} & set(args.part):
        synth = part_filter(args, work)
    if {"all", "explain"} & set(args.part):
        part_explain(args, work, ranking_ws, synth)
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
