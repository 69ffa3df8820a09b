"""Lightning DDP training: 2 CPU processes (gloo) through run_train give a usable checkpoint."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")


@pytest.fixture(scope="module")
def small_ws(tmp_path_factory):
    """24 generated 2 s 64x64 trailers (several genres), extracted."""
    from reelmatch.extract import ClipConfig, run_extract
    from reelmatch.ingest import import_manifest
    from reelmatch.samples.corpus import generate_corpus
    from reelmatch.workspace import Workspace

    root = tmp_path_factory.mktemp("ddp")
    manifest = generate_corpus(root / "corpus", n_items=24, seconds=2.0, size=64, seed=1)
    ws = Workspace.init(root / "ws")
    import_manifest(ws, manifest)
    rep = run_extract(ws, ClipConfig(start=0, window=2.0, num_frames=4, interval=0.5, size=64, n_mels=32, spec_frames=64),
                      workers=2)
    assert rep["failed"] == 0
    yield ws
    ws.close()


@pytest.mark.slow
def test_ddp_two_cpu_processes_gloo_checkpoint_loads_and_embeds(small_ws):
    import torch.distributed as dist

    from reelmatch.dataset.store import ClipStore
    from reelmatch.embed.embedder import ModelEmbedder
    from reelmatch.model.checkpoint import current_checkpoint, load
    from reelmatch.train import TrainConfig, run_train
    from reelmatch.train.data import labelled_items

    assert dist.is_gloo_available()
    ws = small_ws
    config = TrainConfig(backbone="tiny", epochs=2, batch_size=8, per_genre=2, val_splits=("val", "test"), seed=1)
    best = run_train(ws, config, devices=2, strategy="ddp_fork")
    assert current_checkpoint(ws) == best
    model, meta = load(best)
    assert meta["devices"] == 2 and meta["num_nodes"] == 1
    # each of the 2 processes took its half of every epoch's batches: the optimizer
    # stepped half as often as one process would have (the resume state says so)
    store = ClipStore(ws)
    n_train = len(labelled_items(ws, store.ids("train")))
    batches = max(1, math.ceil(n_train / config.batch_size))
    state = torch.load(best.parent / "lightning" / "last.ckpt", map_location="cpu", weights_only=False)
    assert state["global_step"] == config.epochs * max(1, batches // 2), (state["global_step"], batches)
    # the checkpoint embeds clips: unit vectors, the same through the embed stage's embedder
    clips = [store.get(i) for i in store.ids()[:6]]
    out = ModelEmbedder(best).embed(clips)
    v = out["fused"]
    assert v.shape == (6, model.config.embed_dim) and np.isfinite(v).all()
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert len({tuple(np.round(r, 4)) for r in v}) > 1  # not a constant map
    store.close()
