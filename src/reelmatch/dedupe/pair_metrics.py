"""Pair-level copy-detection metrics (pure functions).

- :func:`micro_ap`: VSC22's micro-average precision: every predicted pair of the
  whole collection ranked by score once, AP against all true pairs (pairs never
  predicted count as missed).
- :func:`group_pair_counts`: pair precision/recall of *groups*: two items are
  predicted copies when they end in one group, true copies when they share a root.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def micro_ap(scores: np.ndarray, labels: np.ndarray, n_true: int | None = None) -> float:
    """µAP of predicted pairs: ``scores`` float [P], ``labels`` bool [P] (true copy),
    ``n_true``: number of true pairs in the collection (default ``labels.sum()``).

    Ties are ranked pessimistically (false pairs first). Reference: VSC22
    descriptor track, "micro-average precision over all queries".
    """
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels, bool)
    if scores.shape != labels.shape:
        raise ValueError(f"scores {scores.shape} and labels {labels.shape} differ")
    n_true = int(labels.sum()) if n_true is None else int(n_true)
    if n_true == 0:
        return 0.0
    order = np.lexsort((labels, -scores))
    rel = labels[order]
    hits = np.cumsum(rel)
    prec = hits[rel] / (np.flatnonzero(rel) + 1)
    return float(prec.sum() / n_true)


def groups_from_pairs(items: Sequence[str], pairs: Iterable[tuple[str, str, float]], threshold: float) -> dict[str, int]:
    """Item -> group number (connected components of pairs scoring >= ``threshold``)."""
    from reelmatch.dedupe.groups import connected_groups

    gid = {x: n for n, x in enumerate(items)}
    for k, (_s, members) in enumerate(connected_groups(pairs, threshold)):
        for m in members:
            gid[m] = len(items) + k
    return gid


def group_pair_counts(a: Sequence[str], b: Sequence[str], group: dict[str, int], root: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """For pairs ``(a[i], b[i])``: ``(predicted bool [P], true bool [P])`` from groups and roots."""
    pred = np.array([group[x] == group[y] for x, y in zip(a, b)], bool)
    true = np.array([root[x] == root[y] for x, y in zip(a, b)], bool)
    return pred, true


def precision_recall(pred: np.ndarray, true: np.ndarray) -> dict:
    tp = int((pred & true).sum())
    fp = int((pred & ~true).sum())
    fn = int((~pred & true).sum())
    return {
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
        "tp": tp, "fp": fp, "fn": fn,
    }  # fmt: skip
