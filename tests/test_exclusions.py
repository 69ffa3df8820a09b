"""Brand-safety exclusions: applied inside the search, checked against exact search (no media needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from reelmatch.errors import InputError

N = 10_000  # 0.1 % of it: 10 items left


def _exact(emb, q, allowed: set, k: int, exclude=()) -> list[str]:
    """The slow obvious reference: every allowed vector scored, sorted."""
    rows = [r for r, i in enumerate(emb.ids) if i in allowed and i not in exclude]
    sims = emb.vectors[rows] @ q
    order = np.argsort(-sims, kind="stable")[:k]
    return [emb.ids[rows[j]] for j in order]


@pytest.fixture(scope="module")
def big_ws(tmp_path_factory):
    from reelmatch.embed.vectors import load_embeddings
    from reelmatch.index import IndexConfig, run_index
    from reelmatch.index.synthetic import synthetic_catalogue
    from reelmatch.workspace import Workspace

    ws = Workspace.init(tmp_path_factory.mktemp("excl") / "ws")
    ids = synthetic_catalogue(ws, N, d=64, ads=0.0, seed=3)
    rng = np.random.default_rng(0)
    keep = set(rng.choice(ids, N // 1000, replace=False).tolist())
    with ws.catalog.transaction() as c:  # 99.9 % flagged 'violence'; a few also 'alcohol'
        c.executemany("UPDATE items SET flags=? WHERE id=?",
                      [(json.dumps([] if i in keep else ["violence"] + (["alcohol"] if n % 7 == 0 else [])), i)
                       for n, i in enumerate(ids)])
    run_index(ws, IndexConfig(kind="hnsw", ef_search=16, hnsw_m=8, ef_construction=40), neighbours=20)
    yield ws, load_embeddings(ws), keep
    ws.close()


def test_exclusions_at_0_1_percent_selectivity_equal_exact_search(big_ws):
    from reelmatch.query import similar
    from reelmatch.query.filters import Exclusions

    ws, emb, keep = big_ws
    ex = Exclusions(exclude_flags=("Violence",))  # case-insensitive
    assert ws.catalog.filter_ids(exclude_flags=ex.exclude_flags) == sorted(keep)
    for qid in emb.ids[:40:4]:
        res = similar(ws, qid, k=10, exclusions=ex)
        q = emb.vectors[emb.row(qid)]
        assert res.ids == _exact(emb, q, keep, 10, exclude={qid}), qid
        assert all(ws.catalog.get(i).flags == () for i in res.ids)
        assert res.to_dict()["exclusions"]["exclude_flags"] == ["Violence"]
    # without exclusions the answer is another one (the filter did something)
    assert similar(ws, emb.ids[0], k=10).ids != similar(ws, emb.ids[0], k=10, exclusions=ex).ids


def test_the_faiss_selector_path_itself_matches_exact_search(big_ws):
    """With the small-subset shortcut off, the HNSW search with an IDSelectorBitmap answers alone."""
    from reelmatch.query.search import searcher_for

    ws, emb, keep = big_ws
    index = searcher_for(ws).index
    assert index.structure == "hnsw"
    old = index.exact_subset_max
    index.exact_subset_max = 0
    try:
        hits = 0
        for qid in emb.ids[:20]:
            q = emb.vectors[emb.row(qid)]
            ids, _ = index.search(q[None, :], 10, allow=keep)
            hits += list(ids[0]) == _exact(emb, q, keep, 10)
        assert hits == 20
    finally:
        index.exact_subset_max = old


def test_profile_file_and_required_genres(big_ws, tmp_path):
    from reelmatch.query import match_ad, similar
    from reelmatch.query.filters import Exclusions

    ws, emb, keep = big_ws
    prof = tmp_path / "kids.json"
    prof.write_text(json.dumps({"name": "kids", "exclude_genres": ["horror"], "require_genres": ["Animation"],
                                "exclude_flags": ["alcohol"]}))
    ex = Exclusions.from_profile(prof)
    allowed = {i for i in ws.catalog.filter_ids(exclude_genres=["horror"], require_genres=["animation"],
                                               exclude_flags=["alcohol"])}
    assert allowed and len(allowed) < N // 5
    res = match_ad(ws, emb.ids[1], k=15, exclusions=ex)
    assert res.ids == _exact(emb, emb.vectors[1], allowed, 15, exclude={emb.ids[1]})
    for i in res.ids:
        it = ws.catalog.get(i)
        assert "Animation" in it.genres and "alcohol" not in it.flags
    # table path (k within the table) and index path agree
    a = similar(ws, emb.ids[2], k=5, exclusions=ex)
    b = similar(ws, emb.ids[2], k=5, exclusions=ex, table=False)
    assert a.ids == b.ids


@pytest.mark.parametrize("doc, where", [
    ({"exclude_genre": ["Horror"]}, "unknown field 'exclude_genre'"),
    ({"exclude_flags": "violence|x", "exclude_kinds": ["movie"]}, "exclude_kinds: 'movie'"),
    ({"require_genres": [1]}, "require_genres: must be a list of strings"),
    ([1, 2], "a profile is a JSON object"),
])
def test_bad_profiles_name_the_file_and_field(tmp_path, doc, where):
    from reelmatch.query.filters import Exclusions

    p = tmp_path / "p.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=where) as e:
        Exclusions.from_profile(p)
    assert str(p) in str(e.value)
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(InputError, match="not valid JSON"):
        Exclusions.from_profile(tmp_path / "bad.json")


def test_a_flag_changed_in_the_catalogue_applies_to_the_next_query(tmp_path):
    """The allowed ids are cached per filter until the catalogue changes (this connection or another)."""
    import sqlite3

    from reelmatch.index import run_index
    from reelmatch.index.synthetic import synthetic_catalogue
    from reelmatch.query import similar
    from reelmatch.query.filters import Exclusions
    from reelmatch.workspace import Workspace

    ws = Workspace.init(tmp_path / "ws")
    ids = synthetic_catalogue(ws, 300, d=32, ads=0.0)
    run_index(ws)
    ex = Exclusions(exclude_flags=("alcohol",))
    first = similar(ws, ids[0], k=5, exclusions=ex).ids
    ws.catalog.update_fields(first[0], flags=["alcohol"])  # this connection
    second = similar(ws, ids[0], k=5, exclusions=ex).ids
    assert first[0] not in second and second[:4] == first[1:]
    with sqlite3.connect(ws.catalog_path) as c:  # another connection (another process, a server's writer)
        c.execute("UPDATE items SET flags='[\"alcohol\"]' WHERE id=?", (second[0],))
    third = similar(ws, ids[0], k=5, exclusions=ex).ids
    assert second[0] not in third
    ws.close()
