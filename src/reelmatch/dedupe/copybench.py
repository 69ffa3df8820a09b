"""``reelmatch bench ndvr DIR --augly``: copy detection as a catalogue-grouping task.

The catalogue of the benchmark holds:

- **originals**: every video of ``DIR`` (whole files; when ``DIR/MANIFEST.tsv``
  has a ``group`` column, files of one group are copies of each other) and
  ``generated`` synthetic films (:func:`generated.scene_clip`);
- **copies**: for every original, a window of ``window`` seconds (at a random
  start) edited by AugLy families (round-robin, ``families_per_source`` each)
  and ``compounds_per_source`` compound edits (2-3 families at once); an edit
  that draws a second video (overlay onto a background, blend,
  picture-in-picture, insert into a longer video) takes it from a generated
  background of that source's own, so copies of two sources never share
  footage (with one shared pool, two insert copies of different sources really
  do show the same background video, and grouping them is not an error);
- **hard negatives**, which must never be grouped with anything but their own
  copies: different presenters in one framing, one set at other moments,
  colour cards, black frames (generated), and other scenes of one film (files
  of ``DIR`` whose MANIFEST ``film`` is equal but ``group`` differs).

Every method scores every pair; for each method the report gives VSC22's µAP
over all pairs, and for the thresholded ones the pair precision/recall of the
*groups* (connected components at the threshold), per family and overall, and
the hard-negative pairs merged. Sources (with their copies) and hard negatives
are split in two halves: the threshold is calibrated on the ``calibration``
half and the figures reported on the ``heldout`` half.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from reelmatch.dedupe.augly_suite import DEFAULT_CACHE, SINGLE, _file_key, make_copy, plan
from reelmatch.dedupe.config import DEFAULT_THRESHOLD, DedupeConfig
from reelmatch.dedupe.pair_metrics import group_pair_counts, groups_from_pairs, micro_ap, precision_recall
from reelmatch.errors import InputError

log = logging.getLogger(__name__)
VIDEO_EXTS = {".mp4", ".webm", ".mkv", ".ogv", ".avi", ".mpeg", ".mpg", ".mov", ".m4v", ".flv", ".ts", ".wmv"}
HN_FAMILIES = ("hn_talking_heads", "hn_set_moments", "hn_colour_cards", "hn_black", "hn_same_film")


@dataclass(frozen=True)
class CopyBenchConfig:
    window: float = 8.0
    generated: int = 8
    families_per_source: int = 8
    compounds_per_source: int = 2
    max_sources: int = 0  # 0: every video of the folder
    seed: int = 0
    cache_dir: Path = DEFAULT_CACHE
    dedupe: DedupeConfig = DedupeConfig()
    threshold: float | None = None  # None: the shipped DEFAULT_THRESHOLD
    methods: tuple[str, ...] = ("reelmatch", "visual_only", "whitened", "chamfer_v1", "mean_pooled", "video_hash")


@dataclass
class Item:
    name: str
    path: Path
    root: str
    role: str  # original | copy | hard_negative
    family: str  # "original", an AugLy family, "compound", or a hard-negative family
    split: str
    source: str | None = None
    offset: float = 0.0  # copies: start of the window in the source (s)
    length: float = 0.0
    temporal: bool = False
    film: str = ""
    edits: list = field(default_factory=list)


def _h(*parts) -> int:
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:8], 16)


def _manifest(video_dir: Path) -> dict[str, dict]:
    p = video_dir / "MANIFEST.tsv"
    if not p.exists():
        return {}
    with open(p, newline="") as f:
        return {r["file"]: r for r in csv.DictReader(f, delimiter="\t") if r.get("file")}


def _window(src: Path, start_seed: int, window: float, cache: Path) -> tuple[Path, float, float]:
    """A ``window``-second cut of ``src`` at a seeded start, decoded and re-encoded (cached)."""
    from reelmatch.dedupe.ndvr import NdvrConfig, load_source, write_source
    from reelmatch.dedupe.transforms import _cut

    key = hashlib.sha256(f"{_file_key(src)}|{start_seed}|{window}".encode()).hexdigest()[:16]
    out = cache / f"win__{src.stem[:40]}__{key}.mp4"
    meta = out.with_suffix(".txt")
    if out.exists() and meta.exists():
        a, b = meta.read_text().split()
        return out, float(a), float(b)
    s = load_source(src, NdvrConfig(max_seconds=40.0, max_side=320, max_fps=12.0))
    rng = np.random.default_rng([start_seed, 31])
    length = min(window, s.seconds)
    start = float(rng.uniform(0, max(0.0, s.seconds - length)))
    start = round(start * s.fps) / s.fps
    w = _cut(s, start, start + length)
    write_source(w, out.with_suffix(""))
    meta.write_text(f"{start} {len(w.frames) / w.fps}")
    return out, start, len(w.frames) / w.fps


def build_catalogue(video_dir: Path, cfg: CopyBenchConfig, tick=lambda m: None) -> tuple[list[Item], list[dict]]:
    from reelmatch.dedupe import generated as gen

    cache = Path(cfg.cache_dir)
    gdir = cache / "generated"
    gdir.mkdir(parents=True, exist_ok=True)
    man = _manifest(video_dir)
    paths = sorted(p for p in video_dir.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTS)
    if cfg.max_sources:
        paths = paths[: cfg.max_sources]
    items: list[Item] = []
    skipped: list[dict] = []

    def mk(path: Path, seed: int, fn, *a) -> Path:
        return path if path.exists() else fn(path, seed, *a)

    sources = []
    for n, p in enumerate(paths):
        row = man.get(p.name, {})
        root = f"group:{row['group']}" if row.get("group") else p.name
        sources.append((p.name, p, root, row.get("film", "")))
    for g in range(cfg.generated):
        p = mk(gdir / f"scene_{g:02d}.mp4", 100 + g, gen.scene_clip, 20.0)
        sources.append((p.name, p, p.name, ""))
    distractors = [mk(gdir / f"distractor_{g:02d}.mp4", 900 + g, gen.scene_clip, 12.0) for g in range(4)]

    def own_backgrounds(name: str) -> list[Path]:
        seed = _h(cfg.seed, name, "background") % (1 << 31)
        return [mk(gdir / f"background_{seed:010d}.mp4", seed, gen.scene_clip, 12.0)]

    fam_cycle = list(SINGLE)
    for n, (name, p, root, film) in enumerate(sources):
        split = "calibration" if _h(cfg.seed, name) % 2 == 0 else "heldout"
        items.append(Item(name, p, root, "original", "original", split, film=film))
        try:
            win, start, length = _window(p, _h(cfg.seed, name, "win"), cfg.window, cache)
        except Exception as e:  # an undecodable file stays an original without copies
            skipped.append({"path": str(p), "error": " ".join(f"{type(e).__name__}: {e}".split())[:300]})
            continue
        fams = [fam_cycle[(n * cfg.families_per_source + j) % len(fam_cycle)] for j in range(cfg.families_per_source)]
        fams += ["compound"] * cfg.compounds_per_source
        for j, fam in enumerate(fams):
            seed = _h(cfg.seed, name, fam, j)
            try:
                # a copy drawing a second video (overlay, blend, picture-in-picture, insert) gets one of its own
                # source's background videos: copies of two sources never share footage through a background
                own = any(e.needs for e in plan(fam, seed))
                bg = own_backgrounds(name) if own else distractors
                out, edits = make_copy(win, fam, seed, distractors=bg, cache_dir=cache)
            except Exception as e:
                skipped.append({"path": f"{name} [{fam}]", "error": " ".join(f"{type(e).__name__}: {e}".split())[:300]})
                continue
            items.append(Item(f"{fam}{j}__{name}", out, root, "copy", fam, split, source=name, offset=start, length=length,
                              temporal=any(e.temporal for e in edits), film=film,
                              edits=[{"fn": e.fn, **e.kwargs} for e in edits]))  # fmt: skip
            tick(f"copy {fam} of {name}")
    # hard negatives
    hn = []
    for k in range(6):
        hn.append(("hn_talking_heads", mk(gdir / f"head_{k}.mp4", k, gen.talking_head)))
    for k in range(4):
        hn.append(("hn_set_moments", mk(gdir / f"moment_{k}.mp4", k, gen.set_moment)))
    for k in range(4):
        hn.append(("hn_colour_cards", mk(gdir / f"cards_{k}.mp4", k, gen.colour_cards)))
    for k in range(3):
        hn.append(("hn_black", mk(gdir / f"black_{k}.mp4", k, gen.black_frames)))
    for n, (fam, p) in enumerate(hn):
        split = "calibration" if n % 2 == 0 else "heldout"
        items.append(Item(p.name, p, p.name, "hard_negative", fam, split))
        if fam == "hn_talking_heads" and n < 4:  # copies of presenters: they must still match their own
            for j, f2 in enumerate(("encoding", "crop")):
                out, edits = make_copy(p, f2, _h(cfg.seed, p.name, f2), distractors=distractors, cache_dir=cache)
                items.append(Item(f"{f2}__{p.name}", out, p.name, "copy", f2, split, source=p.name, length=8.0,
                                  edits=[{"fn": e.fn, **e.kwargs} for e in edits]))  # fmt: skip
    return items, skipped


# ---------------------------------------------------------------- description
class BenchDescriber:
    """Per item, on the product's decoded frames: the descriptors every method needs (cached)."""

    VERSION = 1

    def __init__(self, cfg: DedupeConfig, cache: Path):
        from reelmatch.dedupe.descriptor import FrameDescriber

        self.cfg = cfg
        self.fd = FrameDescriber(cfg)
        self.cache = Path(cache) / "desc"
        self.cache.mkdir(parents=True, exist_ok=True)

    def __call__(self, path: Path) -> dict:
        from reelmatch.dedupe.descriptor import prepare_frames
        from reelmatch.dedupe.ndvr import dhash

        c = self.cache / f"{_file_key(path)}_{self.cfg.fingerprint}_{self.VERSION}.npz"
        if c.exists():
            with np.load(c) as z:
                out = {k: z[k] for k in z.files}
            if "audio" not in out:  # cached before the soundtrack was fingerprinted
                out["audio"] = self._audio(path)
                np.savez(c, **out)
            return out
        frames, times = prepare_frames(path, self.cfg)
        f = self.fd.features(frames, flip=False)
        g = self.fd.features(np.ascontiguousarray(frames[:, :, ::-1]), flip=False)
        rm = f + g
        rm /= np.linalg.norm(rm, axis=1, keepdims=True) + 1e-12
        out = {"desc": rm.astype(np.float32), "plain": f.astype(np.float32), "hash": dhash(frames), "times": times.astype(np.float32),
               "blank": np.array([len(frames) == 0]), "audio": self._audio(path)}  # fmt: skip
        np.savez(c, **out)
        return out

    def _audio(self, path: Path) -> np.ndarray:
        from reelmatch.dedupe.audio import audio_fingerprint

        try:
            return audio_fingerprint(path, max_seconds=self.cfg.max_seconds)
        except Exception as e:  # noqa: BLE001 - a soundtrack that does not decode is no audio evidence
            log.warning("no audio fingerprint for %s: %s", path.name, e)
            return np.zeros(0, np.uint32)


# ---------------------------------------------------------------- scoring
def score_all(items: list[Item], descs: dict[str, dict], method: str, ctx: dict) -> tuple[list[str], list[str], np.ndarray, dict]:
    """All pairs (a < b by index) and their scores for ``method``; extras: alignment per pair (reelmatch)."""
    from reelmatch.dedupe.ndvr import hash_score
    from reelmatch.dedupe.similarity import copy_score, mean_pooled_score

    names = [it.name for it in items if it.name in descs]
    a_l, b_l, s_l, extra = [], [], [], {}
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            x, y = descs[names[i]], descs[names[j]]
            if len(x["desc"]) == 0 or len(y["desc"]) == 0:  # no evidence (all frames blank): no match
                s = 0.0
            elif method == "chamfer_v1":
                s = copy_score(x["desc"], y["desc"]) if len(x["desc"]) and len(y["desc"]) else 0.0
            elif method == "mean_pooled":
                s = mean_pooled_score(x["plain"], y["plain"])
            elif method == "video_hash":
                s = hash_score(x["hash"], y["hash"])
            else:
                s, ex = ctx[method](names[i], names[j])
                if ex is not None:
                    extra[(names[i], names[j])] = ex
            a_l.append(names[i])
            b_l.append(names[j])
            s_l.append(s)
    return a_l, b_l, np.array(s_l, np.float64), extra


def _hn_pair(x: Item, y: Item) -> str | None:
    """The hard-negative family of a non-copy pair, or None."""
    if x.root == y.root:
        return None
    for it, other in ((x, y), (y, x)):
        if it.family in ("hn_colour_cards", "hn_black"):
            return it.family
    if x.family == y.family and x.family in ("hn_talking_heads", "hn_set_moments"):
        return x.family
    if x.role == "original" and y.role == "original" and x.film and x.film == y.film:
        return "hn_same_film"
    roots = {x.root.split(":")[-1].split("_")[0], y.root.split(":")[-1].split("_")[0]}
    if x.role == y.role == "original" and len(roots) == 1 and x.root.startswith("group:") and y.root.startswith("group:"):
        return "hn_same_film"  # e.g. group rocket vs rocket_semantic: same subject, other footage
    return None


def evaluate(items: list[Item], a, b, s, threshold: float | None) -> dict:
    by = {it.name: it for it in items}
    root = {it.name: it.root for it in items}
    true = np.array([root[x] == root[y] for x, y in zip(a, b)], bool)
    out = {"pairs": len(s), "true_pairs": int(true.sum()), "micro_ap": round(micro_ap(s, true), 4)}
    fam_of = []
    for x, y in zip(a, b):
        fx, fy = by[x].family, by[y].family
        fam_of.append({f for f in (fx, fy) if f not in ("original",)})
    hn = [_hn_pair(by[x], by[y]) for x, y in zip(a, b)]
    families = sorted({f for fs in fam_of for f in fs if not f.startswith("hn_")}) + [f for f in HN_FAMILIES]
    per = {}
    for f in families:
        if f.startswith("hn_"):
            sel = np.array([h == f for h in hn])
        else:
            sel = np.array([f in fs for fs in fam_of])
        if not sel.any():
            continue
        per[f] = {"micro_ap": round(micro_ap(s[sel], true[sel]), 4) if true[sel].any() else None, "pairs": int(sel.sum()),
                  "true_pairs": int(true[sel].sum())}  # fmt: skip
    if threshold is not None:
        names = [it.name for it in items]
        gid = groups_from_pairs(names, zip(a, b, s), threshold)
        pred, _ = group_pair_counts(a, b, gid, root)
        out.update(precision_recall(pred, true))
        hn_arr = np.array([h is not None for h in hn])
        out["hard_negative_pairs"] = int(hn_arr.sum())
        out["hard_negatives_merged"] = int((pred & hn_arr).sum())
        out["merged_examples"] = [[x, y, round(float(v), 3)] for x, y, v, p_, t_ in zip(a, b, s, pred, true) if p_ and not t_][:8]
        for f, r in per.items():
            sel = np.array([h == f for h in hn]) if f.startswith("hn_") else np.array([f in fs for fs in fam_of])
            r.update({k: v for k, v in precision_recall(pred[sel], true[sel]).items() if k in ("precision", "recall", "fp", "fn")})
            if f.startswith("hn_"):
                r["merged"] = int((pred[sel]).sum())
    out["per_family"] = per
    return out


def calibrate_threshold(items, a, b, s, *, precision: float = 0.998, step: float = 0.005) -> float:
    """The lowest threshold on a ``step`` grid (most recall) whose groups keep pair precision >= ``precision``
    and merge no hard-negative pair, scanning down from 1 and stopping at the first failure."""
    by = {it.name: it for it in items}
    root = {it.name: it.root for it in items}
    names = [it.name for it in items]
    true = np.array([root[x] == root[y] for x, y in zip(a, b)], bool)
    hn = np.array([_hn_pair(by[x], by[y]) is not None for x, y in zip(a, b)], bool)
    keep = s >= 0.2  # pairs below never link at the thresholds scanned
    links = [(x, y, v) for x, y, v, k in zip(a, b, s, keep) if k]
    best = 1.0
    for t in np.arange(1.0, 0.2, -step):
        gid = groups_from_pairs(names, links, float(t))
        pred, _ = group_pair_counts(a, b, gid, root)
        tp, fp = int((pred & true).sum()), int((pred & ~true).sum())
        if (tp + fp and tp / (tp + fp) < precision) or (pred & hn).any():
            break
        best = float(round(t, 4))
    return best


def localisation(items: list[Item], extra: dict) -> dict:
    """Segment errors (s) of time-preserving copies against their source window: within 1 s?"""
    by = {it.name: it for it in items}
    errs = []
    for it in items:
        if it.role != "copy" or it.temporal or it.source is None:
            continue
        key = (it.source, it.name) if (it.source, it.name) in extra else (it.name, it.source)
        ex = extra.get(key)
        if not ex or not ex.get("segments"):
            errs.append({"copy": it.name, "error": None})
            continue
        seg = max(ex["segments"], key=lambda g: g["a_end"] - g["a_start"])
        src_is_a = ex.get("a", key[0]) == it.source
        s0, s1 = (seg["a_start"], seg["a_end"]) if src_is_a else (seg["b_start"], seg["b_end"])
        c0, c1 = (seg["b_start"], seg["b_end"]) if src_is_a else (seg["a_start"], seg["a_end"])
        # the copy [c0, c1] should map to the source [offset + c0, offset + c1]
        e = max(abs(s0 - (it.offset + c0)), abs(s1 - (it.offset + c1)))
        errs.append({"copy": it.name, "family": it.family, "error": round(float(e), 3),
                     "extent_error": round(float(max(abs(c0), abs(c1 - it.length))), 3)})  # fmt: skip
    ok = [e for e in errs if e["error"] is not None]
    within = [e for e in ok if e["error"] <= 1.0]
    return {"checked": len(errs), "located": len(ok), "within_1s": len(within),
            "median_error": round(float(np.median([e["error"] for e in ok])), 3) if ok else None,
            "worst": sorted(ok, key=lambda e: -e["error"])[:5]}  # fmt: skip


def run_copybench(video_dir: str | Path, cfg: CopyBenchConfig = CopyBenchConfig(), *, progress=None) -> dict:
    from reelmatch.dedupe.scoring import CopyScorer, PairScorer

    video_dir = Path(video_dir)
    if not video_dir.is_dir():
        raise InputError(f"{video_dir}: not a directory of videos")
    tick = progress or (lambda m: None)
    t0 = time.time()
    items, skipped = build_catalogue(video_dir, cfg, tick)
    describe = BenchDescriber(cfg.dedupe, cfg.cache_dir)
    descs = {}
    for it in items:
        try:
            descs[it.name] = describe(it.path)
        except Exception as e:
            skipped.append({"path": str(it.path), "error": " ".join(f"{type(e).__name__}: {e}".split())[:300]})
        tick(f"described {it.name}")
    items = [it for it in items if it.name in descs]
    t_build = time.time() - t0
    shipped = DEFAULT_THRESHOLD if cfg.threshold is None else cfg.threshold
    doc = {"items": len(items), "copies": sum(it.role == "copy" for it in items),
           "hard_negatives": sum(it.role == "hard_negative" for it in items), "skipped": skipped,
           "families": sorted({it.family for it in items if it.role == "copy"}), "threshold": shipped, "splits": {},
           "seconds_build_describe": round(t_build, 1)}  # fmt: skip
    doc["cuts"] = cut_localisation(items, describe, cfg)
    tick("cuts located")
    for split in ("calibration", "heldout"):
        sub = [it for it in items if it.split == split]
        whitened = CopyScorer.fit({it.name: (descs[it.name]["desc"], descs[it.name]["times"], bool(descs[it.name]["blank"][0])) for it in sub})
        frames_of = {it.name: descs[it.name]["desc"] for it in sub}
        times_of = {it.name: descs[it.name]["times"] for it in sub}
        audio_of = {it.name: descs[it.name]["audio"] for it in sub} if cfg.dedupe.audio else None
        pairer = PairScorer(frames_of, times_of, audio_of)  # what the dedupe stage ships
        visual = PairScorer(frames_of, times_of)  # the same, pictures only

        def shipped_score(x, y, pairer=pairer):
            s_ = pairer(x, y)
            return s_, (pairer.explain(x, y) if s_ >= 0.5 else None)

        ctx = {"reelmatch": shipped_score, "visual_only": lambda x, y: (visual(x, y), None), "whitened": whitened.pair_by_name}
        res = {}
        for m in cfg.methods:
            a, b, s, extra = score_all(sub, descs, m, ctx)
            thr = shipped if m == "reelmatch" else (DEFAULT_THRESHOLD_V1 if m == "chamfer_v1" else None)
            r = evaluate(sub, a, b, s, thr)
            r["calibrated_threshold"] = calibrate_threshold(sub, a, b, s) if m in ("reelmatch", "visual_only", "whitened", "chamfer_v1") else None
            if m == "reelmatch":
                r["localisation"] = localisation(sub, extra)
            res[m] = r
            tick(f"{split}: {m} µAP {r['micro_ap']}")
        doc["splits"][split] = {"items": len(sub), "methods": res}
    return doc


def cut_localisation(items: list[Item], describe, cfg: CopyBenchConfig, *, length: float = 5.0) -> list[dict]:
    """For every original of at least 20 s: a ``length``-second cut at a seeded start, located in it.

    Returns per original the true start, the located segment on each side and
    the error (s) of the segment's ends (``error`` <= 1 is the target).
    """
    from reelmatch.dedupe.segments import align

    out = []
    for it in items:
        if it.role != "original":
            continue
        d = describe(it.path)
        if len(d["times"]) < 20:
            continue
        try:
            win, start, got = _window(it.path, _h(cfg.seed, it.name, "cut"), length, Path(cfg.cache_dir))
            c = describe(win)
        except Exception as e:  # noqa: BLE001 - reported, never stops the benchmark
            out.append({"original": it.name, "error": None, "failed": str(e)[:200]})
            continue
        if len(c["desc"]) == 0 or len(d["desc"]) == 0:
            continue
        r = align(c["desc"], d["desc"], c["times"], d["times"])
        if not r.segments:
            out.append({"original": it.name, "start": round(start, 2), "error": None})
            continue
        seg = max(r.segments, key=lambda g: g["a_end"] - g["a_start"])
        err = max(abs(seg["b_start"] - (start + seg["a_start"])), abs(seg["b_end"] - (start + seg["a_end"])),
                  abs(seg["a_start"]), abs(seg["a_end"] - got))  # fmt: skip
        out.append({"original": it.name, "start": round(start, 2), "length": round(got, 2), "segment": seg,
                    "score": round(r.score, 4), "error": round(float(err), 2)})  # fmt: skip
    return out


#: the threshold shipped with the order-free chamfer score (before issue 17), for the baseline row
DEFAULT_THRESHOLD_V1 = 0.75


def format_report(doc: dict) -> str:
    lines = [f"copy benchmark: {doc['items']} items ({doc['copies']} AugLy copies, {doc['hard_negatives']} hard negatives), "
             f"shipped threshold {doc['threshold']}"]  # fmt: skip
    for split, sd in doc["splits"].items():
        ms = sd["methods"]
        lines.append(f"\n[{split}] {sd['items']} items")
        head = f"{'family':18s}" + "".join(f"{m[:11] + ' µAP':>16s}" for m in ms) + f"{'P@thr':>8s}{'R@thr':>8s}{'merged':>8s}"
        lines.append(head)
        lines.append("-" * len(head))
        fams = list(ms["reelmatch"]["per_family"])
        for f in fams:
            cells = ""
            for m in ms:
                v = ms[m]["per_family"].get(f, {}).get("micro_ap")
                cells += f"{v:>16.3f}" if v is not None else f"{'-':>16s}"
            r = ms["reelmatch"]["per_family"][f]
            p, rc = r.get("precision"), r.get("recall")
            cells += f"{p:>8.3f}" if p is not None else f"{'-':>8s}"
            cells += f"{rc:>8.3f}" if rc is not None else f"{'-':>8s}"
            cells += f"{r.get('merged', ''):>8}"
            lines.append(f"{f:18s}{cells}")
        cells = "".join(f"{ms[m]['micro_ap']:>16.3f}" for m in ms)
        r = ms["reelmatch"]
        lines.append(f"{'OVERALL':18s}{cells}{r['precision'] or 0:>8.3f}{r['recall'] or 0:>8.3f}{r['hard_negatives_merged']:>8}")
        for m in ("reelmatch", "chamfer_v1"):
            if m in ms and ms[m].get("precision") is not None:
                lines.append(f"{m}: precision {ms[m]['precision']} recall {ms[m]['recall']} at {doc['threshold'] if m == 'reelmatch' else DEFAULT_THRESHOLD_V1}, "
                             f"hard negatives merged {ms[m]['hard_negatives_merged']}, calibrated threshold {ms[m]['calibrated_threshold']}")  # fmt: skip
        loc = ms["reelmatch"].get("localisation")
        if loc:
            lines.append(f"localisation: {loc['within_1s']}/{loc['checked']} time-preserving copies within 1 s (median error {loc['median_error']} s)")
        if ms["reelmatch"].get("merged_examples"):
            lines.append("false merges: " + "; ".join(f"{x} ~ {y} ({v})" for x, y, v in ms["reelmatch"]["merged_examples"]))
    cuts = doc.get("cuts") or []
    if cuts:
        ok = [c for c in cuts if c.get("error") is not None and c["error"] <= 1.0]
        lines.append(f"\n5 s cuts of the originals of 20 s or more: {len(ok)}/{len(cuts)} located within 1 s")
        for c in cuts:
            seg = c.get("segment")
            where = f"found {seg['b_start']:.1f}-{seg['b_end']:.1f} s" if seg else "not found"
            lines.append(f"  {c['original']:34s} cut at {c.get('start', 0):6.1f} s: {where} (error {c.get('error')})")
    for s_ in doc.get("skipped", []):
        lines.append(f"skipped {s_['path']}: {s_['error']}")
    return "\n".join(lines)
