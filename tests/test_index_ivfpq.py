"""The compressed IVF-PQ index: recall against exact search, memory, filters, add/remove, save/load."""

from __future__ import annotations

import numpy as np
import pytest

from reelmatch.errors import InputError
from reelmatch.index import IndexConfig, build_index, load_index, save_index
from reelmatch.index.ivfpq import auto_nlist, code_bytes, factory_string
from reelmatch.index.synthetic import ClusteredDataset, recall_at_k


@pytest.fixture(scope="module")
def data():
    return ClusteredDataset(5000, nq=200, d=32, seed=3)


def _labels(ids):
    return np.vectorize(lambda s: int(s[1:]) if s else -1, otypes=[np.int64])(ids)


def test_ivfpq_recall_memory_filters_and_roundtrip(data, tmp_path):
    faiss = pytest.importorskip("faiss")
    truth = data.ground_truth(10)
    plain = build_index(data.base, data.ids, IndexConfig(kind="ivfpq", pq_m=8, nprobe=64))
    refined = build_index(data.base, data.ids, IndexConfig(kind="ivfpq", pq_m=8, nprobe=64, refine="sq8"))
    assert plain.structure == "ivfpq" and len(plain) == data.nb
    r_plain = recall_at_k(_labels(plain.search(data.queries, 10)[0]), truth)
    r_refined = recall_at_k(_labels(refined.search(data.queries, 10)[0]), truth)
    # PQ codes alone lose some neighbours; re-ranking with 8-bit codes buys them back
    assert r_plain > 0.4, r_plain
    assert r_refined > 0.85 and r_refined > r_plain, (r_plain, r_refined)
    # more lists visited never hurts
    assert recall_at_k(_labels(refined.search(data.queries, 10, nprobe=128)[0]), truth) >= r_refined
    # memory: the stored codes are a fraction of the float32 vectors
    flat_bytes = data.base.nbytes
    stored = plain._payload()["index"].nbytes  # codes, list ids, label map, centroids, codebooks
    assert stored < flat_bytes / 2, (stored, flat_bytes)
    assert code_bytes(plain.config, 32) == 8 + 8
    # scores are approximate inner products of unit vectors
    _, scores = refined.search(data.queries[:5], 3)
    exact = np.sort(data.queries[:5] @ data.base.T, axis=1)[:, ::-1][:, :3]
    assert np.abs(scores - exact).max() < 0.05
    # filters, remove and add behave as with the other structures
    q = data.queries[:20]
    ids, _ = refined.search(q, 10)
    drop = list({i for row in ids[:, :3] for i in row})
    refined.remove(drop)
    ids2, _ = refined.search(q, 10)
    assert not set(drop) & set(ids2.ravel())
    allow = data.ids[:500]
    ids3, _ = refined.search(q, 5, allow=allow)
    assert set(ids3.ravel()) <= set(allow)
    refined.add(data.base[:2], ["v0", "new"])  # replace one, add one; no retraining
    assert "new" in refined and refined.search(data.base[:1], 1)[0][0, 0] in ("v0", "new")
    # save/load round trip answers the same
    save_index(refined, tmp_path / "r.npz")
    back = load_index(tmp_path / "r.npz")
    assert back.structure == "ivfpq" and len(back) == len(refined)
    a, b = refined.search(q, 10), back.search(q, 10)
    assert (a[0] == b[0]).all() and np.allclose(a[1], b[1])
    faiss.omp_set_num_threads(1)


def test_ivfpq_sizes_and_errors():
    assert auto_nlist(1_000_000) == 1024 and auto_nlist(10_000_000) == 4096
    assert auto_nlist(1000) <= 1000 // 39
    assert factory_string(256, 1_000_000, IndexConfig(kind="ivfpq", refine="sq8")) == "IVF1024,PQ32x8np,Refine(SQ8)"
    with pytest.raises(InputError, match="divide"):
        build_index(np.eye(300, 10, dtype=np.float32), [str(i) for i in range(300)], IndexConfig(kind="ivfpq", pq_m=3))
    with pytest.raises(InputError, match="at least 256"):
        build_index(np.eye(100, 16, dtype=np.float32), [str(i) for i in range(100)], IndexConfig(kind="ivfpq", pq_m=4))
    with pytest.raises(InputError, match="refine"):
        IndexConfig(kind="ivfpq", refine="bogus")
