"""Explanations: the batched and precomputed frame pairs against the slow obvious reference."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def ews(tmp_path_factory):
    """A synthetic catalogue with a frame table of random frames (some padded) beside its index."""
    from reelmatch.embed.vectors import load_embeddings
    from reelmatch.index import index_path, run_index
    from reelmatch.index.neighbours import load_table, neighbours_path
    from reelmatch.index.synthetic import synthetic_catalogue
    from reelmatch.query.explain import FORMAT_VERSION, FrameTable, frames_path, precompute_pairs, save_frame_table
    from reelmatch.workspace import Workspace

    ws = Workspace.init(tmp_path_factory.mktemp("explain") / "ws")
    synthetic_catalogue(ws, 400, d=32, ads=0.0)
    emb = load_embeddings(ws)
    from reelmatch.embed.vectors import embeddings_path, save_embeddings
    from reelmatch.embed.config import EmbedConfig

    emb.has_audio[::5] = False  # some items without audio: their audio similarity is None
    emb.audio[::5] = 0.0
    save_embeddings(emb, embeddings_path(ws), EmbedConfig(use_model=False))
    run_index(ws, neighbours=12)
    emb = load_embeddings(ws)
    rng = np.random.default_rng(0)
    n, k, d = len(emb.ids), 6, 16
    f = rng.standard_normal((n, k, d)).astype(np.float32)
    f /= np.linalg.norm(f, axis=2, keepdims=True)
    mask = np.ones((n, k), bool)
    mask[::7, 4:] = False  # shorter clips: padded frames never pair
    mask[5] = False  # an item with no real frame: no pair at all
    times = np.where(mask, np.arange(k, dtype=np.float32)[None, :] * 2 + 1, np.nan).astype(np.float32)
    table = FrameTable(emb.ids, f.astype(np.float16), mask, times,
                       {"format_version": FORMAT_VERSION, "vectors_fingerprint": emb.vectors_fingerprint,
                        "features": "random", "dim": d, "projection_seed": 0})
    table.pairs = precompute_pairs(table, load_table(neighbours_path(index_path(ws))), emb)
    save_frame_table(table, frames_path(index_path(ws)))
    yield ws, emb, table
    ws.close()


def _reference(table, a: str, b: str):
    """Every (query frame, result frame) pair of real frames scored; the best one (first on ties)."""
    qa, ma, ta = table.row(a)
    qb, mb, tb = table.row(b)
    best = None
    for j in range(len(mb)):
        for i in range(len(ma)):
            if ma[i] and mb[j]:
                s = float(np.dot(qb[j].astype(np.float32), qa[i].astype(np.float32)))
                if best is None or s > best[2] + 1e-6:
                    best = (i, j, s)
    return best


def test_frame_pairs_equal_the_reference_from_the_table_and_the_index(ews):
    from reelmatch.query import similar

    ws, emb, table = ews
    for qid in emb.ids[:60:3]:
        # precomputed lookups (k within the table's row), and k=20 beyond the table's 12: pairs computed on the fly
        for use_table, k in ((True, 8), (False, 8), (True, 20)):
            res = similar(ws, qid, k=k, explain=True, table=use_table)
            for n in res.results:
                want = _reference(table, qid, n.id)
                got = n.explain["frames"]
                if want is None:
                    assert got is None
                    continue
                assert (got["query_frame"], got["result_frame"]) == want[:2], (qid, n.id, use_table)
                assert got["similarity"] == pytest.approx(want[2], abs=1e-5)
                assert got["query_time"] == 2 * want[0] + 1 and got["result_time"] == 2 * want[1] + 1
                sim = n.explain["similarity"]
                r = emb.row(n.id)
                assert sim["visual"] == pytest.approx(float(emb.visual[r] @ emb.visual[emb.row(qid)]), abs=1e-5)
                assert sim["fused"] == round(n.score, 6)
                assert (sim["audio"] is None) == (not (emb.has_audio[r] and emb.has_audio[emb.row(qid)]))
                if sim["audio"] is not None:
                    assert sim["audio"] == pytest.approx(float(emb.audio[r] @ emb.audio[emb.row(qid)]), abs=1e-5)
                assert sim["text"] == n.scores["text"]  # this catalogue has no plots: None; one number for both


def test_precomputed_pairs_cover_the_neighbour_table(ews):
    ws, emb, table = ews
    assert table.pairs["nb"].shape == (len(emb.ids), 12)
    assert (table.pairs["nb"] >= 0).all()
    assert np.isneginf(table.pairs["s"][5]).all()  # no real frame, no pair


def test_explanations_are_the_same_for_any_slots_given(ews):
    """Positions in the query's neighbour-table row that do not hold the result (a table rebuilt since
    the pairs were precomputed) are not trusted: the pair is found or computed instead."""
    from reelmatch.query import similar
    from reelmatch.query.explain import explain_many
    from reelmatch.query.search import modality_sims, resolve_target, searcher_for

    ws, emb, table = ews
    s = searcher_for(ws)
    for qid in emb.ids[:40:4]:
        res = similar(ws, qid, k=8, explain=True)
        target = resolve_target(ws, s, qid)
        items = [ws.catalog.get(n.id) for n in res.results]
        rows = [emb.row(it.id) for it in items]
        scores = [n.score for n in res.results]
        want = [n.explain for n in res.results]
        for slots in (None, [0] * len(items), [None] * len(items), list(range(len(items)))[::-1]):
            got = explain_many(target, items, emb, rows, s.frames, scores=scores,
                               sims=modality_sims(target, emb, rows), slots=slots)
            assert got == want, (qid, slots)


def test_every_number_is_rounded_as_documented(ews):
    """6 decimals for similarities, ms for times, on the looked-up and the computed path alike."""
    from reelmatch.query import similar

    ws, emb, _ = ews
    for qid in emb.ids[:30:3]:
        for use_table, k in ((True, 8), (False, 8), (True, 20)):
            for n in similar(ws, qid, k=k, explain=True, table=use_table).results:
                sim = n.explain["similarity"]
                for key in ("fused", "visual", "audio"):
                    if sim[key] is not None:
                        assert sim[key] == round(sim[key], 6), (key, sim[key])
                f = n.explain["frames"]
                if f is not None:
                    assert f["similarity"] == round(f["similarity"], 6)
                    assert f["query_time"] == round(f["query_time"], 3)
                    assert f["result_time"] == round(f["result_time"], 3)


def test_results_of_an_index_search_are_looked_up_in_the_precomputed_pairs(ews, monkeypatch):
    """``table=False`` (and filtered queries) return results without their row positions: those in the
    query's neighbour-table row are still looked up, not recomputed."""
    from reelmatch.query import similar
    from reelmatch.query.explain import FrameTable

    ws, emb, _ = ews
    computed = []
    real = FrameTable.feats32
    monkeypatch.setattr(FrameTable, "feats32", lambda self, rows: computed.append(len(rows)) or real(self, rows))
    for qid in emb.ids[:30:3]:
        similar(ws, qid, k=8, explain=True, table=False)
    assert computed == []
