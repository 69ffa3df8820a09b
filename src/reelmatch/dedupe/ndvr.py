"""``reelmatch bench ndvr``: near-duplicate video retrieval over generated copies.

For each video of a directory the benchmark decodes the first ``max_seconds``
(frames at most ``max_side`` pixels, at most ``max_fps``), applies every
transformation of :mod:`reelmatch.dedupe.transforms`, writes each copy with
PyAV, then searches every copy (query) among all the originals (the source
plus every other original as distractors). Per transformation it reports mean
average precision and recall@1 for three methods scored on the same decoded
frames:

- ``reelmatch``: flip-invariant frame descriptors + chamfer copy score (the dedupe stage);
- ``mean_pooled``: cosine of mean-pooled pretrained frame features (baseline);
- ``video_hash``: per-frame 64-bit dHash sequences, chamfer of 1 - Hamming/64 (baseline).

It also reports a calibration of the copy threshold: the scores of true
(copy, source) pairs against (copy, other original) pairs.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reelmatch.dedupe.config import DedupeConfig
from reelmatch.dedupe.similarity import copy_score, mean_pooled_score
from reelmatch.dedupe.transforms import QUICK, SUITE, Source
from reelmatch.errors import InputError

log = logging.getLogger(__name__)
VIDEO_EXTS = {".mp4", ".webm", ".mkv", ".ogv", ".avi", ".mpeg", ".mpg", ".mov", ".m4v", ".flv", ".ts", ".wmv"}
METHODS = ("reelmatch", "mean_pooled", "video_hash")
#: originals scoring at least this with a query's source are copies of it: ignored for that query
JUNK_SCORE = 0.95


@dataclass(frozen=True)
class NdvrConfig:
    """max_seconds: length of each original used; max_queries: originals that get copies (0 = all)."""

    max_seconds: float = 20.0
    max_side: int = 320
    max_fps: float = 12.0
    transforms: tuple[str, ...] = tuple(SUITE)
    max_queries: int = 0
    dedupe: DedupeConfig = DedupeConfig()

    @classmethod
    def quick(cls, **kw) -> "NdvrConfig":
        return cls(**{"max_seconds": 6.0, "max_side": 256, "max_fps": 10.0, "transforms": QUICK, "max_queries": 8, **kw})


def load_source(path: Path, cfg: NdvrConfig) -> Source:
    """Decode the first ``max_seconds`` of ``path`` into a :class:`Source` (``InputError`` if it cannot)."""
    import av

    from reelmatch.dedupe.frames import sample_frames
    from reelmatch.media import audio_stream, open_media

    frames, times = sample_frames(path, fps=cfg.max_fps, max_side=cfg.max_side, max_seconds=cfg.max_seconds)
    frames = frames[:, : frames.shape[1] // 2 * 2, : frames.shape[2] // 2 * 2]
    if len(times) > 1:
        fps = max(1.0, round((len(times) - 1) / max(float(times[-1] - times[0]), 1e-3)))
    else:
        fps = 1.0
    audio = None
    try:
        with open_media(path, check=False) as c:
            astream = audio_stream(c)
            if astream is not None:
                res = av.AudioResampler(format="flt", layout="mono", rate=16000)
                chunks = []
                for fr in c.decode(astream):
                    for o in res.resample(fr):
                        chunks.append(o.to_ndarray().reshape(-1))
                    if sum(len(x) for x in chunks) > cfg.max_seconds * 16000:
                        break
                if chunks:
                    audio = np.concatenate(chunks)[: int(cfg.max_seconds * 16000)].astype(np.float32)
    except (av.FFmpegError, ValueError, InputError) as e:
        log.warning("%s: audio not decodable (%s); copies get no audio", path, e)
    return Source(frames=np.ascontiguousarray(frames), fps=float(fps), audio=audio)


def write_source(src: Source, path: Path) -> Path:
    from reelmatch.samples.media import write_video

    frames = src.frames
    fps = max(1, int(round(src.fps)))
    audio = src.audio
    afn = False
    if audio is not None and len(audio):
        def afn(t, a=audio):
            return a[np.clip((t * src.sample_rate).astype(np.int64), 0, len(a) - 1)]
    path = path.with_suffix(src.container)
    return write_video(
        path, seconds=len(frames) / fps, width=frames.shape[2], height=frames.shape[1], fps=fps,
        frames=lambda i, t: frames[min(i, len(frames) - 1)], audio=afn, sample_rate=src.sample_rate,
        video_codec=src.video_codec,
    )  # fmt: skip


def dhash(frames: np.ndarray) -> np.ndarray:
    """64-bit difference hashes, bool [T, 64], of frames uint8 [T, H, W, 3]."""
    from PIL import Image

    out = []
    for f in frames:
        g = np.asarray(Image.fromarray(f).convert("L").resize((9, 8), Image.BILINEAR), np.int16)
        out.append((g[:, 1:] > g[:, :-1]).reshape(-1))
    return np.array(out, bool).reshape(len(frames), 64)


def hash_score(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) > len(b):
        a, b = b, a
    sim = 1.0 - (a[:, None, :] != b[None, :, :]).mean(axis=2)
    return float(sim.max(axis=1).mean())


def average_precision(scores: np.ndarray, relevant: np.ndarray) -> float:
    """AP of one ranked list: scores float [N], relevant bool [N] (ties ranked pessimistically)."""
    order = np.lexsort((relevant, -scores))  # among equal scores, irrelevant first
    rel = relevant[order]
    if not rel.any():
        return 0.0
    hits = np.cumsum(rel)
    return float((hits[rel] / (np.flatnonzero(rel) + 1)).mean())


class _Describer:
    def __init__(self, cfg: DedupeConfig):
        from reelmatch.dedupe.descriptor import FrameDescriber

        self.cfg = cfg
        self.fd = FrameDescriber(cfg)

    def __call__(self, path: Path) -> dict:
        from reelmatch.dedupe.descriptor import prepare_frames

        frames, _ = prepare_frames(path, self.cfg)
        f = self.fd.features(frames, flip=False)
        g = self.fd.features(np.ascontiguousarray(frames[:, :, ::-1]), flip=False)
        rm = f + g
        rm /= np.linalg.norm(rm, axis=1, keepdims=True) + 1e-12
        return {"reelmatch": rm, "mean_pooled": f, "video_hash": dhash(frames)}


SCORERS = {"reelmatch": copy_score, "mean_pooled": mean_pooled_score, "video_hash": hash_score}


def run_ndvr(video_dir: str | Path, cfg: NdvrConfig = NdvrConfig(), *, out_dir: str | Path | None = None, progress=None) -> dict:
    """Run the benchmark; returns ``{"per_transform": {name: {method: {"map", "recall_at_1", "queries"}}},
    "overall": {method: {...}}, "calibration": {...}, "skipped": [{"path", "error"}], ...}``.
    """
    video_dir = Path(video_dir)
    if not video_dir.is_dir():
        raise InputError(f"{video_dir}: not a directory of videos")
    unknown = set(cfg.transforms) - set(SUITE)
    if unknown:
        raise InputError(f"unknown transformations {sorted(unknown)}; known: {', '.join(SUITE)}")
    paths = sorted(p for p in video_dir.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTS)
    if len(paths) < 2:
        raise InputError(f"{video_dir}: needs at least 2 videos, found {len(paths)}")
    tmp = None
    if out_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="reelmatch-ndvr-")
        out_dir = tmp.name
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    describe = _Describer(cfg.dedupe)
    skipped, originals, sources = [], {}, {}
    tick = progress or (lambda msg: None)
    for p in paths:
        try:
            src = load_source(p, cfg)
            copy = write_source(src, out_dir / f"orig__{p.stem}")  # the truncated original, as indexed
            originals[p.name] = describe(copy)
            sources[p.name] = src
        except Exception as e:  # hostile files are reported, never stop the run
            skipped.append({"path": str(p), "error": " ".join(f"{type(e).__name__}: {e}".split())[:300]})
            log.warning("ndvr: skipping %s: %s", p, skipped[-1]["error"])
        tick(f"original {p.name}")
    names = sorted(originals)
    if len(names) < 2:
        raise InputError(f"{video_dir}: fewer than 2 decodable videos")
    query_names = names
    if cfg.max_queries and len(names) > cfg.max_queries:
        step = len(names) / cfg.max_queries
        query_names = [names[int(i * step)] for i in range(cfg.max_queries)]
    # "junk" (ignored, as in the Oxford/Paris protocol): originals that are themselves
    # copies of a query's source (devdata holds three encodings of one rocket clip)
    # would be right answers counted as distractors; they are left out of that
    # query's ranking for every method alike and listed in the report.
    junk = {
        qn: [n for n in names if n != qn and copy_score(originals[qn]["reelmatch"], originals[n]["reelmatch"]) >= JUNK_SCORE]
        for qn in query_names
    }
    per: dict[str, dict[str, list]] = {t: {m: [] for m in METHODS} for t in cfg.transforms}
    details = []
    pos_scores, neg_scores = [], []
    for qn in query_names:
        for tname in cfg.transforms:
            try:
                copy_src = SUITE[tname](sources[qn])
                if len(copy_src.frames) == 0:
                    raise InputError("transformation left no frame")
                qpath = write_source(copy_src, out_dir / f"{tname}__{Path(qn).stem}")
                q = describe(qpath)
            except Exception as e:
                skipped.append({"path": f"{qn} [{tname}]", "error": " ".join(f"{type(e).__name__}: {e}".split())[:300]})
                tick(f"{tname} {qn} failed")
                continue
            db = [n for n in names if n not in junk[qn]]
            if len(db) < 2:  # every other original is a copy of this one: nothing to rank against
                skipped.append({"path": f"{qn} [{tname}]", "error": "no distractor left (all other videos are its copies)"})
                tick(f"{tname} {qn} skipped")
                continue
            relevant = np.array([n == qn for n in db])
            for m in METHODS:
                scores = np.array([SCORERS[m](q[m], originals[n][m]) for n in db])
                ap = average_precision(scores, relevant)
                top = db[int(np.argmax(scores))]
                per[tname][m].append((ap, float(top == qn and scores.max() > scores[~relevant].max())))
                if m == "reelmatch":
                    pos_scores.append(float(scores[relevant][0]))
                    neg_scores.extend(float(s) for s in scores[~relevant])
                    details.append({"query": qn, "transform": tname, "source_score": round(float(scores[relevant][0]), 4),
                                    "best_other": db[int(np.argmax(np.where(relevant, -9, scores)))],
                                    "best_other_score": round(float(scores[~relevant].max()), 4), "ap": round(ap, 4)})
            tick(f"{tname} {qn}")
    def summarise(rows):
        if not rows:
            return {"map": None, "recall_at_1": None, "queries": 0}
        a = np.array(rows)
        return {"map": round(float(a[:, 0].mean()), 4), "recall_at_1": round(float(a[:, 1].mean()), 4), "queries": len(a)}
    per_t = {t: {m: summarise(per[t][m]) for m in METHODS} for t in cfg.transforms}
    overall = {m: summarise([r for t in cfg.transforms for r in per[t][m]]) for m in METHODS}
    calib = calibrate(np.array(pos_scores), np.array(neg_scores))
    if tmp is not None:
        tmp.cleanup()
    return {
        "videos": len(names), "queries_per_transform": len(query_names), "transforms": list(cfg.transforms),
        "per_transform": per_t, "overall": overall, "calibration": calib, "skipped": skipped,
        "junk": {q: j for q, j in junk.items() if j}, "queries": details,
        "config": {"max_seconds": cfg.max_seconds, "max_side": cfg.max_side, "max_fps": cfg.max_fps,
                   "backbone": cfg.dedupe.backbone, "descriptor_fps": cfg.dedupe.fps},
    }  # fmt: skip


def calibrate(pos: np.ndarray, neg: np.ndarray) -> dict:
    """Copy-threshold calibration from true-pair and false-pair scores: the threshold with the best F1."""
    if len(pos) == 0 or len(neg) == 0:
        return {}
    best = (-1.0, 0.0)
    for t in np.unique(np.round(np.concatenate([pos, neg]), 3)):
        tp, fp = (pos >= t).sum(), (neg >= t).sum()
        fn = (pos < t).sum()
        f1 = 2 * tp / max(2 * tp + fp + fn, 1)
        if f1 > best[0]:
            best = (float(f1), float(t))
    return {
        "positives": int(len(pos)), "negatives": int(len(neg)),
        "min_positive": round(float(pos.min()), 4), "p5_positive": round(float(np.percentile(pos, 5)), 4),
        "max_negative": round(float(neg.max()), 4), "p99_negative": round(float(np.percentile(neg, 99)), 4),
        "best_f1": round(best[0], 4), "best_f1_threshold": round(best[1], 4),
    }  # fmt: skip


def format_table(doc: dict) -> str:
    """The per-transformation table (mAP / recall@1 per method), overall row last."""
    head = f"{'transformation':16s}" + "".join(f"{m + ' mAP':>17s}{'R@1':>7s}" for m in METHODS)
    lines = [head, "-" * len(head)]
    rows = list(doc["per_transform"].items()) + [("OVERALL", doc["overall"])]
    for t, res in rows:
        cells = ""
        for m in METHODS:
            r = res[m]
            cells += f"{r['map']:>17.3f}{r['recall_at_1']:>7.3f}" if r["map"] is not None else f"{'n/a':>17s}{'':>7s}"
        lines.append(f"{t:16s}{cells}")
    c = doc.get("calibration") or {}
    if c:
        lines.append(
            f"reelmatch copy scores: true pairs min {c['min_positive']:.3f} (p5 {c['p5_positive']:.3f}), "
            f"other originals max {c['max_negative']:.3f} (p99 {c['p99_negative']:.3f}); "
            f"best-F1 threshold {c['best_f1_threshold']:.3f} (F1 {c['best_f1']:.3f})"
        )
    for q, j in doc.get("junk", {}).items():
        lines.append(f"ignored for {q} (copies of it among the originals): {', '.join(j)}")
    for s in doc.get("skipped", []):
        lines.append(f"skipped {s['path']}: {s['error']}")
    o = doc["overall"]
    if o["reelmatch"]["map"] is not None and o["mean_pooled"]["map"]:
        lines.append(
            f"mAP ratio reelmatch/mean_pooled {o['reelmatch']['map'] / o['mean_pooled']['map']:.3f}, "
            f"reelmatch/video_hash {o['reelmatch']['map'] / max(o['video_hash']['map'], 1e-9):.3f}"
        )
    return "\n".join(lines)
