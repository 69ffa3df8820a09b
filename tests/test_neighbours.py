"""The precomputed neighbour table: rows against brute force, incremental refresh
against a full rebuild, and ``similar`` from the table against ``similar`` from the index."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("faiss")

from reelmatch.index import IndexConfig, build_index, run_index  # noqa: E402
from reelmatch.index.neighbours import (  # noqa: E402
    build_table,
    load_table,
    neighbours_path,
    refresh_table,
    save_table,
)
from reelmatch.index.synthetic import ClusteredDataset, synthetic_catalogue  # noqa: E402


def brute_force(vectors: np.ndarray, ids: list[str], k: int) -> list[list[str]]:
    """The slow obvious reference: every pair's inner product, self dropped."""
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return [[ids[j] for j in row] for row in order]


def test_rows_are_the_exact_top_k_without_self(tmp_path):
    ds = ClusteredDataset(300, nq=1, d=32, seed=1)
    index = build_index(ds.base, ds.ids, IndexConfig(kind="flat"))
    table = build_table(index, k=7)
    assert len(table) == 300 and table.k == 7
    ref = brute_force(ds.base, ds.ids, 7)
    for n, item in enumerate(ds.ids):
        got, scores = table.row(item)
        assert got == ref[n], item
        assert item not in got and scores == sorted(scores, reverse=True)
        np.testing.assert_allclose(scores, [ds.base[n] @ ds.base[int(j[1:])] for j in got], atol=1e-5)
    save_table(table, tmp_path / "t.neighbours.npz")
    again = load_table(tmp_path / "t.neighbours.npz", vectors_fingerprint=None)
    # memory-mapped (shared by processes through the page cache), read-only
    assert isinstance(again.neighbours.base, np.memmap) and not again.neighbours.flags.writeable
    assert again.row(ds.ids[5]) == table.row(ds.ids[5])
    # a part of a row (what an unfiltered similar reads first) is that part of the whole row
    whole_ids, whole_scores = table.row(ds.ids[5])
    for start, stop in ((0, 3), (3, None), (0, 99), (6, 99), (7, None), (9, None)):
        assert table.row(ds.ids[5], start, stop) == (whole_ids[start:stop], whole_scores[start:stop])


def test_small_catalogue_rows_are_not_full():
    ds = ClusteredDataset(5, nq=1, d=16, seed=2)
    table = build_table(build_index(ds.base, ds.ids), k=50)
    ids, scores = table.row(ds.ids[0])
    assert len(ids) == 4 and len(scores) == 4 and not table.full(ds.ids[0])


def test_incremental_refresh_equals_a_full_rebuild():
    ds = ClusteredDataset(400, nq=1, d=32, seed=3)
    index = build_index(ds.base[:350], ds.ids[:350], IndexConfig(kind="flat"))
    old = build_table(index, k=10)
    removed = set(ds.ids[:20])
    index.remove(removed)
    replaced = ds.ids[100:105]
    rng = np.random.default_rng(0)
    moved = ds.base[rng.integers(0, 350, 5)]  # replaced items move next to other items
    index.add(moved, replaced)
    index.add(ds.base[350:], ds.ids[350:])
    new, searched = refresh_table(old, index, 10, changed=set(replaced) | set(ds.ids[350:]), removed=removed)
    full = build_table(index, k=10)
    assert searched < len(index)  # only the rows that can have changed
    assert list(new.ids) == list(full.ids)
    for item in full.ids:
        (a, sa), (b, sb) = new.row(item), full.row(item)
        # the index's kernels differ in the last bits (similar rescores its results: see the last test)
        assert a == b, item
        np.testing.assert_allclose(sa, sb, atol=1e-6)


def test_run_index_writes_and_refreshes_the_table(ws):
    ids = synthetic_catalogue(ws, 120, d=32)
    rep = run_index(ws, neighbours=8)
    path = neighbours_path(rep.path)
    table = load_table(path)
    assert len(table) == 120 and table.k == 8 and rep.table_rows == 120
    # another K recomputes the table only
    rep = run_index(ws, neighbours=5)
    assert rep.rebuilt is False and rep.added == 0 and load_table(path).k == 5
    # an embedding removed: the index is updated and the table refreshed, not rebuilt
    from reelmatch.embed.config import EmbedConfig
    from reelmatch.embed.vectors import embeddings_path, load_embeddings, save_embeddings

    emb = load_embeddings(ws)
    save_embeddings(emb.subset(ids[1:]), embeddings_path(ws), EmbedConfig(use_model=False))
    rep = run_index(ws, neighbours=5)
    assert rep.removed == 1 and 0 < rep.table_rows < 119
    table = load_table(path)
    assert ids[0] not in table and all(ids[0] not in table.row(i)[0] for i in ids[1:])
    assert run_index(ws).table_rows == 0 and load_table(path).k == 5  # the table's K is kept
    assert run_index(ws, neighbours=0).table_rows == 0 and not path.exists()


def test_similar_from_the_table_is_similar_from_the_index(ws):
    """Every item, with and without filters, k below, at and above the table's K."""
    ids = synthetic_catalogue(ws, 200, d=32, seed=4)
    run_index(ws, neighbours=12)
    from reelmatch.query import searcher_for

    assert searcher_for(ws).table is not None
    ws.catalog.delete(ids[3])  # deleted since indexing: skipped by both paths
    filters = [{}, {"kind": "ad"}, {"kind": "trailer"}, {"genre": "drama"}, {"genre": "Horror", "kind": "trailer"},
               {"exclude_ids": ids[10:40:3]}, {"genre": "Nope"}]
    checked = 0
    for item in ids[4:200:7]:
        for k in (1, 5, 12, 20):
            for f in filters:
                fast = ws.similar(item, k=k, **f).to_dict()
                slow = ws.similar(item, k=k, table=False, **f).to_dict()
                assert fast == slow, (item, k, f)
                checked += len(fast["results"])
    assert checked > 1000
