"""Report figures, drawn with matplotlib's Agg backend (no display needed).

Each function takes plain arrays/dicts and a PNG path, writes the PNG
atomically and returns the path.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from reelmatch.config import atomic_write_bytes

log = logging.getLogger(__name__)

METRIC_LABELS = {
    "map_at_r": "MAP@R",
    "precision_at_1": "P@1",
    "precision_at_10": "P@10",
    "ndcg_at_10": "nDCG@10",
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    atomic_write_bytes(Path(path), buf.getvalue())
    return Path(path)


def project_2d(vectors: np.ndarray, *, method: str = "auto", seed: int = 0) -> np.ndarray:
    """float32 [N, D] -> float32 [N, 2] for a map.

    ``method``: ``"pca"``, ``"tsne"`` or ``"auto"`` (t-SNE from 30 points up,
    PCA below, where t-SNE's perplexity does not fit).
    """
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"vectors must be [N, D], got shape {x.shape}")
    n = x.shape[0]
    if n == 0:
        return np.zeros((0, 2), np.float32)
    if n < 3 or x.shape[1] < 2:
        out = np.zeros((n, 2), np.float32)
        out[:, : min(2, x.shape[1])] = x[:, : min(2, x.shape[1])]
        return out
    if method == "auto":
        method = "tsne" if n >= 30 else "pca"
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(x).astype(np.float32)
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, max(5.0, (n - 1) / 3.0)))
        return (
            TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed, metric="cosine")
            .fit_transform(x)
            .astype(np.float32)
        )
    raise ValueError(f"unknown projection {method!r}: use pca, tsne or auto")


def embedding_map(
    points: np.ndarray,
    labels: Sequence[Sequence[str]],
    path: Path,
    *,
    title: str = "Embeddings (held-out titles), coloured by first genre",
) -> Path:
    """Scatter of 2-D ``points`` [N, 2], one colour per item's first genre.

    Items with two or more genres get a black edge.
    """
    plt = _pyplot()
    pts = np.asarray(points, dtype=np.float32)
    if pts.shape != (len(labels), 2):
        raise ValueError(f"points must be [{len(labels)}, 2], got {pts.shape}")
    first = [lab[0] if lab else "(none)" for lab in labels]
    genres = sorted(set(first))
    cmap = plt.get_cmap("tab10" if len(genres) <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    for i, g in enumerate(genres):
        sel = np.array([f == g for f in first])
        multi = np.array([len(lab) > 1 for lab in labels]) & sel
        single = sel & ~multi
        color = cmap(i % cmap.N)
        ax.scatter(pts[single, 0], pts[single, 1], s=26, color=color, label=g, alpha=0.85)
        if multi.any():
            ax.scatter(pts[multi, 0], pts[multi, 1], s=34, color=color, edgecolors="black", linewidths=0.9)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=8, loc="best", frameon=True, markerscale=1.2)
    return _save(fig, path)


def read_training_log(csv_path: Path) -> dict[str, list[tuple[float, float]]]:
    """Series ``name -> [(x, value)]`` from a Lightning-style CSV log.

    The x axis is ``epoch`` when present, else ``step``, else the row number.
    Empty cells (Lightning writes one sparse row per logging call) are skipped.
    """
    series: dict[str, list[tuple[float, float]]] = {}
    with open(csv_path, newline="") as f:
        for i, row in enumerate(csv.DictReader(f)):
            x = _num(row.get("epoch"))
            if x is None:
                x = _num(row.get("step"))
            if x is None:
                x = float(i)
            for k, v in row.items():
                if k in ("epoch", "step") or k is None:
                    continue
                y = _num(v)
                if y is not None:
                    series.setdefault(k, []).append((x, y))
    return series


def _num(v) -> float | None:
    try:
        y = float(v)
    except (TypeError, ValueError):
        return None
    return y if math.isfinite(y) else None


def training_curves(series: Mapping[str, Sequence[tuple[float, float]]], path: Path) -> Path:
    """Loss curves (left) and validation retrieval metrics (right) over epochs."""
    plt = _pyplot()
    fig, (ax_l, ax_m) = plt.subplots(1, 2, figsize=(10, 3.8))
    n_loss = n_metric = 0
    for name, pts in sorted(series.items()):
        if not pts:
            continue
        xs, ys = _per_x_mean(pts)
        low = name.lower()
        if "loss" in low:
            ax_l.plot(xs, ys, marker="o" if len(xs) < 30 else None, ms=3, label=name)
            n_loss += 1
        elif any(m in low for m in ("map", "precision", "ndcg", "p_at", "p@", "acc")):
            ax_m.plot(xs, ys, marker="o" if len(xs) < 30 else None, ms=3, label=name)
            n_metric += 1
    ax_l.set_title("training losses", fontsize=10)
    ax_m.set_title("validation retrieval metrics", fontsize=10)
    for ax, n in ((ax_l, n_loss), (ax_m, n_metric)):
        ax.set_xlabel("epoch")
        if n:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)
    return _save(fig, path)


def _per_x_mean(pts: Sequence[tuple[float, float]]) -> tuple[list[float], list[float]]:
    acc: dict[float, list[float]] = {}
    for x, y in pts:
        acc.setdefault(x, []).append(y)
    xs = sorted(acc)
    return xs, [float(np.mean(acc[x])) for x in xs]


def per_genre_bars(
    per_genre: Mapping[str, Mapping[str, float]],
    path: Path,
    *,
    metric: str = "map_at_r",
    baselines: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None,
) -> Path:
    """Grouped bars of ``metric`` per genre: the trained model and each baseline.

    ``per_genre``: genre -> metrics of the trained model; ``baselines``:
    name -> genre -> metrics (optional).
    """
    plt = _pyplot()
    genres = sorted(per_genre)
    systems = [("trained", per_genre)] + sorted((baselines or {}).items())
    width = 0.8 / max(len(systems), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(genres) * max(len(systems), 2) / 2), 4))
    x = np.arange(len(genres))
    for i, (name, table) in enumerate(systems):
        vals = [float(table.get(g, {}).get(metric, np.nan)) for g in genres]
        ax.bar(x + (i - (len(systems) - 1) / 2) * width, vals, width, label=name)
    ax.set_xticks(x, genres, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    ax.set_ylim(0, 1)
    ax.set_title(f"{METRIC_LABELS.get(metric, metric)} per genre (held-out queries)", fontsize=10)
    ax.legend(fontsize=7, ncol=min(len(systems), 3))
    return _save(fig, path)


def baseline_bars(
    overall: Mapping[str, Mapping[str, float]],
    path: Path,
) -> Path:
    """Grouped bars: every metric for each system (trained model and baselines)."""
    plt = _pyplot()
    metrics = [m for m in METRIC_LABELS if any(m in v for v in overall.values())]
    systems = list(overall)
    width = 0.8 / max(len(systems), 1)
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    x = np.arange(len(metrics))
    for i, name in enumerate(systems):
        vals = [float(overall[name].get(m, np.nan)) for m in metrics]
        ax.bar(x + (i - (len(systems) - 1) / 2) * width, vals, width, label=name)
    ax.set_xticks(x, [METRIC_LABELS[m] for m in metrics])
    ax.set_ylim(0, 1)
    ax.set_title("Retrieval quality on held-out titles", fontsize=10)
    ax.legend(fontsize=7, ncol=min(len(systems), 3))
    return _save(fig, path)
