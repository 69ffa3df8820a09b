"""The self-supervised cross-modal phase: the loss against a slow reference, the recall metric
against brute force, the phase in the schedule and the CLI, and training on tiny generated
catalogues without labels (a ``self-supervised`` model that embed, build and evaluate use)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")

from reelmatch.extract import ClipConfig  # noqa: E402

TINY_CLIP = ClipConfig(start=0.0, window=1.0, num_frames=2, interval=0.5, size=32, n_mels=16, spec_frames=32)


def tiny_train_config(**kw):
    from reelmatch.train import TrainConfig

    fields = dict(backbone="tiny", pretrained=False, hidden=16, audio_dim=8, embed_dim=16, batch_size=8, per_genre=2,
                  seed=1)
    fields.update(kw)
    return TrainConfig(**fields)


# ---------------------------------------------------------------------------------- the loss


def _reference_infonce(a, b, scale):
    """Slow symmetric InfoNCE: per row, -log softmax of its own column (and of its own row)."""
    unit = lambda x: [v / math.sqrt(sum(w * w for w in x)) for v in x]  # noqa: E731
    a = [unit(x) for x in a.tolist()]
    b = [unit(x) for x in b.tolist()]
    n = len(a)
    sims = [[scale * sum(p * q for p, q in zip(a[i], b[j])) for j in range(n)] for i in range(n)]
    rows = [-(sims[i][i] - math.log(sum(math.exp(s) for s in sims[i]))) for i in range(n)]
    cols = [-(sims[j][j] - math.log(sum(math.exp(sims[i][j]) for i in range(n)))) for j in range(n)]
    return (sum(rows) / n + sum(cols) / n) / 2


def test_infonce_matches_a_slow_reference_and_respects_presence():
    from reelmatch.train.contrastive import CrossModalInfoNCE

    g = torch.Generator().manual_seed(0)
    v, a, f = (torch.randn(6, 5, generator=g) for _ in range(3))
    loss_fn = CrossModalInfoNCE(temperature=0.1)
    has_audio = torch.tensor([True, True, False, True, False, True])
    loss, parts = loss_fn({"visual": v, "audio": a, "fused": f}, {"audio": has_audio})
    assert set(parts) == {"visual-audio", "visual-fused", "audio-fused"}
    rows = has_audio.numpy()
    want = {"visual-audio": _reference_infonce(v[rows], a[rows], 10.0),
            "visual-fused": _reference_infonce(v, f, 10.0),
            "audio-fused": _reference_infonce(a[rows], f[rows], 10.0)}
    for k, w in want.items():
        assert float(parts[k].detach()) == pytest.approx(w, rel=1e-5), k
    assert float(loss.detach()) == pytest.approx(sum(want.values()) / 3, rel=1e-5)
    loss.backward()  # the temperature is learned
    assert loss_fn.logit_scale.grad is not None and float(loss_fn.logit_scale.grad) != 0.0
    # aligned views give a lower loss than unrelated ones
    aligned, _ = loss_fn({"visual": v, "audio": v + 0.01 * a})
    assert float(aligned.detach()) < float(parts["visual-audio"].detach())


def test_infonce_skips_pairs_with_fewer_than_two_shared_rows():
    from reelmatch.train.contrastive import CrossModalInfoNCE

    v, a = torch.randn(4, 3), torch.randn(4, 3)
    loss, parts = CrossModalInfoNCE()({"visual": v, "audio": a}, {"audio": torch.tensor([False, True, False, False])})
    assert parts == {} and float(loss) == 0.0
    with pytest.raises(ValueError, match="temperature"):
        CrossModalInfoNCE(temperature=0.0)


def test_cross_modal_recall_matches_brute_force():
    from reelmatch.evaluate.metrics import cross_modal_recall

    rng = np.random.default_rng(3)
    q = rng.standard_normal((30, 8)).astype(np.float32)
    g = q + rng.standard_normal((30, 8)).astype(np.float32) * 1.2
    got = cross_modal_recall(q, g, ks=(1, 5, 10))
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    gn = g / np.linalg.norm(g, axis=1, keepdims=True)
    ranks = []
    for i in range(30):
        sims = [float(qn[i] @ gn[j]) for j in range(30)]
        ranks.append(1 + sum(1 for j in range(30) if j != i and sims[j] >= sims[i]))
    for k in (1, 5, 10):
        assert got[f"recall_at_{k}"] == pytest.approx(sum(r <= k for r in ranks) / 30)
        assert got[f"chance_at_{k}"] == pytest.approx(k / 30)
    assert got["mrr"] == pytest.approx(np.mean([1 / r for r in ranks]))
    assert cross_modal_recall(q, q)["recall_at_1"] == 1.0
    with pytest.raises(ValueError, match="matching"):
        cross_modal_recall(q, g[:5])


# ---------------------------------------------------------------------------------- the schedule


def test_the_phase_in_the_schedule_and_the_cli():
    from reelmatch.cli.cmd_train import add_arguments, config_from_args
    from reelmatch.errors import InputError
    from reelmatch.train import DEFAULT_PHASES, Phase, TrainConfig
    from reelmatch.train.config import with_ssl

    phases = with_ssl(DEFAULT_PHASES, 5)
    assert phases[0].loss == "cross_modal" and phases[0].epochs == 5 and phases[1:] == DEFAULT_PHASES
    assert with_ssl(phases, 0) == DEFAULT_PHASES and with_ssl(phases, 3)[0].epochs == 3
    cfg = TrainConfig(epochs=3, phases=phases)
    assert [p.loss for p in cfg.schedule()] == ["cross_modal", "classify", "triplet"]
    assert cfg.self_supervised_phases() == (phases[0],)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg  # stored in checkpoints, read back by build
    assert TrainConfig().to_dict() == TrainConfig(phases=DEFAULT_PHASES).to_dict()  # defaults untouched
    with pytest.raises(InputError, match="cross_modal, classify, triplet"):
        Phase("x", 1, "contrastive", 1e-3)
    import argparse

    p = argparse.ArgumentParser()
    add_arguments(p)
    got = config_from_args(p.parse_args(["--ssl-epochs", "7", "--epochs", "4"]))
    assert [(q.loss, q.epochs) for q in got.schedule()] == [("cross_modal", 7), ("classify", 1), ("triplet", 3)]


# ---------------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def unlabelled_ws(tmp_path_factory):
    """24 generated 1 s 32x32 trailers (3 genres, 2 visual sources each, 3 silent), extracted, genres removed."""
    from reelmatch.extract import run_extract
    from reelmatch.ingest import import_manifest
    from reelmatch.samples.corpus import generate_corpus
    from reelmatch.workspace import Workspace

    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("ssl")
    manifest = generate_corpus(root / "corpus", n_items=24, seconds=1.0, size=32, seed=3, visual_sources=2,
                               genres=("Action", "Comedy", "Horror"), two_genre=0.0, ads=0.0, no_audio=0.12)
    ws = Workspace.init(root / "ws")
    import_manifest(ws, manifest)
    truth = {it.id: tuple(it.genres) for it in ws.catalog.items()}
    for i in truth:
        ws.catalog.update_fields(i, genres=[])
    assert run_extract(ws, TINY_CLIP, workers=1)["failed"] == 0
    yield ws, truth
    ws.close()


def test_generated_sources_have_one_sound_per_genre_and_several_looks(tmp_path):
    import csv

    from reelmatch.samples.corpus import generate_corpus, source_looks

    looks = source_looks(("Action", "Drama"), 3, seed=0)
    assert len({(s.background, s.shape) for s in looks.values()}) == 6
    assert {s.pitch for (g, _), s in looks.items() if g == "Action"} == {looks[("Action", 0)].pitch}
    m = generate_corpus(tmp_path, n_items=6, seconds=0.5, size=16, seed=0, visual_sources=3,
                        genres=("Action", "Drama"), two_genre=0.0, ads=0.0)
    rows = list(csv.DictReader(open(m)))
    assert all(r["source"].split("/")[0] == r["genres"] for r in rows)


def test_unlabelled_catalogue_trains_a_self_supervised_model(unlabelled_ws):
    from reelmatch.embed import EmbedConfig, load_embeddings, run_embed
    from reelmatch.embed.embedder import embedder_for
    from reelmatch.model.checkpoint import current_checkpoint, read_config
    from reelmatch.train import run_train
    from reelmatch.train.config import with_ssl

    ws, _ = unlabelled_ws
    best = run_train(ws, tiny_train_config(phases=with_ssl((), 12)), clip_config=TINY_CLIP)
    meta = read_config(best)
    assert meta["training"] == "self-supervised" and meta["genres"] == [] and meta["model"]["num_genres"] == 0
    assert [p["loss"] for p in meta["phases"]] == ["cross_modal"]
    assert current_checkpoint(ws) == best
    done = json.loads((best.parent / "done.json").read_text())
    assert done["best_map_at_r"] is None and 0 < done["best_cross_modal_mrr"] <= 1
    import csv

    rows = [r for r in csv.DictReader(open(best.parent / "logs" / "metrics.csv")) if r.get("train_cross_modal_loss")]
    assert len(rows) == 12
    first, last = float(rows[0]["train_cross_modal_loss"]), float(rows[-1]["train_cross_modal_loss"])
    assert last < first - 0.1, (first, last)  # it learns
    assert 0 <= float(rows[-1]["val_audio_to_frames_recall_at_10"]) <= 1
    # embed: the vectors say which kind of model made them, and new files are embedded the same way
    run_embed(ws, EmbedConfig(batch_size=8), clip_config=TINY_CLIP)
    emb = load_embeddings(ws)
    assert emb.meta["mode"] == "self-supervised" and len(emb) == 24
    assert embedder_for(ws, emb.meta).fingerprint == emb.meta["model_fingerprint"]


def test_the_trained_towers_align(unlabelled_ws):
    """Audio -> frames retrieval over the catalogue's clips: the trained towers beat the untrained ones and chance."""
    from reelmatch.dataset.store import ClipStore
    from reelmatch.dataset.torch import collate
    from reelmatch.model import TwoTower
    from reelmatch.model.checkpoint import load
    from reelmatch.train import run_train
    from reelmatch.train.config import with_ssl
    from reelmatch.train.module import cross_modal_metrics

    ws, _ = unlabelled_ws
    # the self-supervised run of the test above (done already when it ran: then this returns at once)
    best = run_train(ws, tiny_train_config(phases=with_ssl((), 12)), clip_config=TINY_CLIP)
    store = ClipStore(ws, TINY_CLIP)
    clips = [store.get(i) for i in sorted(store.ids())]
    store.close()
    model, meta = load(best)
    torch.manual_seed(0)
    fresh = TwoTower(model.config).eval()

    def towers(m):
        with torch.inference_mode():
            out = m.encode_towers(collate(clips))
        return {k: out[k].numpy() for k in ("visual", "audio")} | {"has_audio": np.array([c.has_audio for c in clips])}

    trained, untrained = cross_modal_metrics(towers(model)), cross_modal_metrics(towers(fresh))
    n = int(sum(c.has_audio for c in clips))
    assert trained["cross_modal_mrr"] > untrained["cross_modal_mrr"] + 0.1, (trained, untrained)
    assert trained["audio_to_frames_recall_at_1"] > 1 / n  # chance


def test_partial_labels_train_ssl_then_supervised(unlabelled_ws, tmp_path):
    from reelmatch.model.checkpoint import read_config
    from reelmatch.train import DEFAULT_PHASES, run_train
    from reelmatch.train.config import with_ssl

    ws, truth = unlabelled_ws
    labelled = sorted(truth)[:12]
    try:
        for i in labelled:
            ws.catalog.update_fields(i, genres=list(truth[i]))
        best = run_train(ws, tiny_train_config(epochs=2, phases=with_ssl(DEFAULT_PHASES, 2)), clip_config=TINY_CLIP)
        meta = read_config(best)
        assert meta["training"] == "self-supervised + supervised"
        assert [p["loss"] for p in meta["phases"]] == ["cross_modal", "classify", "triplet"]
        assert meta["ssl_items"] > meta["train_items"]  # unlabelled clips take part in the cross-modal phase
        assert meta["model"]["num_genres"] == len({g for i in labelled for g in truth[i]})
        # without the phase: a plain supervised model, its config.json as before (no "training" key)
        plain = run_train(ws, tiny_train_config(epochs=2), clip_config=TINY_CLIP)
        assert "training" not in read_config(plain)
    finally:
        for i in labelled:
            ws.catalog.update_fields(i, genres=[])


def test_cli_train_without_labels(unlabelled_ws, cli):
    ws, _ = unlabelled_ws
    r = cli("-w", ws.root, "train", "--ssl-epochs", "2", "--backbone", "tiny", "--embed-dim", "16", "--batch-size", "8",
            "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "self-supervised model" in r.stderr and "cross-modal MRR" in r.stderr, r.stderr


def test_build_and_evaluate_on_an_unlabelled_catalogue(unlabelled_ws, cli):
    from reelmatch.embed import load_embeddings
    from reelmatch.pipeline import BuildConfig, run_build
    from reelmatch.train.config import with_ssl

    ws, _ = unlabelled_ws
    config = BuildConfig(clip=TINY_CLIP, train=tiny_train_config(phases=with_ssl((), 3)), workers=0)
    report = run_build(ws, config)
    train = report.by_name("train")
    assert train.status in ("ran", "up to date") and "self-supervised" in train.summary
    assert load_embeddings(ws).meta["mode"] == "self-supervised"
    ev = report.by_name("evaluate")
    assert ev.status == "ran" and "cross-modal recall@10" in ev.summary, ev.summary
    r = cli("-w", ws.root, "evaluate", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    xm = doc["cross_modal"]
    assert doc["metrics"] == {} and xm["items"] >= 2 and xm["chance_at_10"] == pytest.approx(min(10, xm["items"]) / xm["items"])
    assert 0 <= xm["audio_to_frames"]["recall_at_1"] <= xm["audio_to_frames"]["recall_at_10"] <= 1
    assert "Cross-modal retrieval" in (ws.dir("reports") / "report.html").read_text()
