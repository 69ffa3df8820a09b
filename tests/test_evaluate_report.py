"""Evaluate's pure parts: figures from plain arrays, training-log parsing, the HTML page."""

from __future__ import annotations

import re

import numpy as np
import pytest

from reelmatch.evaluate import plots
from reelmatch.evaluate.report import Example, Neighbour, render_html


def _is_png(path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_training_log_reads_sparse_lightning_rows(tmp_path):
    log = tmp_path / "metrics.csv"
    log.write_text(
        "epoch,step,train_loss,val_map_at_r\n"
        "0,1,1.0,\n0,2,0.8,\n0,2,,0.30\n1,3,0.6,\n1,3,,0.45\n1,4,nan,\n"
    )
    series = plots.read_training_log(log)
    assert series["train_loss"] == [(0.0, 1.0), (0.0, 0.8), (1.0, 0.6)]
    assert series["val_map_at_r"] == [(0.0, 0.30), (1.0, 0.45)]
    out = plots.training_curves(series, tmp_path / "curves.png")
    assert _is_png(out)


@pytest.mark.parametrize("n,method", [(2, "auto"), (12, "auto"), (40, "auto"), (12, "pca")])
def test_projection_shapes_and_map(tmp_path, n, method):
    rng = np.random.default_rng(0)
    v = rng.standard_normal((n, 8)).astype(np.float32)
    pts = plots.project_2d(v, method=method)
    assert pts.shape == (n, 2) and np.isfinite(pts).all()
    labels = [("Horror",) if i % 2 else ("Comedy", "Drama") for i in range(n)]
    assert _is_png(plots.embedding_map(pts, labels, tmp_path / "map.png"))


def test_projection_rejects_bad_shape():
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        plots.project_2d(np.zeros(5, np.float32))


def test_bars(tmp_path):
    per_genre = {"Horror": {"map_at_r": 0.6, "queries": 3}, "Comedy": {"map_at_r": 0.4, "queries": 2}}
    base = {"random": {"Horror": {"map_at_r": 0.2}, "Comedy": {"map_at_r": 0.1}}}
    assert _is_png(plots.per_genre_bars(per_genre, tmp_path / "g.png", baselines=base))
    overall = {"trained": {"map_at_r": 0.5, "precision_at_1": 0.7}, "random": {"map_at_r": 0.1, "precision_at_1": 0.3}}
    assert _is_png(plots.baseline_bars(overall, tmp_path / "b.png"))


def test_html_is_self_contained_and_escapes(tmp_path):
    fig = plots.baseline_bars({"trained": {"map_at_r": 0.5}}, tmp_path / "b.png")
    doc = {
        "split": "test",
        "metrics": {"map_at_r": 0.5, "precision_at_1": 0.6, "precision_at_10": 0.4, "ndcg_at_10": 0.55},
        "baselines": {"random": {"map_at_r": 0.1, "precision_at_1": 0.2, "precision_at_10": 0.2, "ndcg_at_10": 0.2}},
        "per_genre": {"Horror": {"map_at_r": 0.7, "queries": 3}},
    }
    thumb = np.full((64, 64, 3), 200, np.uint8)
    ex = Example("a", "<script>x</script>", ("Horror",), thumb, [Neighbour("b", "B & C", ("Horror",), 0.91, ("Horror",), thumb)])
    page = render_html(doc, figures={"bars": fig}, examples=[ex])
    assert "<script>x</script>" not in page and "&lt;script&gt;" in page
    assert "B &amp; C" in page
    # every image is inlined: no reference to a file or the network
    srcs = re.findall(r"src=['\"]([^'\"]+)", page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "0.500" in page and "0.100" in page and "random" in page
