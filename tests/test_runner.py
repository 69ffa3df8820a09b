"""The stage runner: stages as data, registries, --workers checks, progress in logs, one writer per stage."""

from __future__ import annotations

import ast
import io
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from reelmatch.catalog import Item

SRC = Path(__file__).resolve().parents[1] / "src" / "reelmatch"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_every_registered_stage_is_data_and_imports_no_engine():
    from reelmatch.runner import Stage, get_stage, list_stages

    assert list_stages() == ["download", "extract", "features", "embed", "dedupe", "scenes"]
    for name in list_stages():
        stage = get_stage(name)
        assert isinstance(stage, Stage) and stage.name == name and callable(stage.plan), name
        module = sys.modules[type(stage.plan).__module__ if not callable(stage.plan) else stage.plan.__module__]
        engine_imports = {m for m in _imports(Path(module.__file__)) if m.startswith("reelmatch.engine")}
        assert not engine_imports, f"stage {name} ({module.__name__}) imports {engine_imports}"
    with pytest.raises(Exception, match="known stages are download, extract"):
        get_stage("nope")


def test_every_registered_engine_is_made_by_name():
    from reelmatch.engine import get_engine, list_engines
    from reelmatch.errors import InputError

    assert list_engines() == ["local", "ray"]
    for name in list_engines():
        eng = get_engine(name, workers=1)
        assert eng.name == name and callable(eng.map) and callable(eng.map_batches)
    with pytest.raises(InputError, match="known engines are local, ray"):
        get_engine("spark")


def test_no_module_outside_the_engines_and_the_runner_imports_an_engine():
    allowed = {SRC / "runner.py", SRC / "cli" / "common.py", SRC / "pipeline.py"}
    offenders = []
    for p in SRC.rglob("*.py"):
        if "engine" in p.relative_to(SRC).parts[:1] or p in allowed:
            continue
        if any(m.startswith("reelmatch.engine") for m in _imports(p)):
            offenders.append(str(p.relative_to(SRC)))
    assert not offenders


def test_item_failure_lives_in_errors_and_old_imports_still_work():
    from reelmatch.engine import ItemFailure as A
    from reelmatch.engine.local import ItemFailure as B
    from reelmatch.errors import ItemFailure

    assert ItemFailure is A is B
    import pickle

    f = pickle.loads(pickle.dumps(ItemFailure("bad   file\nhere", "crash")))
    assert (f.reason, f.kind) == ("bad file here", "crash")


@pytest.mark.parametrize("value, message", [("-1", "--workers must be at least 0, got -1"),
                                            ("two", "--workers must be a whole number, got 'two'"),
                                            ("1.5", "--workers must be a whole number, got '1.5'")])
def test_invalid_workers_is_a_one_line_input_error(ws, capsys, value, message):
    from reelmatch.cli.main import main

    for cmd in ("extract", "dedupe", "build"):
        assert main(["-w", str(ws.root), cmd, "--workers", value]) == 2, cmd
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"reelmatch {cmd}: error: {message}"], err
    assert main(["-w", str(ws.root), "download", "--workers", "0"]) == 2
    assert capsys.readouterr().err.strip() == "reelmatch download: error: --workers must be at least 1, got 0"


def test_check_workers_and_build_config_name_the_bad_value():
    from reelmatch.errors import InputError
    from reelmatch.pipeline import BuildConfig
    from reelmatch.runtime import check_workers

    assert check_workers(None, default=3) == 3 and check_workers("2") == 2 and check_workers(0) == 0
    with pytest.raises(InputError, match="at least 1, got 0"):
        check_workers(0, minimum=1)
    with pytest.raises(InputError, match=r"BuildConfig.workers = -2"):
        BuildConfig(workers=-2)


def test_line_progress_writes_few_whole_lines():
    from reelmatch.cli.common import LineProgress

    out = io.StringIO()
    bar = LineProgress(1000, "extract", every=3600, file=out)
    for _ in range(1000):
        bar.update(1)
    bar.close()
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert lines[0] == "extract: 100/1000 (10%)" and lines[-1] == "extract: 1000/1000 (100%)"
    assert len(lines) == 10
    # with no total known: at most one line per interval
    out = io.StringIO()
    bar = LineProgress(None, "slow", every=0.2, file=out)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 1.0:
        bar.update(1)
        time.sleep(0.001)
    bar.close()
    assert 3 <= len(out.getvalue().splitlines()) <= 7


def _add_videos(ws, d: Path, n: int):
    from reelmatch.samples.media import moving_box_frames, tone, write_video

    for i in range(n):
        p = write_video(d / f"v{i}.mp4", seconds=1.0, fps=8, width=32, height=32,
                        frames=moving_box_frames(32, 32, color=(60 * i % 255, 90, 200)), audio=tone(300 + 50 * i))
        ws.catalog.upsert(Item(id=f"v{i}", title=f"Video {i}", media_path=str(p)))


def test_cli_progress_is_lines_not_carriage_returns_in_a_log(ws, tmp_path, run_cli):
    _add_videos(ws, tmp_path, 3)
    r = run_cli("-w", ws.root, "extract", "--workers", "1", "--frames", "2", "--interval", "0.3", "--start", "0",
                "--window", "1")
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stderr
    progress = [ln for ln in r.stderr.splitlines() if ln.startswith("extract: ") and "/3" in ln]
    assert progress and progress[-1] == "extract: 3/3 (100%)" and len(progress) <= 4, r.stderr


def test_second_writer_of_a_stage_exits_naming_the_running_process(ws, tmp_path, run_cli):
    """Two real processes: one holds the extract lock, a second ``reelmatch extract`` exits at once."""
    _add_videos(ws, tmp_path, 1)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from reelmatch.runner import stage_lock
            from reelmatch.workspace import Workspace
            with stage_lock(Workspace({str(ws.root)!r}), "extract"):
                print("locked", flush=True)
                time.sleep(60)
        """)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        r = run_cli("-w", ws.root, "extract", "--workers", "0", "--frames", "2", "--start", "0", "--window", "1")
        assert time.monotonic() - t0 < 30
        assert r.returncode == 1
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, r.stderr
        assert f"another 'extract' is already writing {ws.root}: pid {holder.pid}" in lines[0]
        assert "started" in lines[0] and "-c" in lines[0]
        assert ws.status()["stages"]["extract"]["done"] == 0  # the second writer did nothing
        # another stage is not blocked
        assert run_cli("-w", ws.root, "dedupe", "--workers", "0", "--json").returncode in (0, 1)
    finally:
        holder.kill()
        holder.wait(10)
    # the lock dies with its process
    r = run_cli("-w", ws.root, "extract", "--workers", "0", "--frames", "2", "--start", "0", "--window", "1")
    assert r.returncode == 0, r.stderr
    assert ws.status()["stages"]["extract"]["done"] == 1


def test_stage_lock_is_per_stage_reentrant_and_threads_take_turns(ws):
    import threading

    from reelmatch.runner import stage_lock

    order = []
    with stage_lock(ws, "embed"):
        with stage_lock(ws, "embed"):  # the holder may take it again
            order.append("nested")
        with stage_lock(ws, "extract"):  # a lock per stage
            order.append("other stage")

        def second():
            with stage_lock(ws, "embed"):
                order.append("second thread")

        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.3)
        order.append("first done")
    t.join(10)
    assert order == ["nested", "other stage", "first done", "second thread"]


def test_corrupt_current_json_is_a_clear_error(ws, capsys):
    from reelmatch.cli.main import main
    from reelmatch.dataset.store import resolve_clip_config
    from reelmatch.errors import NotFoundError, WorkspaceError
    from reelmatch.extract import ClipConfig

    with pytest.raises(NotFoundError):
        resolve_clip_config(ws)
    assert resolve_clip_config(ws, default=ClipConfig()) == ClipConfig()
    p = ws.dir("clips") / "current.json"
    for text in ("{not json", json.dumps({"config": {"size": 4}}), json.dumps({"config": {"sise": 32}}), "{}"):
        p.write_text(text)
        with pytest.raises(WorkspaceError, match=r"current.json is corrupt"):
            resolve_clip_config(ws)
        with pytest.raises(WorkspaceError):  # never silently the default
            resolve_clip_config(ws, default=ClipConfig())
    p.write_text(json.dumps({"config": {"size": 4}}))
    assert main(["-w", str(ws.root), "embed"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("reelmatch embed: error: ") and "current.json is corrupt (ClipConfig.size = 4:" in err


CONFIGS = ["reelmatch.extract:ClipConfig", "reelmatch.dedupe.config:DedupeConfig", "reelmatch.embed.config:EmbedConfig",
           "reelmatch.index.config:IndexConfig", "reelmatch.evaluate.config:EvalConfig",
           "reelmatch.train.features:FeaturesConfig", "reelmatch.train.config:TrainConfig",
           "reelmatch.model.config:ModelConfig", "reelmatch.pipeline:BuildConfig"]


@pytest.mark.parametrize("path", CONFIGS)
def test_stage_configs_share_one_base(path):
    import importlib

    from reelmatch.config import StageConfig
    from reelmatch.errors import InputError

    module, name = path.split(":")
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, StageConfig)
    c = cls()
    doc = json.loads(json.dumps(c.to_dict()))
    assert cls.from_dict(doc) == c and cls.from_dict(doc).fingerprint == c.fingerprint
    with pytest.raises(InputError, match=f"{name}: unknown field"):
        cls.from_dict({**doc, "no_such_field": 1})


def test_nested_configs_round_trip_and_train_config_nests_the_model():
    from dataclasses import replace

    from reelmatch.model.config import ModelConfig
    from reelmatch.pipeline import BuildConfig
    from reelmatch.train import Phase, TrainConfig

    t = TrainConfig(backbone="tiny", pretrained=False, embed_dim=32, epochs=3,
                    phases=(Phase("warmup", 1, "classify", 1e-3),))
    assert isinstance(t.model, ModelConfig) and t.model.embed_dim == 32 and t.embed_dim == 32
    assert replace(t, seed=5).model == t.model
    flat = t.to_dict()
    assert "model" not in flat and flat["backbone"] == "tiny" and flat["phases"][0]["loss"] == "classify"
    b = BuildConfig(train=t, workers=2, dedupe=True)
    again = BuildConfig.from_dict(json.loads(json.dumps(b.to_dict())))
    assert again == b and isinstance(again.train.phases[0], Phase)
    with pytest.raises(Exception, match=r"TrainConfig.batch_size = 2: must be at least 4"):
        TrainConfig(batch_size=2)
    with pytest.raises(Exception, match=r"BuildConfig.train = .*must be a TrainConfig"):
        BuildConfig(train={"epochs": 2})
