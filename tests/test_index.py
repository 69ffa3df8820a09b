"""The ANN index: checked against exact search; add/remove, filters, save/load, staleness."""

from __future__ import annotations

import json

import numpy as np
import pytest

from reelmatch.errors import InputError, NotFoundError, StaleArtifactError
from reelmatch.index import IndexConfig, build_index, load_index, save_index
from reelmatch.index.backends import backend_class, list_backends
from reelmatch.index.synthetic import ClusteredDataset, recall_at_k


@pytest.fixture(scope="module")
def ds():
    return ClusteredDataset(3000, nq=100, d=32, clusters=30, latent=8, seed=1)


def labels_of(ids: np.ndarray) -> np.ndarray:
    return np.vectorize(lambda s: -1 if s is None else int(s[1:]), otypes=[np.int64])(ids)


CONFIGS = {
    "flat": IndexConfig(kind="flat"),
    "hnsw": IndexConfig(kind="hnsw", hnsw_m=16, ef_construction=80, ef_search=64),
    "annoy": IndexConfig(backend="annoy", annoy_trees=20),
}


@pytest.mark.parametrize("backend", list_backends())
def test_every_backend_searches_saves_and_loads(ds, tmp_path, backend):
    """Every registered backend, against exact search, through a save/load round trip."""
    cls = backend_class(backend)
    index = build_index(ds.base, ds.ids, IndexConfig(backend=backend, annoy_trees=20))
    assert type(index) is cls and index.backend == backend
    ids, scores = index.search(ds.queries, 10)
    assert ids.shape == scores.shape == (100, 10) and (np.diff(scores, axis=1) <= 1e-6).all()
    assert recall_at_k(labels_of(ids), ds.ground_truth(10)) >= 0.8
    save_index(index, tmp_path / "i.npz")
    again = load_index(tmp_path / "i.npz")
    assert type(again) is cls and (again.search(ds.queries, 10)[0] == ids).all()


def test_unknown_backend_lists_the_known_ones():
    names = list_backends()
    assert names[0] == IndexConfig().backend and {"faiss", "annoy"} <= set(names)
    for bad in (lambda: IndexConfig(backend="hnswlib"), lambda: backend_class("hnswlib")):
        with pytest.raises(InputError) as e:
            bad()
        assert "hnswlib" in str(e.value) and all(n in str(e.value) for n in names)


def test_flat_equals_numpy_brute_force(ds):
    index = build_index(ds.base, ds.ids, CONFIGS["flat"])
    ids, scores = index.search(ds.queries, 10)
    assert ids.shape == scores.shape == (100, 10) and scores.dtype == np.float32
    truth = ds.ground_truth(10)
    assert recall_at_k(labels_of(ids), truth) == 1.0
    ref = np.take_along_axis(ds.queries @ ds.base.T, truth, axis=1)
    np.testing.assert_allclose(scores, ref, rtol=1e-5, atol=1e-5)
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first


@pytest.mark.parametrize("name,min_recall", [("hnsw", 0.95), ("annoy", 0.8)])
def test_approximate_recall_against_exact(ds, name, min_recall):
    index = build_index(ds.base, ds.ids, CONFIGS[name])
    ids, scores = index.search(ds.queries, 10)
    assert recall_at_k(labels_of(ids), ds.ground_truth(10)) >= min_recall
    # scores are cosine similarities for every backend
    q0 = ds.queries[0] @ ds.base[labels_of(ids)[0, 0]]
    assert abs(scores[0, 0] - q0) < 1e-4


def test_auto_structure_follows_threshold(ds):
    cfg = IndexConfig(exact_below=1000, hnsw_m=16)
    assert build_index(ds.base[:999], ds.ids[:999], cfg).structure == "flat"
    assert build_index(ds.base, ds.ids, cfg).structure == "hnsw"
    grown = build_index(ds.base[:999], ds.ids[:999], cfg)
    grown.add(ds.base[999:1100], ds.ids[999:1100])
    assert grown.structure == "hnsw" and len(grown) == 1100


@pytest.mark.parametrize("name", ["flat", "hnsw", "annoy"])
def test_add_remove_without_rebuild(ds, name):
    n = 2000
    index = build_index(ds.base[:n], ds.ids[:n], CONFIGS[name])
    structure = getattr(index, "_faiss", None)
    q = ds.base[:5]  # each query is an indexed vector: it finds itself first
    ids, _ = index.search(q, 3)
    assert list(ids[:, 0]) == ds.ids[:5]

    assert index.remove(["v0", "v1", "nope"]) == 2
    ids, _ = index.search(q, 10)
    assert "v0" not in ids and "v1" not in ids and None not in ids
    assert list(ids[2:, 0]) == ds.ids[2:5]
    assert len(index) == n - 2 and "v0" not in index

    index.add(ds.base[n : n + 10], ds.ids[n : n + 10])
    ids, _ = index.search(ds.base[n : n + 10], 1)
    assert list(ids[:, 0]) == ds.ids[n : n + 10]
    # replacing an id moves it to its new vector
    index.add(ds.base[3:4], ["v4"])
    ids, _ = index.search(ds.base[3:4], 2)
    assert set(ids[0]) == {"v3", "v4"}
    np.testing.assert_allclose(index.vector("v4"), ds.base[3], atol=1e-6)
    if name != "annoy":
        assert index._faiss is structure  # FAISS updated in place, no rebuild
        assert index.num_tombstones == 3


@pytest.mark.parametrize("name", ["flat", "hnsw", "annoy"])
@pytest.mark.parametrize("path", ["selector", "exact_subset"])
def test_filters_apply_before_truncation(ds, name, path):
    index = build_index(ds.base, ds.ids, CONFIGS[name])
    if path == "selector":
        index.exact_subset_max = 0  # force the in-structure filter (FAISS IDSelector, Annoy over-fetch)
    allow = [f"v{i}" for i in range(0, 3000, 3)]  # a third of the items
    ids, scores = index.search(ds.queries[:20], 10, allow=allow, exclude=["v0", "v3"])
    assert None not in ids  # k results although most neighbours were filtered out
    assert all(int(i[1:]) % 3 == 0 and i not in ("v0", "v3") for i in ids.ravel())
    # same answer as exact search restricted to the allowed vectors
    sub = np.array([i for i in range(0, 3000, 3) if i not in (0, 3)])
    exact = sub[np.argsort(-(ds.queries[:20] @ ds.base[sub].T), axis=1)[:, :10]]
    assert recall_at_k(labels_of(ids), exact) >= (0.99 if name == "flat" else 0.8)
    # a tiny allowed set is searched exactly and may return fewer than k
    ids, scores = index.search(ds.queries[:2], 5, allow=["v1", "v2", "zzz"])
    assert sorted(ids[0, :2]) == ["v1", "v2"] and ids[0, 2] is None and scores[0, 2] == -np.inf


@pytest.mark.parametrize("name", ["flat", "hnsw", "annoy"])
def test_save_load_roundtrip_and_sidecar(ds, tmp_path, name):
    index = build_index(ds.base, ds.ids, CONFIGS[name], vectors_fingerprint="vf1", model_fingerprint="mf1")
    index.remove(["v7"])
    path = tmp_path / f"{name}.npz"
    save_index(index, path)
    sidecar = json.loads((tmp_path / f"{name}.npz.json").read_text())
    assert sidecar["count"] == 2999 and sidecar["vectors_fingerprint"] == "vf1"
    assert sidecar["model_fingerprint"] == "mf1" and sidecar["backend"] == CONFIGS[name].backend
    again = load_index(path, vectors_fingerprint="vf1", model_fingerprint="mf1")
    assert again.structure == index.structure and len(again) == 2999 and "v7" not in again
    a, sa = index.search(ds.queries, 10)
    b, sb = again.search(ds.queries, 10)
    assert (a == b).all()
    np.testing.assert_allclose(sa, sb)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write left no temp file
    # the loaded index still takes updates
    again.add(ds.queries[:1], ["q0"])
    assert again.search(ds.queries[:1], 1)[0][0, 0] == "q0"


def test_compaction_on_save(ds, tmp_path):
    index = build_index(ds.base[:1000], ds.ids[:1000], IndexConfig(kind="flat", compact_above=0.1))
    index.remove(ds.ids[:200])
    save_index(index, tmp_path / "i.npz")
    again = load_index(tmp_path / "i.npz")
    assert again.num_tombstones == 0 and len(again) == 800
    assert again.search(ds.base[500:501], 1)[0][0, 0] == "v500"


def test_refuses_index_older_than_vectors(ds, tmp_path):
    index = build_index(ds.base[:100], ds.ids[:100], vectors_fingerprint="old", model_fingerprint="m")
    save_index(index, tmp_path / "i.npz")
    with pytest.raises(StaleArtifactError, match="older than the embeddings"):
        load_index(tmp_path / "i.npz", vectors_fingerprint="new")
    with pytest.raises(StaleArtifactError):
        load_index(tmp_path / "i.npz", vectors_fingerprint="old", model_fingerprint="other")
    with pytest.raises(NotFoundError):
        load_index(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not an index")
    with pytest.raises(InputError, match="not a reelmatch index"):
        load_index(tmp_path / "junk.npz")


def test_bad_arguments_are_input_errors(ds):
    index = build_index(ds.base[:100], ds.ids[:100])
    for k in (0, -1, 2.5, True):
        with pytest.raises(InputError, match="k must be a positive integer"):
            index.search(ds.queries[:1], k)
    with pytest.raises(InputError, match=r"must have 32 columns, got shape \(1, 16\)"):
        index.search(np.zeros((1, 16), np.float32), 3)
    with pytest.raises(InputError, match="NaN"):
        index.search(np.full((1, 32), np.nan, np.float32), 3)
    with pytest.raises(InputError, match="2 ids for 3 vectors"):
        index.add(ds.base[:3], ["a", "b"])
    with pytest.raises(InputError, match="appears twice"):
        index.add(ds.base[:2], ["a", "a"])
    with pytest.raises(InputError):
        IndexConfig(kind="ivf")
    # k larger than the index: every item, then padding
    ids, scores = index.search(ds.queries[:1], 150)
    assert sum(i is not None for i in ids[0]) == 100 and np.isinf(scores[0, 100:]).all()
