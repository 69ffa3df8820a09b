"""``reelmatch demo`` end to end on a few tiny generated items (tiny backbone, 2 epochs)."""

from __future__ import annotations

import json


def test_demo_end_to_end_small(tmp_path, run_cli):
    w = tmp_path / "demo"
    r = run_cli(
        "demo", "--workspace", w, "--items", "12", "--seconds", "2", "--no-devdata",
        "--backbone", "tiny", "--epochs", "2", "--workers", "0", timeout=240,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout
    assert out.count("Trailers most like '") == 2
    assert "Movies matched to the commercial '" in out
    assert "trained model" in out and "baseline: pretrained_mean" in out
    assert f"Report: {w.resolve() / 'reports' / 'report.html'}" in out
    doc = json.loads((w / "reports" / "metrics.json").read_text())
    assert doc["split"] == "test" and set(doc["baselines"]) >= {"random", "pretrained_mean", "audio_only", "frames_only"}
    status = json.loads(run_cli("-w", w, "status", "--json").stdout)
    assert status["items"] == 12 and status["stages"]["embed"]["done"] == 12


def test_demo_devdata_resolution(tmp_path, monkeypatch):
    from reelmatch.demo import default_devdata_dir

    monkeypatch.setenv("REELMATCH_DEVDATA", str(tmp_path))
    assert default_devdata_dir() == tmp_path
    monkeypatch.setenv("REELMATCH_DEVDATA", str(tmp_path / "missing"))
    assert default_devdata_dir() is None
