"""The evaluate stage: held-out retrieval quality, baselines, plots, HTML report.

``run_evaluate(ws, EvalConfig())`` embeds the held-out split's trailers with the
current model (and with each baseline), scores every item as a query against
the others with :func:`reelmatch.evaluate.metrics.retrieval_metrics`
(genre-overlap relevance), and writes under ``<ws>/reports/``:

- ``metrics.json`` (+ sidecar): the ``evaluate`` JSON document of DESIGN.md;
- ``embedding_map.png``, ``training_curves.png``, ``per_genre.png``,
  ``baselines.png``;
- ``report.html``: everything above plus example queries with thumbnails.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reelmatch.config import atomic_write_bytes, atomic_write_json, write_sidecar
from reelmatch.errors import InputError, NotFoundError
from reelmatch.evaluate.config import BASELINE_DESCRIPTIONS, EvalConfig
from reelmatch.evaluate.report import Example, Neighbour, render_html

log = logging.getLogger(__name__)

METRIC_KEYS = ("map_at_r", "precision_at_1", "precision_at_10", "ndcg_at_10")

Progress = Callable[[str], None]


@dataclass
class EvalResult:
    """What ``run_evaluate`` produced: the JSON document and the files written."""

    doc: dict
    metrics_path: Path
    report_path: Path
    figures: dict[str, Path]


def held_out(ws, split: str, *, clip_config=None) -> tuple[list[str], list[tuple[str, ...]]]:
    """Ids and genre labels of the trailers in ``split`` that have a clip (of ``clip_config``) and genres."""
    from reelmatch.dataset.store import ClipStore

    store = ClipStore(ws, clip_config)
    ids, labels = [], []
    for cid in sorted(store.ids(split=split)):
        item = ws.catalog.maybe_get(cid)
        if item is None or item.kind != "trailer" or not item.genres:
            continue
        ids.append(cid)
        labels.append(tuple(item.genres))
    return ids, labels


def score(vectors: np.ndarray, labels, k: int = 10) -> dict:
    """Overall metrics of one system: the four DESIGN.md keys, floats."""
    from reelmatch.evaluate.metrics import retrieval_metrics

    m = retrieval_metrics(np.asarray(vectors, dtype=np.float32), [list(x) for x in labels], k=k)
    return {key: float(m[key]) for key in METRIC_KEYS if key in m}


def score_per_genre(vectors: np.ndarray, labels, k: int = 10) -> dict[str, dict]:
    """Metrics averaged over the queries of each genre (all items stay in the gallery).

    Uses the per-query values of ``retrieval_metrics`` (``per_query=True``).
    """
    from reelmatch.evaluate.metrics import retrieval_metrics

    m = retrieval_metrics(np.asarray(vectors, dtype=np.float32), [list(x) for x in labels], k=k, per_query=True)
    per_q = m["per_query"]
    out: dict[str, dict] = {}
    for g in sorted({g for lab in labels for g in lab}):
        sel = np.array([g in lab for lab in labels])
        row = {key: _nanmean(np.asarray(per_q[key], dtype=np.float64)[sel]) for key in METRIC_KEYS if key in per_q}
        row["queries"] = int(sel.sum())
        out[g] = row
    return out


def random_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    """float32 [n, dim] random unit vectors: the chance-level baseline."""
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def inputs_fingerprint(ws, config: EvalConfig, ids, labels, model_info: dict, clip_config=None) -> str:
    """What an evaluation depends on: its config, the model, the clips and the held-out labels."""
    from reelmatch.config import fingerprint
    from reelmatch.dataset.store import resolve_clip_config

    clip_config = clip_config if clip_config is not None else resolve_clip_config(ws)
    return fingerprint(
        {
            "config": config.fingerprint,
            "model": model_info.get("fingerprint"),
            "clips": clip_config.fingerprint,
            "items": [[i, list(lab)] for i, lab in zip(ids, labels)],
        }
    )


def evaluation_is_current(ws, config: EvalConfig = EvalConfig(), *, clip_config=None) -> bool:
    """True when ``reports/`` already holds this evaluation of the current model and clips."""
    from reelmatch.config import read_sidecar
    from reelmatch.evaluate.embeddings import current_model_info

    reports = ws.dir("reports")
    side = read_sidecar(reports / "metrics.json")
    if side is None or not (reports / "report.html").exists():
        return False
    info = current_model_info(ws)
    if info is None:
        return False
    ids, labels = held_out(ws, config.split, clip_config=clip_config)
    if len(ids) < 2 and info.get("training") == "self-supervised":
        ids = split_clips(ws, config.split, clip_config)
        labels = [()] * len(ids)
    return side.get("inputs") == inputs_fingerprint(ws, config, ids, labels, info, clip_config)


def split_clips(ws, split: str, clip_config=None) -> list[str]:
    """Ids of every clip (of ``clip_config``) in ``split``, labelled or not."""
    from reelmatch.dataset.store import ClipStore

    store = ClipStore(ws, clip_config)
    try:
        return sorted(store.ids(split=split))
    finally:
        store.close()


def run_evaluate(ws, config: EvalConfig = EvalConfig(), *, clip_config=None,
                 progress: Progress | None = None) -> EvalResult:
    """Evaluate the current model on ``config.split`` of the clips of ``clip_config``
    (None: the workspace's current one); write metrics, plots and report."""
    from reelmatch.dataset.store import resolve_clip_config
    from reelmatch.evaluate import embeddings as emb
    from reelmatch.evaluate import plots

    say = progress or (lambda msg: None)
    clip_config = clip_config if clip_config is not None else resolve_clip_config(ws)
    ids, labels = held_out(ws, config.split, clip_config=clip_config)
    model_info = emb.current_model_info(ws)
    if len(ids) < 2:
        if model_info is not None and model_info.get("training") == "self-supervised":
            return _evaluate_cross_modal_only(ws, config, model_info, clip_config, say)
        raise InputError(
            f"the {config.split} split has {len(ids)} trailer(s) with genres and a clip; "
            "evaluation needs at least 2 (add more labelled trailers, then extract)"
        )
    if model_info is None:
        raise NotFoundError("no trained model in the workspace: run 'reelmatch train'")

    say(f"embedding {len(ids)} held-out trailers with the trained model")
    towers = emb.model_towers(ws, ids, batch_size=config.batch_size, clip_config=clip_config)
    fused = towers["fused"]
    doc: dict = {"split": config.split, "items": len(ids), "metrics": score(fused, labels, config.k)}
    per_system_vectors: dict[str, np.ndarray] = {}
    for name in config.baselines:
        say(f"baseline {name}")
        try:
            if name == "random":
                v = random_vectors(len(ids), fused.shape[1], config.seed)
            elif name == "pretrained_mean":
                v = emb.pretrained_mean(ws, ids, batch_size=config.batch_size, clip_config=clip_config)
            elif name == "untrained":
                v = emb.untrained_towers(ws, ids, batch_size=config.batch_size, seed=config.seed,
                                         clip_config=clip_config)["fused"]
            elif name == "audio_only":
                v = towers["audio"]
            elif name == "frames_only":
                v = towers["visual"]
            elif name == "text_only":
                if towers["text"].shape[1] == 0:
                    log.info("baseline text_only skipped: the model has no text modality")
                    continue
                v = towers["text"]
            else:  # pragma: no cover - EvalConfig validates names
                raise InputError(f"unknown baseline {name}")
        except (NotFoundError, InputError) as e:
            log.warning("baseline %s skipped: %s", name, e)
            continue
        per_system_vectors[name] = v
    doc["baselines"] = {name: score(v, labels, config.k) for name, v in per_system_vectors.items()}
    doc["per_genre"] = score_per_genre(fused, labels, config.k)
    baseline_per_genre = {
        name: score_per_genre(v, labels, config.k)
        for name, v in per_system_vectors.items()
        if name in ("pretrained_mean", "random")
    }
    if model_info.get("training"):  # trained with the cross-modal phase: do its towers agree on new items?
        doc["cross_modal"] = cross_modal_doc(towers)
    doc["model"] = model_info
    doc["baseline_descriptions"] = {n: BASELINE_DESCRIPTIONS[n] for n in doc["baselines"]}

    reports = ws.dir("reports")
    metrics_path = reports / "metrics.json"
    atomic_write_json(metrics_path, doc)

    say("drawing plots")
    figures: dict[str, Path] = {}
    overall = {"trained": doc["metrics"], **doc["baselines"]}
    figures["All systems, all metrics"] = plots.baseline_bars(overall, reports / "baselines.png")
    figures["Per-genre MAP@R"] = plots.per_genre_bars(
        doc["per_genre"], reports / "per_genre.png", baselines=baseline_per_genre
    )
    pts = plots.project_2d(fused, method=config.projection, seed=config.seed)
    figures["Map of the held-out embeddings"] = plots.embedding_map(pts, labels, reports / "embedding_map.png")
    log_csv = emb.training_log(ws)
    if log_csv is not None:
        figures["Training curves"] = plots.training_curves(plots.read_training_log(log_csv), reports / "training_curves.png")

    say("writing the HTML report")
    examples = _examples(ws, ids, labels, fused, config, clip_config)
    context = {
        "model": model_info.get("name") or model_info.get("path", ""),
        "held-out trailers": str(len(ids)),
        "genres": ", ".join(sorted({g for lab in labels for g in lab})),
    }
    html = render_html(
        doc, figures=figures, examples=examples, context=context, descriptions=BASELINE_DESCRIPTIONS
    )
    report_path = reports / "report.html"
    atomic_write_bytes(report_path, html.encode())
    # the sidecar last: an evaluation killed midway is never taken as current
    write_sidecar(metrics_path, config, model=model_info,
                  inputs=inputs_fingerprint(ws, config, ids, labels, model_info, clip_config))
    return EvalResult(doc=doc, metrics_path=metrics_path, report_path=report_path, figures=figures)


def cross_modal_doc(towers: dict[str, np.ndarray]) -> dict:
    """Audio -> frames and frames -> audio recall@1/@10 over the items with sound (audio rows not zero)::

        {"items": n, "chance_at_1": 1/n, "chance_at_10": min(10, n)/n,
         "audio_to_frames": {"recall_at_1", "recall_at_10", "mrr"}, "frames_to_audio": {...}}
    """
    from reelmatch.evaluate.metrics import cross_modal_recall

    rows = np.linalg.norm(towers["audio"], axis=1) > 0
    a, v = towers["audio"][rows], towers["visual"][rows]
    n = int(rows.sum())
    doc: dict = {"items": n, "chance_at_1": (1 / n) if n else 0.0, "chance_at_10": (min(10, n) / n) if n else 0.0}
    for name, (q, g) in (("audio_to_frames", (a, v)), ("frames_to_audio", (v, a))):
        r = cross_modal_recall(q, g, ks=(1, 10))
        doc[name] = {k: r[k] for k in ("recall_at_1", "recall_at_10", "mrr")}
    return doc


def _evaluate_cross_modal_only(ws, config: EvalConfig, model_info: dict, clip_config, say) -> EvalResult:
    """A self-supervised model on a catalogue without held-out labels: only the towers' agreement is measurable."""
    from reelmatch.evaluate import embeddings as emb

    ids = split_clips(ws, config.split, clip_config)
    if len(ids) < 2:
        raise InputError(f"the {config.split} split has {len(ids)} clip(s); evaluation needs at least 2 (add and extract more)")
    say(f"no genre labels in the {config.split} split: cross-modal retrieval of {len(ids)} held-out clips")
    towers = emb.model_towers(ws, ids, batch_size=config.batch_size, clip_config=clip_config)
    doc = {"split": config.split, "items": 0, "metrics": {}, "baselines": {}, "per_genre": {},
           "cross_modal": cross_modal_doc(towers), "model": model_info,
           "note": "no genre labels in the held-out split: genre retrieval is not measurable"}
    reports = ws.dir("reports")
    metrics_path = reports / "metrics.json"
    atomic_write_json(metrics_path, doc)
    context = {"model": model_info.get("path", ""), "held-out clips": str(len(ids)), "training": "self-supervised"}
    report_path = reports / "report.html"
    atomic_write_bytes(report_path, render_html(doc, figures={}, examples=[], context=context).encode())
    write_sidecar(metrics_path, config, model=model_info,
                  inputs=inputs_fingerprint(ws, config, ids, [()] * len(ids), model_info, clip_config))
    return EvalResult(doc=doc, metrics_path=metrics_path, report_path=report_path, figures={})


def _examples(ws, ids, labels, vectors, config: EvalConfig, clip_config=None) -> list[Example]:
    """A few queries (one per genre first, seeded) with their nearest held-out neighbours."""
    from reelmatch.dataset.store import ClipStore

    if config.examples <= 0:
        return []
    rng = np.random.default_rng(config.seed)
    order = list(rng.permutation(len(ids)))
    chosen, seen = [], set()
    for i in order:  # first a query per first-genre, then anything
        if labels[i][0] not in seen:
            chosen.append(i)
            seen.add(labels[i][0])
    chosen += [i for i in order if i not in chosen]
    chosen = chosen[: config.examples]
    v = np.asarray(vectors, dtype=np.float32)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    sims = v @ v.T
    store = ClipStore(ws, clip_config)
    titles = {i: ws.catalog.get(ids[i]).title for i in range(len(ids))}
    out = []
    for qi in chosen:
        s = sims[qi].copy()
        s[qi] = -np.inf
        nn = np.argsort(-s)[: config.neighbours]
        ex = Example(id=ids[qi], title=titles[qi], genres=labels[qi], thumb=_thumb(store, ids[qi]))
        for j in nn:
            shared = tuple(g for g in labels[j] if g in labels[qi])
            ex.neighbours.append(
                Neighbour(
                    id=ids[j], title=titles[j], genres=labels[j], score=float(s[j]),
                    shared_genres=shared, thumb=_thumb(store, ids[j]),
                )
            )
        out.append(ex)
    return out


def _thumb(store, clip_id: str) -> np.ndarray | None:
    """The middle real frame of a clip (uint8 [S, S, 3]), None if it cannot be read."""
    try:
        clip = store.get(clip_id)
    except Exception as e:  # a thumbnail is decoration: never fail the report for it
        log.warning("no thumbnail for %s: %s", clip_id, e)
        return None
    real = np.flatnonzero(clip.mask)
    if real.size == 0:
        return None
    return clip.frames[real[real.size // 2]]


def _nanmean(a: np.ndarray) -> float:
    """Mean over the defined values (a query without relevant items has NaN MAP@R); 0 if none."""
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else 0.0
