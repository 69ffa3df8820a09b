"""Retrieval metrics with genre-overlap relevance (pure numpy).

Every labelled item is a query; its results are all *other* items (labelled or
not) ranked by cosine similarity. Unlabelled items are gallery only.

Relevance for a query q and a result r with genre sets G_q, G_r:

- relevant (binary, MAP@R and precision@k): ``|G_q & G_r| >= 1``;
- graded gain (nDCG@k): Jaccard overlap ``|G_q & G_r| / |G_q | G_r|``
  (1 for the same genres, 0.5 for Drama vs Drama|Romance).

- MAP@R (Musgrave et al., "A Metric Learning Reality Check"): with R the number
  of relevant items for q, ``mean over the first R ranks of P@i * rel_i``,
  divided by R. A query without any relevant item is skipped.
- precision@k: relevant fraction of the first k results (k = 1 and ``k``).
- nDCG@k: DCG of the first k gains (``gain / log2(rank + 1)``) over the ideal DCG.

Ties in similarity are broken by index (stable sort), so results are deterministic.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

METRIC_KEYS = ("map_at_r", "precision_at_1", "precision_at_10", "ndcg_at_10")


def _label_matrix(labels: Sequence[Iterable[str]]) -> np.ndarray:
    """bool [N, G] one-hot genres."""
    sets = [set(x) for x in labels]
    vocab = sorted(set().union(*sets)) if sets else []
    index = {g: i for i, g in enumerate(vocab)}
    m = np.zeros((len(sets), len(vocab)), dtype=bool)
    for i, s in enumerate(sets):
        for g in s:
            m[i, index[g]] = True
    return m


def overlap_matrices(labels: Sequence[Iterable[str]]) -> tuple[np.ndarray, np.ndarray]:
    """(shared int32 [N, N] = |G_i & G_j|, jaccard float64 [N, N]) of a list of genre sets."""
    m = _label_matrix(labels).astype(np.int32)
    shared = m @ m.T
    sizes = m.sum(axis=1)
    union = sizes[:, None] + sizes[None, :] - shared
    jac = np.divide(shared, union, out=np.zeros(shared.shape, dtype=np.float64), where=union > 0)
    return shared, jac


def retrieval_metrics(
    vectors: np.ndarray,
    labels: Sequence[Iterable[str]],
    k: int = 10,
    *,
    per_query: bool = False,
    chunk: int = 1024,
) -> dict:
    """Mean retrieval metrics over the labelled items.

    vectors: float32 [N, E] (cosine similarity: rows are L2-normalised here);
    labels: N genre collections (empty = unlabelled: not a query, still a result).
    Returns ``{"map_at_r", "precision_at_1", "precision_at_10", "ndcg_at_10", "queries"}``
    (the ``_10`` keys use ``k``); with ``per_query=True`` also ``"per_query"``:
    ``{key: float64 [N]}`` with NaN for items that are not queries.
    """
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] != len(labels):
        raise ValueError(f"vectors must be [N, E] with N = {len(labels)} labels, got {x.shape}")
    n = x.shape[0]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = np.where(norms > 0, x / np.maximum(norms, 1e-12), 0.0).astype(np.float32)
    shared, jac = overlap_matrices(labels)
    rel = shared > 0
    labelled = np.array([len(set(lab)) > 0 for lab in labels], dtype=bool)
    out = {key: np.full(n, np.nan) for key in METRIC_KEYS}
    kk = max(1, min(k, n - 1)) if n > 1 else 1
    discounts = 1.0 / np.log2(np.arange(2, n + 2))
    for start in range(0, n, chunk):
        q = np.arange(start, min(n, start + chunk))
        q = q[labelled[q]]
        if len(q) == 0:
            continue
        sims = x[q] @ x.T
        sims[np.arange(len(q)), q] = -np.inf  # never its own result
        order = np.argsort(-sims, axis=1, kind="stable")[:, : n - 1]  # the query itself sorts last
        for row, qi in enumerate(q):
            ranked = order[row]
            r_rel = rel[qi, ranked]
            n_rel = int(r_rel.sum())
            top = r_rel[:kk]
            out["precision_at_1"][qi] = float(r_rel[:1].mean()) if n > 1 else 0.0
            out["precision_at_10"][qi] = float(top.sum()) / kk
            gains = jac[qi, ranked]
            ideal = np.sort(gains)[::-1][:kk]
            idcg = float((ideal * discounts[: len(ideal)]).sum())
            dcg = float((gains[:kk] * discounts[:kk]).sum())
            out["ndcg_at_10"][qi] = dcg / idcg if idcg > 0 else 0.0
            if n_rel == 0:
                continue  # MAP@R undefined without relevant items
            first = r_rel[:n_rel]
            prec = np.cumsum(first) / np.arange(1, n_rel + 1)
            out["map_at_r"][qi] = float((prec * first).sum()) / n_rel
    result: dict = {key: (float(np.nanmean(v)) if np.isfinite(v).any() else 0.0) for key, v in out.items()}
    result["queries"] = int(labelled.sum())
    if per_query:
        result["per_query"] = out
    return result


def cross_modal_recall(queries: np.ndarray, gallery: np.ndarray, ks: Sequence[int] = (1, 10)) -> dict:
    """Recall@k of finding each item's own other view: row i of ``queries`` against all rows of ``gallery``.

    queries, gallery: float32 [N, E], row i of both is the same item (e.g. its audio and its
    frames embedding; cosine similarity). Returns ``{"recall_at_<k>": fraction of items whose
    own gallery row ranks in the first k, "chance_at_<k>": min(k, N) / N, "mrr": mean
    reciprocal rank of the own row, "items": N}``.
    Ties count against the item (its row must beat every other row that ranks with it).
    """
    q = np.asarray(queries, dtype=np.float32)
    g = np.asarray(gallery, dtype=np.float32)
    if q.ndim != 2 or q.shape != g.shape:
        raise ValueError(f"queries and gallery must be matching [N, E] arrays, got {q.shape} and {g.shape}")
    n = len(q)
    out: dict = {"items": n}
    if n == 0:
        return {**out, **{f"recall_at_{k}": 0.0 for k in ks}, **{f"chance_at_{k}": 0.0 for k in ks}, "mrr": 0.0}
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    g = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
    sims = q @ g.T
    own = np.diag(sims)
    rank = (sims >= own[:, None]).sum(axis=1)  # 1 = its own row first; ties rank it lower
    for k in ks:
        out[f"recall_at_{k}"] = float((rank <= k).mean())
        out[f"chance_at_{k}"] = min(k, n) / n
    out["mrr"] = float((1.0 / rank).mean())
    return out
