"""Clip shards on object storage (an fsspec URL): extract writes them there, every reader reads them back.

The storage is a real fsspec filesystem, never a plain path: ``file://`` URLs
(fsspec's local filesystem) and, when ``moto[server]`` and ``s3fs`` are
installed (the test extra), ``s3://`` on moto's S3 API server on 127.0.0.1.
Records, features and vectors must be the ones of a workspace whose shards are
in the workspace directory; what was written but never committed is ignored and
removed; a killed run loses nothing committed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from reelmatch.catalog import Item
from reelmatch.dataset.store import ClipStore, clip_members, encode_record, worker_append
from reelmatch.extract.config import ClipConfig
from reelmatch.workspace import Workspace

CFG = ClipConfig(start=0.2, window=1.6, num_frames=3, interval=0.5, size=32, n_mels=16, spec_frames=16)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server():
    """moto's S3 API server on 127.0.0.1 and the fsspec settings that point ``s3://`` at it.

    The settings are fsspec's ``FSSPEC_S3_*`` environment variables (read by the
    subprocesses and Ray workers started after this) and ``fsspec.config.conf``
    (this process).
    """
    pytest.importorskip("s3fs")
    moto_server = pytest.importorskip("moto.server")
    import fsspec

    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    env = {"FSSPEC_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}", "FSSPEC_S3_KEY": "testing",
           "FSSPEC_S3_SECRET": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    old_env = {k: os.environ.get(k) for k in env}
    old_conf = fsspec.config.conf.get("s3")
    os.environ.update(env)
    fsspec.config.conf["s3"] = {"endpoint_url": env["FSSPEC_S3_ENDPOINT_URL"], "key": "testing", "secret": "testing"}
    _restart_forkserver()  # the local engine's workers are forked from it: they must see the settings
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    fs.mkdir("reels")
    yield env
    server.stop()
    for k, v in old_env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    if old_conf is None:
        fsspec.config.conf.pop("s3", None)
    else:
        fsspec.config.conf["s3"] = old_conf
    _restart_forkserver()


def _restart_forkserver() -> None:
    """Stop multiprocessing's fork server (if one runs): the next pool starts one with this environment."""
    from multiprocessing import forkserver

    stop = getattr(forkserver._forkserver, "_stop", None)
    if stop is not None:
        stop()


@pytest.fixture(params=["file", "s3"])
def storage(request, tmp_path):
    """A storage URL on a real fsspec filesystem: ``file://`` or moto's ``s3://``."""
    if request.param == "file":
        return (tmp_path / "bucket" / "ws").as_uri()
    request.getfixturevalue("s3_server")
    return f"s3://reels/{request.node.name.replace('[', '-').replace(']', '')}"


def _fs(url):
    from reelmatch.runtime import storage_fs

    fs, path = storage_fs(url)
    fs.invalidate_cache()
    return fs, path


def _objects(url) -> set[str]:
    fs, path = _fs(url)
    try:
        return {e.rstrip("/").rsplit("/", 1)[-1] for e in fs.ls(path, detail=False)}
    except FileNotFoundError:
        return set()


def _add_media(ws, media_dir):
    ws.catalog.upsert(Item(id="blue", title="Blue", genres=("Comedy",), media_path=str(media_dir / "blue box.webm")))
    ws.catalog.upsert(Item(id="red", title="Red", genres=("Drama",), media_path=str(media_dir / "red box.mp4")))
    ws.catalog.upsert(Item(id="silent", title="Silent", genres=("Drama",), media_path=str(media_dir / "silent.mkv")))


@pytest.fixture(scope="module")
def local_ref(tmp_path_factory, media_dir):
    """A workspace with its shards in the workspace directory (today's layout): the reference."""
    from reelmatch.extract import run_extract

    ws = Workspace.init(tmp_path_factory.mktemp("ref") / "ws")
    _add_media(ws, media_dir)
    assert run_extract(ws, CFG, workers=1, timeout=60)["done"] == 3
    yield ws
    ws.close()


def _same_records(a: ClipStore, b: ClipStore) -> None:
    assert a.ids() == b.ids()
    for item_id in a.ids():
        assert clip_members(a.get(item_id), a.config) == clip_members(b.get(item_id), b.config), item_id
    assert [c.id for c in a.iter()] == sorted(a.ids()) or len(list(b.iter())) == len(a)


def test_init_records_the_storage_and_refuses_a_plain_path(tmp_path, cli):
    from reelmatch.errors import InputError

    url = (tmp_path / "objects").as_uri()
    r = cli("-w", tmp_path / "ws", "init", "--storage", url)
    assert r.returncode == 0, r.stderr
    assert Workspace(tmp_path / "ws").storage == url
    assert Workspace.init(tmp_path / "ws").storage == url  # reopening keeps it
    with pytest.raises(InputError, match="fsspec URL"):
        Workspace.init(tmp_path / "other", storage=str(tmp_path / "objects"))
    assert Workspace.init(tmp_path / "plain").storage is None


@pytest.mark.parametrize("workers_write", [False, True])
def test_extract_to_storage_gives_the_local_records(tmp_path, media_dir, local_ref, storage, workers_write):
    """Extract (local engine) with the shards on the URL: the same records as in a local store, read by byte range."""
    from reelmatch.extract import run_extract

    ws = Workspace.init(tmp_path / "ws", storage=storage)
    _add_media(ws, media_dir)
    out = run_extract(ws, CFG, workers=2, timeout=60, workers_write=workers_write, commit_every=2)
    assert (out["done"], out["failed"]) == (3, 0), out["failures"]
    store = ClipStore(ws, CFG)
    url = f"{storage}/clips/{CFG.fingerprint}/shards"
    assert store.shard_url == url
    assert not store.shard_dir.exists()  # nothing of the payload in the workspace
    assert (store.root / "index.sqlite").exists()  # the index stays local
    objects = _objects(url)
    assert objects == {u.rsplit("/", 1)[-1] for u in store.shards()} and objects
    _same_records(ClipStore(local_ref, CFG), store)
    # each object is a whole WebDataset tar of committed records
    fs, path = _fs(url)
    for name in objects:
        with fs.open(f"{path}/{name}", "rb") as f, tarfile.open(fileobj=f) as t:
            assert {m.name.split(".", 1)[0] for m in t.getmembers()} <= {"blue", "red", "silent"}
    # a worker opening the store by its directory finds the URL in the sidecar
    _same_records(store, ClipStore.open_dir(store.root, CFG))
    # a second run has nothing to do and removes nothing
    again = run_extract(ws, CFG, workers=1, timeout=60, workers_write=workers_write)
    assert again["done"] == 0 and _objects(url) == objects
    ws.close()


def test_written_but_not_committed_objects_are_ignored_and_removed(tmp_path, storage):
    from test_commit_path import make_clip

    cfg = ClipConfig(num_frames=3, size=16, n_mels=8, spec_frames=12, frame_codec="raw")  # exact round trips
    ws = Workspace.init(tmp_path / "ws", storage=storage)
    store = ClipStore(ws, cfg)
    with store.writer() as w:
        w.add(make_clip("a", 1))
    root, url = str(store.root), store.shard_url
    committed = worker_append(root, cfg, "run1", encode_record(make_clip("b", 2), cfg), url)
    orphan = worker_append(root, cfg, "run1", encode_record(make_clip("c", 3), cfg), url)  # never committed
    assert committed.shard != orphan.shard  # one object per synced record
    store.commit([committed])
    fs, path = _fs(url)
    fs.pipe_file(f"{path}/clips-torn-00001.tar", b"\x07" * 700)  # a torn upload nobody committed
    store = ClipStore(ws, cfg)
    assert store.ids() == ["a", "b"] and "c" not in store
    assert [c.id for c in store.iter()] == ["a", "b"]
    out = store.recover()
    assert out["removed"] == 2 and out["bytes"] > 700 and out["trimmed"] == 0
    assert _objects(url) == {u.rsplit("/", 1)[-1] for u in store.shards()}
    assert np.array_equal(ClipStore(ws, cfg).get("b").frames, make_clip("b", 2).frames)
    assert ClipStore(ws, cfg).recover() == {"removed": 0, "trimmed": 0, "bytes": 0}  # idempotent
    ws.close()


def test_a_store_keeps_its_shards_where_they_were_made(tmp_path, local_ref):
    """Setting a storage on a workspace with clips: the existing store still reads its local shards."""
    import shutil

    shutil.copytree(local_ref.root, tmp_path / "ws")
    ws = Workspace.init(tmp_path / "ws", storage=(tmp_path / "objects").as_uri())
    store = ClipStore(ws, CFG)
    assert store.shard_url is None
    _same_records(ClipStore(local_ref, CFG), store)
    assert ClipStore(ws, ClipConfig(num_frames=2)).shard_url.startswith(ws.storage)  # a new config: on the URL
    ws.close()


def test_features_and_embed_read_the_records_from_storage(tmp_path, media_dir, local_ref, storage):
    """Feature files (written to the URL too) and vectors made from shards on the URL are the local store's."""
    from reelmatch.embed import EmbedConfig, load_embeddings, run_embed
    from reelmatch.extract import run_extract
    from reelmatch.train.features import FeatureCache, compute_features
    from test_query import tiny_embedder

    ws = Workspace.init(tmp_path / "ws", storage=storage)
    _add_media(ws, media_dir)
    run_extract(ws, CFG, workers=1, timeout=60)
    out = {}
    for name, w in (("ref", local_ref), ("url", ws)):
        compute_features(w, config=_features_config(), clip_config=CFG, batch_clips=2)
        run_embed(w, EmbedConfig(batch_size=2, name=f"emb-{name}"), embedder=tiny_embedder(),
                  workers_write=(name == "url"))
        out[name] = (FeatureCache(w, _features_config(), CFG), load_embeddings(w, f"emb-{name}"))
    (fa, ea), (fb, eb) = out["ref"], out["url"]
    assert fa.url is None and fb.url == f"{storage}/features/{fb.root.name}"
    assert not list(fb.root.glob("*.npz")) and _objects(fb.url) == {"blue.npz", "red.npz", "silent.npz"}
    assert "red" in fb and "nope" not in fb
    for item_id in ("blue", "red", "silent"):
        a, b = fa.get(item_id), fb.get(item_id)
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert ea.ids == eb.ids and np.array_equal(ea.vectors, eb.vectors)
    assert _objects(f"{storage}/embeddings/emb-url.blocks") == set()  # folded into the file, then removed
    ws.close()


def test_vector_blocks_on_storage_committed_kept_uncommitted_removed(tmp_path, media_dir, local_ref, storage):
    """Embed workers upload their vector blocks to the URL; a killed run's committed block is folded in,
    an uncommitted one deleted, and the file equals the local one's."""
    from reelmatch.embed import EmbedConfig, load_embeddings, run_embed
    from reelmatch.embed.blocks import BlockIndex, write_block
    from reelmatch.embed.run import _EmbedJob, embed_batch
    from reelmatch.extract import run_extract
    from reelmatch.runner import RunOptions
    from test_query import tiny_embedder

    ws = Workspace.init(tmp_path / "ws", storage=storage)
    _add_media(ws, media_dir)
    run_extract(ws, CFG, workers=1, timeout=60)
    cfg = EmbedConfig(batch_size=2, name="blk")
    emb = tiny_embedder()
    store = ClipStore(ws, CFG)
    job = _EmbedJob(ws, (cfg, emb, CFG), RunOptions(workers_write=True))
    url = f"{storage}/embeddings/blk.blocks"
    assert job.blocks.location == url
    part, _ = embed_batch(emb, store, ["blue"])
    ref = write_block(url, "run1", part)
    BlockIndex(job.path, url).commit([ref], job.fingerprint)
    ws.catalog.mark_many("embed", [("blue", None)], job.fingerprint)  # committed, then killed
    lost, _ = embed_batch(emb, store, ["red"])
    orphan = write_block(url, "run1", lost)  # written, never committed
    assert _objects(url) == {ref.name, orphan.name} and (job.path.parent / "blk.blocks" / "index.sqlite").exists()
    job.blocks.close()
    res = run_embed(ws, cfg, embedder=tiny_embedder(), workers_write=True)
    assert ws.catalog.stage_of("blue", "embed")["attempts"] == 1  # kept, not redone
    assert _objects(url) == set()
    run_embed(local_ref, EmbedConfig(batch_size=2, name="blk-ref"), embedder=tiny_embedder())
    ea, eb = load_embeddings(local_ref, "blk-ref"), load_embeddings(ws, "blk")
    rows = [eb.row(i) for i in ea.ids]
    assert sorted(ea.ids) == sorted(eb.ids) and np.array_equal(ea.vectors, eb.vectors[rows]), res
    ws.close()


def _features_config():
    from reelmatch.train.features import FeaturesConfig

    return FeaturesConfig(backbone="tiny", pretrained=False)


def test_killed_driver_with_storage_loses_nothing_committed(tmp_path, storage):
    """SIGKILL ``reelmatch extract --workers-write`` mid-run with the shards on the URL; the next run finishes."""
    from test_commit_path import SMALL, add_items, run_and_kill

    ws = Workspace.init(tmp_path / "ws", storage=storage)
    add_items(ws, tmp_path, 10)
    args = [sys.executable, "-m", "reelmatch", "-w", str(ws.root), "extract", "--workers", "2", "--no-progress",
            "--workers-write", "--commit-every", "1", *SMALL]
    before, _ = run_and_kill(ws, args)
    if len(before) == 10:
        pytest.skip("the run finished before it could be killed")  # pragma: no cover - very slow machine only
    r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    store = ClipStore(ws)
    assert store.ids() == sorted(f"m{i}" for i in range(10))
    for item_id in before:  # committed before the kill: kept, not redone
        assert ws.catalog.stage_of(item_id, "extract")["attempts"] == 1
    assert _objects(store.shard_url) == {u.rsplit("/", 1)[-1] for u in store.shards()}  # no orphan left
    for c in store.iter():
        assert c.num_valid == 4
    ws.close()


@pytest.mark.ray
@pytest.mark.slow
def test_ray_extract_and_embed_on_storage_match_local(tmp_path, media_dir, local_ref, s3_server):
    """Ray tasks upload their records to s3:// themselves; Ray actors read them back to embed."""
    ray = pytest.importorskip("ray")
    from reelmatch.embed import EmbedConfig, load_embeddings, run_embed
    from reelmatch.engine import get_engine
    from reelmatch.extract import run_extract
    from test_query import tiny_embedder

    if ray.is_initialized():  # pragma: no cover - another module's instance
        ray.shutdown()
    import test_query

    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(test_query)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": dict(s3_server)})
    try:
        ws = Workspace.init(tmp_path / "ws", storage="s3://reels/ray")
        _add_media(ws, media_dir)
        eng = get_engine("ray", workers=2)
        out = run_extract(ws, CFG, timeout=60, engine=eng)
        assert (out["done"], out["failed"]) == (3, 0), out["failures"]
        store = ClipStore(ws, CFG)
        assert store.shard_url.startswith("s3://reels/ray/") and not store.shard_dir.exists()
        assert _objects(store.shard_url) == {u.rsplit("/", 1)[-1] for u in store.shards()}
        _same_records(ClipStore(local_ref, CFG), store)
        run_embed(local_ref, EmbedConfig(batch_size=2, name="ray-ref"), embedder=tiny_embedder())
        run_embed(ws, EmbedConfig(batch_size=2, name="ray-url"), embedder=tiny_embedder(), engine=eng)
        ea, eb = load_embeddings(local_ref, "ray-ref"), load_embeddings(ws, "ray-url")
        assert ea.ids == eb.ids and np.array_equal(ea.vectors, eb.vectors)
        ws.close()
    finally:
        ray.shutdown()


def test_training_from_storage_gives_the_local_weights(tmp_path):
    """Train (tiny backbone, one seed) on shards and feature files on a ``file://`` URL: the local run's weights."""
    from safetensors.numpy import load_file

    from reelmatch.extract import run_extract
    from reelmatch.ingest import import_manifest
    from reelmatch.samples.corpus import generate_corpus
    from reelmatch.train import TrainConfig, run_train

    manifest = generate_corpus(tmp_path / "corpus", n_items=24, seconds=1.5, size=32, seed=0)
    cfg = ClipConfig(start=0, window=1.5, num_frames=3, interval=0.5, size=32, n_mels=16, spec_frames=16)
    weights = {}
    for name, storage in (("local", None), ("url", (tmp_path / "bucket").as_uri())):
        ws = Workspace.init(tmp_path / name, storage=storage)
        import_manifest(ws, manifest)
        assert run_extract(ws, cfg, workers=2, timeout=60)["failed"] == 0
        best = run_train(ws, TrainConfig(backbone="tiny", epochs=2, val_splits=("val", "test"), seed=3))
        weights[name] = load_file(str(best / "model.safetensors"))
        if storage:
            assert not ClipStore(ws, cfg).shard_dir.exists() and _objects(f"{storage}/features")
        ws.close()
    a, b = weights["local"], weights["url"]
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_a_worker_without_the_workspace_reads_its_batch_from_storage(tmp_path, media_dir, storage):
    """Shards on a URL: a features/embed batch says where its records are, so a worker on a node
    without the workspace (no index, no sidecar) reads its clips from the storage alone."""
    import pickle

    from reelmatch.dataset.store import LocatedIds, id_batch
    from reelmatch.extract import run_extract

    ws = Workspace.init(tmp_path / "ws", storage=storage)
    _add_media(ws, media_dir)
    run_extract(ws, CFG, workers=1, timeout=60)
    store = ClipStore(ws, CFG)
    batch = pickle.loads(pickle.dumps(id_batch(store, ["blue", "nope", "silent"])))  # as sent to a worker
    assert isinstance(batch, LocatedIds) and batch == ("blue", "nope", "silent") and set(batch.records) == {"blue", "silent"}
    remote = ClipStore.open_dir(tmp_path / "elsewhere" / "no-workspace", CFG, store.shard_url)
    remote.use_batch(batch)
    assert "blue" in remote and "nope" not in remote
    for item_id in ("blue", "silent"):
        assert clip_members(remote.get(item_id), CFG) == clip_members(store.get(item_id), CFG)
    assert not (tmp_path / "elsewhere").exists()
    local = Workspace.init(tmp_path / "plain")
    assert type(id_batch(ClipStore(local, CFG), ["a"])) is tuple  # shards in the workspace: plain ids, as before
    ws.close()
    local.close()
