"""The Ray engine on a local Ray instance gives the local engine's records, media and vectors.

One Ray instance (2 CPUs, no dashboard) is started for the module and shut down
after it. Each test runs a stage twice on the same inputs, once with the local
engine and once with ``engine="ray"``, into two workspaces, and compares what
the stage wrote (clip records byte for byte, catalogue statuses and reasons,
downloaded files, embedding vectors).
"""

from __future__ import annotations

import os
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from reelmatch.catalog import Item
from reelmatch.workspace import Workspace

pytestmark = pytest.mark.ray

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_instance():
    import sys

    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import a test module
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def _status(ws, stage):
    return {
        it.id: (st["status"], st.get("error"))
        for it in ws.catalog.items()
        for st in [ws.catalog.stage_of(it.id, stage)]
        if st is not None
    }


def test_engine_map_reports_errors_crashes_and_timeouts(ray_instance):
    from reelmatch.engine import ItemFailure, get_engine

    eng = get_engine("ray", workers=2)
    out = dict(eng.map(_flaky, [0, 1, 2, 3], timeout=2))
    assert out[0] == 0 and out[3] == 30
    assert isinstance(out[1], ItemFailure) and out[1].reason == "ValueError: item one is bad"
    assert isinstance(out[2], ItemFailure) and out[2].kind == "timeout"
    # a worker that dies loses only its item
    out = dict(eng.map(_dies_on_one, [0, 1, 2]))
    assert out[0] == 0 and out[2] == 2
    assert isinstance(out[1], ItemFailure) and out[1].kind == "crash"


def _flaky(x):
    if x == 1:
        raise ValueError("item one is bad")
    if x == 2:
        import time

        time.sleep(20)
    return x * 10


def _dies_on_one(x):
    if x == 1:
        os._exit(3)
    return x


@pytest.mark.slow
def test_ray_download_extract_embed_match_local(ray_instance, tmp_path, media_dir):
    from reelmatch.dataset.store import ClipStore, clip_members
    from reelmatch.download import DownloadConfig, download_all
    from reelmatch.engine import get_engine
    from reelmatch.extract import ClipConfig, run_extract

    # --- download: a local HTTP server, same files whichever engine fetched them
    root = tmp_path / "site"
    root.mkdir()
    (root / "red.mp4").write_bytes((media_dir / "red box.mp4").read_bytes())
    (root / "junk.mp4").write_bytes(b"not a video\n" * 100)

    class Quiet(SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    fast = DownloadConfig(retries=0, http_retries=0, socket_timeout=5, min_interval=0.0)
    engines = {"local": "local", "ray": get_engine("ray", workers=2)}
    spaces = {}
    try:
        for name, eng in engines.items():
            ws = Workspace.init(tmp_path / name)
            spaces[name] = ws
            for f in ("red.mp4", "junk.mp4"):
                ws.catalog.upsert(Item(id=f"u-{f}", title=f, genres=("Drama",), source=f"{base}/{f}"))
            rep = download_all(ws, fast, workers=2, engine=eng)
            assert (rep.done, rep.failed) == (1, 1), rep.to_dict()
    finally:
        srv.shutdown()
        srv.server_close()
    a, b = spaces["local"], spaces["ray"]
    assert _status(a, "download") == _status(b, "download")
    ia, ib = a.catalog.get("u-red.mp4"), b.catalog.get("u-red.mp4")
    assert ia.sha256 == ib.sha256 and a.media_file(ia).read_bytes() == b.media_file(ib).read_bytes()

    # --- extract: local media, one media file given as an fsspec URL, one broken file
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x17" * 3000)
    for name, ws in spaces.items():
        ws.catalog.upsert(Item(id="blue", title="Blue", genres=("Comedy",), media_path=str(media_dir / "blue box.webm")))
        silent = media_dir / "silent.mkv"
        # the Ray workspace reads this one through fsspec: same bytes, same record
        ws.catalog.upsert(Item(id="silent", title="Silent", genres=("Drama",),
                               media_path=silent.as_uri() if name == "ray" else str(silent)))
        ws.catalog.upsert(Item(id="broken", title="Broken", genres=("Drama",), media_path=str(broken)))
    cfg = ClipConfig(start=0.2, window=1.6, num_frames=3, interval=0.5, size=32, n_mels=16, spec_frames=16)
    sa = run_extract(a, cfg, workers=2, timeout=60)
    sb = run_extract(b, cfg, timeout=60, engine=engines["ray"])
    assert (sa["done"], sa["failed"]) == (sb["done"], sb["failed"]) == (3, 1)
    assert _status(a, "extract") == _status(b, "extract")
    assert "broken" in {f["id"] for f in sb["failures"]}
    ca, cb = ClipStore(a, cfg), ClipStore(b, cfg)
    assert ca.ids() == cb.ids() == ["blue", "silent", "u-red.mp4"]
    for item_id in ca.ids():
        ma, mb = clip_members(ca.get(item_id)), clip_members(cb.get(item_id))
        assert ma == mb, item_id  # every member, byte for byte
    assert np.array_equal(ca.get("silent").frames, cb.get("silent").frames)
    # resumable as with the local engine: nothing left to do
    again = run_extract(b, cfg, engine=engines["ray"])
    assert again["total"] == 0 and again["already_done"] == 3

    # --- features: the (seeded tiny) backbone on Ray actors caches the features computed here
    from reelmatch.train.features import FeatureCache, FeaturesConfig, compute_features

    fcfg = FeaturesConfig(backbone="tiny", pretrained=False)
    fa = compute_features(a, config=fcfg, batch_clips=2)
    fb = compute_features(b, config=fcfg, batch_clips=2, engine=engines["ray"])
    assert fa["done"] == fb["done"] == 3 and fb["failed"] == 0
    cache_a, cache_b = FeatureCache(a, fcfg, cfg), FeatureCache(b, fcfg, cfg)
    for item_id in ca.ids():
        ra, rb = cache_a.get(item_id), cache_b.get(item_id)
        assert np.array_equal(ra["features"], rb["features"]) and np.array_equal(ra["mask"], rb["mask"]), item_id

    # --- embed: a torch model on Ray actors gives the vectors computed here
    from reelmatch.embed import EmbedConfig, load_embeddings, run_embed

    ecfg = EmbedConfig(batch_size=2)
    run_embed(a, ecfg, embedder=TinyTorchEmbedder())
    run_embed(b, ecfg, embedder=TinyTorchEmbedder(), engine=engines["ray"])
    ea, eb = load_embeddings(a), load_embeddings(b)
    assert ea.ids == eb.ids and len(ea.ids) == 3
    for name in ("vectors", "visual", "audio", "has_audio"):
        assert np.array_equal(getattr(ea, name), getattr(eb, name)), name
    assert ea.meta["model_fingerprint"] == eb.meta["model_fingerprint"]
    assert _status(a, "embed") == _status(b, "embed")
    for ws in spaces.values():
        ws.close()


class TinyTorchEmbedder:
    """A seeded conv net over frames + the spectrogram (a real torch model, small enough for a test)."""

    mode = "model"
    fingerprint = "tiny-torch-1"

    def __init__(self):
        import torch

        g = torch.Generator().manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.proj = torch.nn.Linear(8, 6)
        with torch.no_grad():
            for p in [*self.conv.parameters(), *self.proj.parameters()]:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)

    def describe(self) -> dict:
        return {"mode": self.mode, "note": "test model"}

    def embed(self, clips) -> dict:
        import torch

        out = {"visual": [], "audio": []}
        with torch.inference_mode():
            for c in clips:
                x = torch.from_numpy(np.ascontiguousarray(c.frames[c.mask.astype(bool)])).permute(0, 3, 1, 2).float() / 255
                v = self.proj(torch.relu(self.conv(x)).mean(dim=(0, 2, 3)))
                out["visual"].append(torch.nn.functional.normalize(v, dim=0).numpy())
                spec = torch.from_numpy(np.asarray(c.spectrogram, dtype=np.float32))
                a = torch.stack([spec.mean(), spec.std(), spec.max()]) if c.has_audio else torch.zeros(3)
                out["audio"].append(torch.nn.functional.normalize(a, dim=0).numpy())
        visual, audio = np.stack(out["visual"]), np.stack(out["audio"])
        fused = np.concatenate([visual, audio], axis=1)
        fused /= np.linalg.norm(fused, axis=1, keepdims=True)
        return {"fused": fused.astype(np.float32), "visual": visual, "audio": audio}


def test_fsspec_inputs_and_publishing(tmp_path):
    """Media on an fsspec URL is decoded from a local cached copy; a finished artifact folder is published to a URL."""
    import fsspec

    from reelmatch.engine.ray import fetch_local, is_url, publish

    fs = fsspec.filesystem("memory")
    fs.pipe("/bucket/film.mp4", b"video bytes")
    local = fetch_local("memory://bucket/film.mp4", cache_dir=tmp_path / "cache")
    assert open(local, "rb").read() == b"video bytes" and str(tmp_path / "cache") in local
    assert fetch_local(str(tmp_path / "x.mp4")) == str(tmp_path / "x.mp4") and not is_url(tmp_path)
    art = tmp_path / "clips"
    (art / "shards").mkdir(parents=True)
    (art / "shards" / "a.tar").write_bytes(b"tar")
    (art / "index.sqlite").write_bytes(b"db")
    assert publish(art, "memory://bucket/ws/clips") == 2
    assert fs.cat("/bucket/ws/clips/shards/a.tar") == b"tar" and fs.cat("/bucket/ws/clips/index.sqlite") == b"db"
    assert not fs.exists("/bucket/ws/clips/index.sqlite.part")


def test_engine_flags_on_the_stage_commands(run_cli):
    from reelmatch.engine import get_engine
    from reelmatch.errors import InputError

    for cmd in ("download", "extract", "features", "embed"):
        out = run_cli(cmd, "--help", check=True).stdout
        assert "--engine {local,ray}" in out and "--address ADDR" in out, cmd
    assert get_engine(None).name == get_engine("local").name == "local"
    with pytest.raises(InputError, match="--engine ray"):
        get_engine("local", address="auto")
    with pytest.raises(InputError, match="known engines are local, ray"):
        get_engine("dask")
    eng = get_engine("ray", address="ray://head:10001")
    assert eng.name == "ray" and eng.address == "ray://head:10001"  # connects lazily, on first use


@pytest.mark.slow
def test_ray_build_with_dedupe_matches_local_and_the_golden_files(ray_instance, tmp_path):
    """``build --dedupe`` on Ray writes what the local engine writes, artifact by artifact: the golden files."""
    import json

    import _golden

    from reelmatch.embed import EmbedConfig
    from reelmatch.ingest import import_manifest
    from reelmatch.pipeline import BuildConfig, run_build
    from reelmatch.samples.corpus import generate_corpus

    manifest = generate_corpus(tmp_path / "corpus", n_items=12, seconds=1.0, size=32, seed=7, genre_look=0.8)
    docs = {}
    for name in ("local", "ray"):
        ws = Workspace.init(tmp_path / name / "ws")
        import_manifest(ws, manifest)
        config = BuildConfig(clip=_golden.clip_config(), train=_golden.train_config(), embed=EmbedConfig(batch_size=4),
                             dedupe=True, dedupe_config=_golden.dedupe_config(), evaluate=False, workers=2, engine=name)
        with _golden.one_torch_thread():  # as the golden files were made
            report = run_build(ws, config)
        assert {s.name: s.status for s in report.stages} == {
            "extract": "ran", "features": "ran", "train": "ran", "embed": "ran", "index": "ran", "dedupe": "ran",
            "evaluate": "skipped"}, [(s.name, s.status, s.summary) for s in report.stages]
        assert report.by_name("dedupe").done == 12 and report.by_name("extract").failed == 0
        docs[name] = _golden.without_offsets(_golden.describe(ws))
        # resumable on either engine: a second build does nothing
        assert not run_build(ws, config).did_work
        ws.close()
    diffs = _golden.compare(docs["ray"], docs["local"])
    assert not diffs, "\n".join(diffs[:30])
    golden = _golden.without_offsets(json.loads(_golden.MANIFEST.read_text()))
    diffs = _golden.compare(docs["ray"], golden)
    assert not diffs, "\n".join(diffs[:30])


@pytest.mark.slow
def test_ray_scenes_match_local(ray_instance, tmp_path):
    """The scenes stage on Ray actors writes the local engine's scene files (boundaries and vectors),
    marks the same items and builds the same scene index; a file that is not a video fails alone."""
    import shutil

    from reelmatch.embed import EmbedConfig, run_embed
    from reelmatch.embed.embedder import BackboneEmbedder
    from reelmatch.engine import get_engine
    from reelmatch.extract import ClipConfig, run_extract
    from reelmatch.index import run_index
    from reelmatch.scenes import ScenesConfig, load_scenes, run_scenes
    from reelmatch.scenes.generated import write_movie
    from reelmatch.scenes.stage import SCENE_INDEX, current_scenes_dir

    media = tmp_path / "media"
    media.mkdir()
    write_movie(media / "night.mp4", 16.0, size=48, fps=10, seed=3)
    write_movie(media / "day.mp4", 10.0, size=48, fps=10, seed=4)
    (media / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x17" * 3000)
    a = Workspace.init(tmp_path / "local")
    for name in ("night", "day", "broken"):
        a.catalog.upsert(Item(id=name, title=name, genres=("Drama",), media_path=str(media / f"{name}.mp4")))
    clip = ClipConfig(start=0.0, window=10.0, num_frames=3, interval=3.0, size=32, n_mels=16, spec_frames=32)
    assert run_extract(a, clip, workers=0)["failed"] == 1
    run_embed(a, EmbedConfig(batch_size=4), embedder=BackboneEmbedder("tiny", pretrained=False), clip_config=clip)
    run_index(a)
    a.close()
    shutil.copytree(tmp_path / "local", tmp_path / "ray")  # the same workspace, before any scenes
    a, b = Workspace(tmp_path / "local"), Workspace(tmp_path / "ray")
    ra = run_scenes(a, ScenesConfig(), clip_config=clip)
    rb = run_scenes(b, ScenesConfig(), clip_config=clip, engine=get_engine("ray", workers=2))
    assert (ra.done, ra.failed) == (rb.done, rb.failed) == (2, 1)
    assert ra.counts["scenes"] == rb.counts["scenes"] >= 4
    assert _status(a, "scenes") == _status(b, "scenes")
    for item_id in ("night", "day"):
        sa, sb = load_scenes(a, item_id), load_scenes(b, item_id)
        assert [(s.start, s.end) for s in sa.scenes] == [(s.start, s.end) for s in sb.scenes]
        for name in ("fused", "visual", "audio", "has_audio"):
            assert np.array_equal(getattr(sa, name), getattr(sb, name)), (item_id, name)
    from reelmatch.embed.vectors import load_embeddings

    da = current_scenes_dir(a, load_embeddings(a).model_fingerprint)
    db = current_scenes_dir(b, load_embeddings(b).model_fingerprint)
    assert da.name == db.name
    with np.load(da / SCENE_INDEX, allow_pickle=False) as ia, np.load(db / SCENE_INDEX, allow_pickle=False) as ib:
        assert sorted(ia.files) == sorted(ib.files)
        for key in ia.files:
            assert np.array_equal(ia[key], ib[key]), key
    again = run_scenes(b, ScenesConfig(), clip_config=clip, engine=get_engine("ray", workers=2))
    assert again.total == 0
    a.close()
    b.close()
