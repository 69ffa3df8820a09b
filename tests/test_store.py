"""Clip store: sharded tar records + index, random access, resumable appends; title splits."""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest

from reelmatch.dataset.clip import Clip
from reelmatch.dataset.splits import normalise_title, split_for_title
from reelmatch.dataset.store import ClipStore, current_config, set_current_config
from reelmatch.errors import NotFoundError
from reelmatch.extract.config import ClipConfig

CFG = ClipConfig(num_frames=3, size=16, n_mels=8, spec_frames=12, frame_codec="raw")  # exact round trips


def make_clip(item_id: str, seed: int, split: str = "train") -> Clip:
    rng = np.random.default_rng(seed)
    mask = np.array([True, True, False])
    frames = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    frames[~mask] = 0
    return Clip(
        id=item_id, frames=frames, mask=mask, timestamps=np.array([1.5, 13.5, np.nan], np.float32),
        spectrogram=rng.random((8, 12), dtype=np.float32), has_audio=bool(seed % 2),
        meta={"width": 64, "title": f"t{seed}", "unicode": "映画 ü"}, split=split,
    )


def same(a: Clip, b: Clip) -> bool:
    return (a.id == b.id and a.split == b.split and a.has_audio == b.has_audio and a.meta == b.meta
            and np.array_equal(a.frames, b.frames) and np.array_equal(a.mask, b.mask)
            and np.array_equal(a.timestamps, b.timestamps, equal_nan=True)
            and np.array_equal(a.spectrogram, b.spectrogram)
            and a.frames.dtype == b.frames.dtype and a.spectrogram.dtype == b.spectrogram.dtype)


def test_write_read_random_access_and_stream(ws):
    store = ClipStore(ws, CFG)
    assert len(store) == 0 and store.ids() == [] and list(store.iter()) == []
    clips = [make_clip(f"file-{i:03d}", i, "test" if i % 3 == 0 else "train") for i in range(7)]
    with store.writer(shard_max_bytes=3000) as w:  # tiny shards: several files
        for c in clips:
            w.add(c)
    store = ClipStore(ws, CFG)
    assert len(store) == 7 and len(store.shards()) > 1
    assert store.ids() == sorted(c.id for c in clips)
    assert store.ids("test") == ["file-000", "file-003", "file-006"]
    for c in reversed(clips):
        assert c.id in store
        assert same(store.get(c.id), c)
    assert "nope" not in store
    with pytest.raises(NotFoundError):
        store.get("nope")
    assert [c.id for c in store.iter()] == [c.id for c in clips]  # shard order = write order
    assert [c.id for c in store.iter("test")] == ["file-000", "file-003", "file-006"]
    side = json.loads((store.root / "clips.json").read_text())
    assert side["fingerprint"] == CFG.fingerprint and side["clips"] == 7


def test_shards_are_webdataset_tars_without_pickle(ws):
    store = ClipStore(ws, CFG)
    with store.writer() as w:
        w.add(make_clip("url-abc.def/1", 1))
    (shard,) = store.shards()
    with tarfile.open(shard) as tf:
        names = tf.getnames()
    key = "url-abc_def_1"
    assert sorted(names) == sorted(f"{key}.{s}" for s in ("frames.npy", "mask.npy", "timestamps.npy", "spectrogram.npy", "json"))
    with tarfile.open(shard) as tf:
        frames = np.load(io.BytesIO(tf.extractfile(f"{key}.frames.npy").read()), allow_pickle=False)
        doc = json.load(tf.extractfile(f"{key}.json"))
    assert frames.shape == (3, 16, 16, 3) and doc["id"] == "url-abc.def/1"


def test_reextracted_item_replaces_its_record_in_new_shard(ws):
    store = ClipStore(ws, CFG)
    with store.writer() as w:
        w.add(make_clip("a", 1))
        w.add(make_clip("b", 2))
    newer = make_clip("a", 99, split="val")
    with store.writer() as w:
        w.add(newer)
    store = ClipStore(ws, CFG)
    assert len(store) == 2 and len(store.shards()) == 2
    assert same(store.get("a"), newer)
    assert store.ids("val") == ["a"]
    assert store.discard("b") and "b" not in store
    assert store.compact() == 0 or len(store.shards()) == 1


def test_killed_writer_loses_nothing_written(ws):
    store = ClipStore(ws, CFG)
    w = store.writer()
    w.add(make_clip("a", 1))
    w.add(make_clip("b", 2))
    # simulate a kill: no close (no end-of-archive), then half a record of garbage
    with open(w.store.shard_dir / w._name, "ab") as f:
        f.write(b"x" * 700)
    fresh = ClipStore(ws, CFG)
    assert fresh.ids() == ["a", "b"]
    assert same(fresh.get("b"), make_clip("b", 2))
    with fresh.writer() as w2:
        w2.add(make_clip("c", 3))
    assert ClipStore(ws, CFG).ids() == ["a", "b", "c"]


def test_current_config_round_trip(ws):
    with pytest.raises(NotFoundError):
        current_config(ws)
    with pytest.raises(NotFoundError):
        ClipStore(ws)
    cfg = ClipConfig.recipe(num_frames=4)
    set_current_config(ws, cfg)
    assert current_config(ws) == cfg
    assert ClipStore(ws).config == cfg and ClipStore(ws).root.name == cfg.fingerprint


def test_split_by_title_is_deterministic_and_keeps_copies_together():
    assert normalise_title("Amélie (2001) - Official Trailer #2 [HD]") == "amelie 2001"
    assert normalise_title("AMELIE 2001 trailer") == "amelie 2001"
    copies = ["Amélie (2001) - Official Trailer #2 [HD]", "amelie 2001", "AMELIE (2001) Teaser 1080p"]
    assert len({split_for_title(t) for t in copies}) == 1
    splits = [split_for_title(f"Movie number {i}") for i in range(3000)]
    assert splits == [split_for_title(f"Movie number {i}") for i in range(3000)]
    share = {s: splits.count(s) / len(splits) for s in ("train", "val", "test")}
    assert 0.76 < share["train"] < 0.84 and 0.07 < share["val"] < 0.13 and 0.07 < share["test"] < 0.13
    assert split_for_title("x", fractions=(0, 0, 1)) == "test"
    assert [split_for_title(f"m{i}", seed=1) for i in range(50)] != [split_for_title(f"m{i}") for i in range(50)]
    with pytest.raises(ValueError):
        split_for_title("x", fractions=(1, 1))


def _read_in_child(args):
    store, ids = args
    return [int(store.get(i).frames.sum()) for i in ids]


def test_store_opened_in_parent_is_usable_after_fork(ws):
    """DataLoader workers fork with the store already open: handles are reopened per process."""
    import multiprocessing as mp

    store = ClipStore(ws, CFG)
    with store.writer() as w:
        for i in range(4):
            w.add(make_clip(f"c{i}", i))
    ids = store.ids()
    expected = [int(store.get(i).frames.sum()) for i in ids]  # parent opens its handles first
    with mp.get_context("fork").Pool(2) as pool:
        got = pool.map(_read_in_child, [(store, ids[:2]), (store, ids[2:])])
    assert got[0] + got[1] == expected
