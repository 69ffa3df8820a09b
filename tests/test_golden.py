"""Golden files: every on-disk format is pinned, and a store written before a change still opens.

``tests/golden/manifest.json`` describes the artifacts of a tiny workspace built
by every stage (see tests/_golden.py); ``tests/golden/ws_v1`` is that workspace.
A change that alters a format must bump its ``FORMAT_VERSION`` and regenerate
the manifest (``PYTHONPATH=src python tests/_golden.py --write``); ``ws_v1`` and
its own description ``ws_v1.manifest.json`` stay, so old stores keep opening.
"""

from __future__ import annotations

import json
from dataclasses import replace
import shutil

import numpy as np
import pytest

import _golden


@pytest.fixture(scope="module")
def golden():
    return json.loads(_golden.MANIFEST.read_text())


@pytest.fixture
def old_ws(tmp_path):
    from reelmatch.workspace import Workspace

    shutil.copytree(_golden.STORE, tmp_path / "ws")
    ws = Workspace(tmp_path / "ws")
    yield ws
    ws.close()


def test_artifacts_match_the_golden_files(tmp_path, golden):
    ws = _golden.build_workspace(tmp_path)
    try:
        got = _golden.describe(ws)
    finally:
        ws.close()
    diffs = _golden.compare(got, golden)
    assert not diffs, f"{len(diffs)} difference(s) from tests/golden/manifest.json:\n" + "\n".join(diffs[:40])


def test_compare_sees_a_changed_format(golden):
    """The comparison itself can fail: a renamed key, a new file, a moved float, a changed dtype."""
    import copy

    doc = copy.deepcopy(golden)
    name = next(k for k in doc["artifacts"] if k.startswith("embeddings/") and k.endswith(".npz"))
    doc["artifacts"][name]["vectors"]["dtype"] = "float16"
    doc["artifacts"][name]["vectors"]["mean"] += 0.01
    doc["files"].append("embeddings/extra.npz")
    doc["status"]["stages"]["extract"]["done_items"] = doc["status"]["stages"]["extract"].pop("done")
    diffs = _golden.compare(doc, golden)
    assert len(diffs) == 5, diffs


def test_a_store_written_before_still_opens(old_ws):
    from reelmatch.dataset.store import ClipStore
    from reelmatch.dedupe import describe_catalogue
    from reelmatch.dedupe.store import DescriptorStore
    from reelmatch.embed import EmbedConfig, load_embeddings, run_embed
    from reelmatch.extract import run_extract
    from reelmatch.index import index_path, load_index
    from reelmatch.model.checkpoint import current_checkpoint, load
    from reelmatch.train import run_train
    from reelmatch.train.features import FeatureCache, compute_features

    ws = old_ws
    golden = json.loads(_golden.STORE_MANIFEST.read_text())  # ws_v1 as it was written (clip format 1)
    status = ws.status()
    # stages added since the store was written (scenes) are listed additively, with nothing done yet
    added = {k: v for k, v in status["stages"].items() if k not in golden["status"]["stages"]}
    assert set(added) <= {"scenes"} and all(v["done"] == 0 and v["failed"] == 0 for v in added.values())
    status["stages"] = {k: v for k, v in status["stages"].items() if k in golden["status"]["stages"]}
    assert status == golden["status"]
    clip_config = _golden.clip_config_v1()
    arts = golden["artifacts"]
    shard = next(v for k, v in arts.items() if k.endswith(".tar"))["members"]
    with ClipStore(ws) as store:
        assert store.config == clip_config and store.fingerprint == "b62afdd5ecd97e53"
        assert len(store.ids()) == 12
        for item_id in store.ids():
            clip = store.get(item_id)
            assert _golden.describe_array(clip.frames) == shard[f"{item_id}.frames.npy"]
            assert clip.frames.shape == (2, 16, 16, 3)

    cache = FeatureCache(ws, _golden.features_config(), clip_config)
    feats = cache.get(store.ids()[0])
    assert feats["features"].dtype == np.float16 and feats["features"].shape[0] == 2

    emb = load_embeddings(ws)
    assert len(emb) == 12 and emb.clip_fingerprint == clip_config.fingerprint
    index = load_index(index_path(ws), vectors_fingerprint=emb.vectors_fingerprint)
    assert len(index) == 12
    model, meta = load(current_checkpoint(ws), clip_config=clip_config)
    assert meta["model"]["backbone"] == "tiny"
    # the store's copy descriptors are format 1; this code writes format 2 (issue 17): they are
    # stale, so they are recomputed, never mixed with new ones (the stored copy has no media left:
    # each item then fails alone, naming its missing file)
    assert DescriptorStore(ws, _golden.dedupe_config()).get(store.ids()[0]) is None

    # nothing else is redone: the fingerprints of the other stages are those the store was written with
    assert run_extract(ws, clip_config, workers=0)["total"] == 0
    assert compute_features(ws, config=_golden.features_config())["done"] == 0
    best = current_checkpoint(ws)
    done_before = (best.parent / "done.json").read_text()
    # (the store's model has no text tower; today's default model reads the plots: the same config without
    # text is the model the store was trained with, and finds its run)
    assert run_train(ws, replace(_golden.train_config(), model=replace(_golden.train_config().model, text=None))) == best
    assert (best.parent / "done.json").read_text() == done_before
    before = emb.vectors_fingerprint
    run_embed(ws, EmbedConfig(batch_size=4))
    assert load_embeddings(ws).vectors_fingerprint == before
    redo = describe_catalogue(ws, _golden.dedupe_config(), workers=0)
    assert (redo["done"], redo["failed"]) == (0, 12)
    assert all("No such file" in f["error"] and f["id"] in f["error"].replace("_", "-") for f in redo["failures"])
    assert ws.similar(store.ids()[0], k=3).results


def test_a_schema_1_catalogue_is_migrated_on_open_and_read_as_is_read_only(tmp_path):
    """The golden store's catalogue is schema 1 (before ``flags``): a writer migrates it in place
    (additive: old rows get no flags), a read-only server connection reads it unmigrated."""
    import sqlite3

    from reelmatch.catalog.db import SCHEMA_VERSION, Catalog
    from reelmatch.serve.state import ReadOnlyCatalog

    shutil.copytree(_golden.STORE, tmp_path / "ws")
    db = tmp_path / "ws" / "catalog.db"
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "1"
    ro = ReadOnlyCatalog(db)
    items = ro.items()
    assert len(items) == 12 and all(it.flags == () for it in items)
    assert ro.filter_ids(exclude_flags=["violence"]) == sorted(it.id for it in items)
    ro.close()
    cat = Catalog(db)
    assert cat._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    first = cat.items()[0]
    cat.update_fields(first.id, flags=["violence", "Violence", " alcohol "])
    assert cat.get(first.id).flags == ("violence", "alcohol")
    assert first.id not in cat.filter_ids(exclude_flags=["VIOLENCE"])
    cat.close()
    assert Catalog(db).get(first.id).flags == ("violence", "alcohol")  # migrates once, opens again
