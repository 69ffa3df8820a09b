"""retrieval_metrics against a slow, obvious reference."""

import math

import numpy as np
import pytest

from reelmatch.evaluate.metrics import retrieval_metrics


def reference(vectors, labels, k=10):
    v = np.asarray(vectors, dtype=np.float64)
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    per = {"map_at_r": [], "precision_at_1": [], "precision_at_10": [], "ndcg_at_10": []}
    for q in range(len(v)):
        gq = set(labels[q])
        if not gq:
            continue
        others = [j for j in range(len(v)) if j != q]
        others.sort(key=lambda j: (-float(v[q] @ v[j]), j))
        rel = [1 if gq & set(labels[j]) else 0 for j in others]
        gain = [len(gq & set(labels[j])) / len(gq | set(labels[j])) for j in others]
        per["precision_at_1"].append(rel[0])
        per["precision_at_10"].append(sum(rel[:k]) / k)
        dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gain[:k]))
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(gain, reverse=True)[:k]))
        per["ndcg_at_10"].append(dcg / idcg if idcg else 0.0)
        r = sum(rel)
        if r:
            hits, total = 0, 0.0
            for i in range(r):
                if rel[i]:
                    hits += 1
                    total += hits / (i + 1)
            per["map_at_r"].append(total / r)
    return {key: float(np.mean(val)) for key, val in per.items()}


def _labels(rng, n, genres="ABCDE"):
    out = []
    for _ in range(n):
        u = rng.random()
        if u < 0.1:
            out.append([])
        elif u < 0.4:
            out.append(list(rng.choice(list(genres), 2, replace=False)))
        else:
            out.append([str(rng.choice(list(genres)))])
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_reference(seed):
    rng = np.random.default_rng(seed)
    labels = _labels(rng, 60)
    vectors = rng.standard_normal((60, 8)).astype(np.float32)
    fast = retrieval_metrics(vectors, labels, k=10, chunk=7)
    ref = reference(vectors, labels, k=10)
    for key, val in ref.items():
        assert fast[key] == pytest.approx(val, abs=1e-9), key
    assert fast["queries"] == sum(1 for x in labels if x)


def test_perfect_and_per_query():
    labels = [["A"], ["A"], ["A"], ["B"], ["B"], ["B"], []]
    vectors = np.array([[1, 0]] * 3 + [[0, 1]] * 3 + [[1, 1]], dtype=np.float32)
    vectors[:, 0] += np.arange(7) * 1e-3  # no exact ties
    m = retrieval_metrics(vectors, labels, k=2, per_query=True)
    assert m["map_at_r"] == pytest.approx(1.0)
    assert m["precision_at_1"] == pytest.approx(1.0)
    assert m["ndcg_at_10"] == pytest.approx(1.0)
    assert np.isnan(m["per_query"]["map_at_r"][6])  # unlabelled: not a query
    assert m["queries"] == 6


def test_item_is_never_its_own_result():
    # identical vectors: the query's own copy would be first if it were not excluded
    labels = [["A"], ["B"], ["A"]]
    vectors = np.array([[1, 0], [1, 0.01], [0, 1]], dtype=np.float32)
    m = retrieval_metrics(vectors, labels, k=1, per_query=True)
    assert m["per_query"]["precision_at_1"][0] == 0.0  # nearest other is B


def test_shape_error_names_shape():
    with pytest.raises(ValueError, match=r"\(3, 2\)"):
        retrieval_metrics(np.zeros((3, 2)), [["A"]] * 4)
