"""``build`` end to end on a tiny generated catalogue, then ``evaluate`` on it.

One module-scoped build (12 generated 2 s 64x64 items, tiny backbone, 2 epochs)
serves every test here: the stage order and outcomes, resumability (a second
build does nothing new), the ``evaluate --json`` contract and the report files.
"""

from __future__ import annotations

import json

import pytest

from reelmatch.extract import ClipConfig
from reelmatch.workspace import Workspace

TINY_CLIP = ClipConfig(start=0.0, window=2.0, num_frames=4, interval=0.5, size=64, n_mels=32, spec_frames=64)
METRICS = {"map_at_r", "precision_at_1", "precision_at_10", "ndcg_at_10"}


def tiny_build_config(**kw):
    from reelmatch.pipeline import BuildConfig
    from reelmatch.train import TrainConfig

    train = TrainConfig(backbone="tiny", pretrained=False, epochs=2, batch_size=8, per_genre=2, hidden=32,
                        audio_dim=16, embed_dim=32)
    return BuildConfig(clip=TINY_CLIP, train=train, workers=0, **kw)


class Recorder:
    """A BuildProgress that remembers what it was told."""

    def __init__(self):
        self.stages, self.item_calls, self.done = [], [], []

    def stage(self, name, index, total):
        self.stages.append((name, index, total))

    def message(self, text):
        pass

    def items(self, done, total):
        self.item_calls.append((done, total))

    def stage_done(self, rep):
        self.done.append(rep.status)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    import torch

    from reelmatch.ingest import import_manifest
    from reelmatch.pipeline import run_build
    from reelmatch.samples.corpus import generate_corpus

    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("build")
    manifest = generate_corpus(root / "corpus", n_items=12, seconds=2.0, size=64, seed=0)
    ws = Workspace.init(root / "ws")
    import_manifest(ws, manifest)
    rec = Recorder()
    report = run_build(ws, tiny_build_config(), progress=rec)
    yield ws, report, rec
    ws.close()


def test_build_runs_every_stage_in_order(built):
    ws, report, rec = built
    names = [s.name for s in report.stages]
    assert names == ["extract", "features", "train", "embed", "index", "evaluate"]
    assert [s[0] for s in rec.stages] == names and rec.stages[0][2] == len(names)
    assert {s.name: s.status for s in report.stages} == dict.fromkeys(names, "ran"), [
        (s.name, s.status, s.summary) for s in report.stages
    ]
    assert rec.item_calls, "per-item progress was reported"
    st = ws.status()["stages"]
    assert st["extract"]["done"] == 12 and st["extract"]["failed"] == 0
    assert st["embed"]["done"] == 12
    assert (ws.dir("reports") / "report.html").exists()


def test_second_build_does_nothing_new(built):
    from reelmatch.embed import embeddings_path
    from reelmatch.model.checkpoint import current_checkpoint
    from reelmatch.pipeline import run_build

    ws, _, _ = built
    watched = [
        embeddings_path(ws),
        current_checkpoint(ws) / "model.safetensors",
        ws.dir("reports") / "metrics.json",
        ws.dir("reports") / "report.html",
    ]
    before = {p: p.stat().st_mtime_ns for p in watched}
    again = run_build(ws, tiny_build_config())
    assert not again.did_work, [(s.name, s.status, s.summary) for s in again.stages]
    assert {s.status for s in again.stages} == {"up to date"}
    assert {p: p.stat().st_mtime_ns for p in watched} == before


def test_build_defaults_follow_the_workspace(built):
    """With no clip/train config, build reuses what the workspace was built with (e.g. after demo)."""
    from reelmatch.pipeline import BuildConfig, run_build

    ws, _, _ = built
    again = run_build(ws, BuildConfig(workers=0))
    assert {s.status for s in again.stages} == {"up to date"}, [(s.name, s.status, s.summary) for s in again.stages]


def test_build_with_dedupe_adds_only_that_stage(built):
    from reelmatch.pipeline import run_build

    ws, _, _ = built
    rep = run_build(ws, tiny_build_config(dedupe=True))
    status = {s.name: s.status for s in rep.stages}
    assert status.pop("dedupe") == "ran"
    assert set(status.values()) == {"up to date"}
    assert ws.status()["stages"]["dedupe"]["done"] == 12
    assert run_build(ws, tiny_build_config(dedupe=True)).by_name("dedupe").status == "up to date"


def test_build_with_scenes_adds_only_that_stage(built):
    from reelmatch.pipeline import run_build

    ws, _, _ = built
    rep = run_build(ws, tiny_build_config(scenes=True))
    status = {s.name: s.status for s in rep.stages}
    assert status.pop("scenes") == "ran", rep.by_name("scenes").summary
    assert set(status.values()) == {"up to date"}
    trailers = len(ws.catalog.items(kind="trailer"))
    assert ws.status()["stages"]["scenes"]["done"] == trailers
    assert run_build(ws, tiny_build_config(scenes=True)).by_name("scenes").status == "up to date"
    ad = ws.catalog.items(kind="ad")[0]
    res = ws.match_ad(ad.id, k=3, scenes=True)
    assert all(n.scenes for n in res.results)  # every trailer has at least one scene


def test_evaluate_json_contract_and_files(built, cli):
    ws, _, _ = built
    r = cli("-w", ws.root, "evaluate", "--json", "--split", "test")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["split"] == "test"
    assert set(doc["metrics"]) == METRICS
    assert set(doc["baselines"]) == {"random", "pretrained_mean", "untrained", "audio_only", "frames_only", "text_only"}
    for m in doc["baselines"].values():
        assert set(m) == METRICS and all(0.0 <= v <= 1.0 for v in m.values())
    assert doc["per_genre"] and all(METRICS <= set(v) and v["queries"] >= 1 for v in doc["per_genre"].values())
    assert doc["items"] >= 2
    reports = ws.dir("reports")
    assert json.loads((reports / "metrics.json").read_text()) == doc
    for name in ("baselines.png", "per_genre.png", "embedding_map.png", "training_curves.png"):
        assert (reports / name).read_bytes()[:4] == b"\x89PNG", name
    page = (reports / "report.html").read_text()
    assert "data:image/png;base64," in page and "Example queries" in page
    assert "report:" in r.stderr


def test_evaluate_without_a_model_is_one_clear_line(tmp_path, cli):
    Workspace.init(tmp_path / "w").close()
    r = cli("-w", tmp_path / "w", "evaluate")
    assert r.returncode != 0
    assert r.stderr.strip().count("\n") == 0 and "evaluate: error:" in r.stderr
