"""Label efficiency: held-out MAP@R with 0/10/30/100 % of the training labels, with and without
the self-supervised cross-modal phase, for full audio-visual and for video-only queries.

One run, same seeds, same items: a generated corpus where each genre has its own
sound and its pictures come from several unlike-looking sources
(``generate_corpus(visual_sources=3)``), so pretrained frame features group the
sources, not the genres, and only the sound ties a genre's sources together. The
corpus is extracted and its EfficientNet-Lite0 features cached once; then, for each
fraction f of the training split's labels (nested subsets, seeded):

* **supervised only**: ``reelmatch train`` with the labelled fraction (warm-up + triplets);
* **self-supervised + supervised**: the same, after ``--ssl-epochs`` of the cross-modal
  phase on every training clip (labelled or not);
* at 0 %: the pretrained fallback (what an unlabelled catalogue gets without SSL:
  mean-pooled frame features + a log-mel descriptor) vs the self-supervised model alone.

No label outside the chosen fraction is seen in training: the held-out splits (val +
test) have their labels removed from the catalogue while training, so no epoch is
chosen by held-out labels (the final model is kept; a model trained without labels
keeps its best held-out cross-modal MRR epoch, which uses no labels). Then every
held-out trailer queries the others (relevant = shares a genre):

* **audio-visual**: the fused embedding of each clip as it is;
* **video-only**: every held-out clip embedded without its soundtrack (a silent clip, a
  commercial muted): the picture has to carry the genre alone.

Self-supervised models also get their held-out cross-modal recall (audio -> frames,
frames -> audio; chance = k / items).

    nice .venv/bin/python benchmarks/label_efficiency.py                 # 240 items: 22 min wall at load ~10 on 2 cores
    nice .venv/bin/python benchmarks/label_efficiency.py --items 120 --fractions 0 0.1 1
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, default=240, help="generated trailers (default 240)")
    p.add_argument("--seconds", type=float, default=4.0, help="length of each trailer (default 4 s)")
    p.add_argument("--size", type=int, default=64, help="frame size of the clips (default 64)")
    p.add_argument("--frames", type=int, default=4, help="frames per clip K (default 4)")
    p.add_argument("--sources", type=int, default=3, help="unlike-looking visual sources per genre (default 3)")
    p.add_argument("--fractions", type=float, nargs="+", default=[0.0, 0.1, 0.3, 1.0],
                   help="fractions of the training labels (default 0 0.1 0.3 1)")
    p.add_argument("--ssl-epochs", type=int, default=20, help="epochs of the cross-modal phase (default 20)")
    p.add_argument("--epochs", type=int, default=12,
                   help="supervised epochs with all labels (1 warm-up + N-1 triplet); with a fraction f of the labels "
                        "ceil(N / f) epochs, so every run takes about the same number of steps (default 12)")
    p.add_argument("--backbone", default="efficientnet_lite0", help="frame backbone (default efficientnet_lite0)")
    p.add_argument("--seed", type=int, default=0, help="corpus, label subsets and training seed (default 0)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--workdir", type=Path, default=None, help="keep the corpus and workspace here (default: a temp dir)")
    p.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    return p


def prepare(root: Path, args):
    """Generated corpus -> workspace with clips and cached features; returns (ws, clip config, features config)."""
    from reelmatch.extract import ClipConfig, run_extract
    from reelmatch.ingest import import_manifest
    from reelmatch.samples.corpus import generate_corpus
    from reelmatch.train.features import FeaturesConfig, compute_features
    from reelmatch.workspace import Workspace

    manifest = generate_corpus(root / "corpus", n_items=args.items, seconds=args.seconds, size=args.size,
                               seed=args.seed, visual_sources=args.sources, two_genre=0.0, no_audio=0.0, ads=0.0)
    ws_dir = root / "ws"
    ws = Workspace(ws_dir) if (ws_dir / "catalog.db").exists() else Workspace.init(ws_dir)
    import_manifest(ws, manifest)
    cfg = ClipConfig(start=0, window=args.seconds, num_frames=args.frames, interval=args.seconds / args.frames,
                     size=args.size, n_mels=32, spec_frames=64)
    rep = run_extract(ws, cfg, workers=2)
    if rep["failed"]:
        raise SystemExit(f"extraction failed for {rep['failed']} items")
    fcfg = FeaturesConfig(backbone=args.backbone)
    compute_features(ws, config=fcfg, clip_config=cfg)
    return ws, cfg, fcfg


def embed_cached(model, records, *, silent: bool) -> np.ndarray:
    """Fused embeddings float32 [N, E] of cached feature records (``silent``: as clips without audio)."""
    import torch

    from reelmatch.dataset.torch import collate_features

    out = []
    with torch.inference_mode():
        for s in range(0, len(records), 64):
            batch = collate_features(records[s : s + 64])
            if silent:
                batch["has_audio"] = torch.zeros_like(batch["has_audio"])
            out.append(model.encode(batch).float().numpy())
    return np.concatenate(out)


def towers_cached(model, records) -> dict[str, np.ndarray]:
    from reelmatch.dataset.torch import collate_features
    from reelmatch.train.module import embed_tower_batches

    return embed_tower_batches(model, (collate_features(records[s : s + 64]) for s in range(0, len(records), 64)))


def fallback(records, *, silent: bool) -> np.ndarray:
    """The pretrained fallback of an untrained catalogue (``BackboneEmbedder``): mean-pooled frame features,
    fused with the log-mel descriptor (none when ``silent``), from the same cached backbone features."""
    from reelmatch.embed.embedder import audio_descriptor, fuse, l2_normalise

    visual = l2_normalise(np.stack([np.asarray(r["features"], np.float32)[np.asarray(r["mask"], bool)].mean(0)
                                    for r in records]))
    audio = np.stack([audio_descriptor(r["spectrogram"], bool(r["has_audio"]) and not silent) for r in records])
    return fuse(visual, audio, 0.25)


def main(args) -> int:
    import torch

    from reelmatch.dataset.store import ClipStore
    from reelmatch.evaluate.metrics import retrieval_metrics
    from reelmatch.model.checkpoint import load
    from reelmatch.train import DEFAULT_PHASES, FeatureCache, TrainConfig, run_train
    from reelmatch.train.config import with_ssl
    from reelmatch.train.module import cross_modal_metrics

    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("lightning").setLevel(logging.ERROR)
    torch.set_num_threads(args.threads)
    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="reelmatch-bench-ssl-")
        root = Path(tmp.name)
    else:
        root = args.workdir
        root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    ws, clip_cfg, fcfg = prepare(root, args)
    t_prep = time.perf_counter() - t0
    store = ClipStore(ws, clip_cfg)
    splits = store.splits()
    store.close()
    truth = {it.id: tuple(it.genres) for it in ws.catalog.items() if it.genres}
    train_ids = sorted(i for i, s in splits.items() if s == "train" and i in truth)
    held = sorted(i for i, s in splits.items() if s in ("val", "test") and i in truth)
    cache = FeatureCache(ws, fcfg, clip_cfg)
    held_records = [cache.get(i) for i in held]
    held_labels = [truth[i] for i in held]
    order = list(np.random.default_rng([args.seed, 11]).permutation(train_ids))
    print(f"corpus: {args.items} trailers of {args.seconds:g} s, {len(set(g for v in truth.values() for g in v))} "
          f"genres x {args.sources} visual sources; {len(train_ids)} training and {len(held)} held-out (val+test) "
          f"trailers; clips K={args.frames} S={args.size}; prepared in {t_prep:.0f} s", file=sys.stderr)

    def set_labels(labelled: set[str]) -> None:
        for i, g in truth.items():
            ws.catalog.update_fields(i, genres=list(g) if i in labelled else [])

    def score(v) -> float:
        return float(retrieval_metrics(v, [list(x) for x in held_labels], k=10)["map_at_r"])

    results = []
    for f in args.fractions:
        n_lab = int(round(f * len(train_ids)))
        labelled = set(order[:n_lab])
        set_labels(labelled)
        row = {"fraction": f, "labelled": n_lab}
        for ssl in (False, True):
            key = "ssl" if ssl else "supervised"
            t = time.perf_counter()
            if n_lab == 0 and not ssl:
                av, vo, xm, mode = fallback(held_records, silent=False), fallback(held_records, silent=True), None, "fallback"
            else:
                epochs = max(2, math.ceil(args.epochs / max(f, 1e-9))) if n_lab else None
                phases = with_ssl(DEFAULT_PHASES, args.ssl_epochs if ssl else 0)
                cfg = TrainConfig(backbone=args.backbone, epochs=epochs, phases=phases, seed=args.seed)
                best = run_train(ws, cfg, clip_config=clip_cfg)
                model, meta = load(best)
                mode = meta.get("training", "supervised")
                av, vo = embed_cached(model, held_records, silent=False), embed_cached(model, held_records, silent=True)
                xm = cross_modal_metrics(towers_cached(model, held_records)) if ssl else None
            row[key] = {"mode": mode, "map_at_r_av": score(av), "map_at_r_video_only": score(vo),
                        "seconds": round(time.perf_counter() - t, 1)}
            if xm:
                row[key]["cross_modal"] = xm
            print(f"labels {f:>4.0%} ({n_lab:>3}) {key:<10} {mode:<28} MAP@R AV {row[key]['map_at_r_av']:.3f} "
                  f"video-only {row[key]['map_at_r_video_only']:.3f}  ({row[key]['seconds']:.0f} s)", file=sys.stderr)
        results.append(row)
    set_labels(set(truth))
    ws.close()
    if args.json is not None:  # first: a table that fails to print loses no measurement
        args.json.write_text(json.dumps({"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                                         "held_out": len(held), "train": len(train_ids), "results": results}, indent=1))

    print(f"\nheld-out MAP@R ({len(held)} trailers, val+test; relevant = shares a genre), "
          f"{len(train_ids)} training trailers, SSL {args.ssl_epochs} epochs, supervised {args.epochs} epochs at 100 %")
    print("| labels | queries | without SSL | with SSL | difference |")
    print("|---|---|---|---|---|")
    for row in results:
        for q, name in (("map_at_r_av", "audio-visual"), ("map_at_r_video_only", "video-only")):
            a, b = row["supervised"][q], row["ssl"][q]
            base = " (pretrained fallback)" if row["supervised"]["mode"] == "fallback" else ""
            ratio = f"{b / a:.2f}x" if a > 0 else "-"
            print(f"| {row['fraction']:.0%} ({row['labelled']}) | {name} | {a:.3f}{base} | {b:.3f} | {b - a:+.3f} "
                  f"({ratio}) |")
    print("\ncross-modal retrieval of the self-supervised models on the held-out trailers (recall; chance = k/items):")
    print("| labels | audio->frames R@1 | R@10 | frames->audio R@1 | R@10 | chance R@1 | chance R@10 |")
    print("|---|---|---|---|---|---|---|")
    n = len(held)
    for row in results:
        xm = row["ssl"].get("cross_modal")
        if xm:
            print(f"| {row['fraction']:.0%} | {xm['audio_to_frames_recall_at_1']:.3f} | "
                  f"{xm['audio_to_frames_recall_at_10']:.3f} | {xm['frames_to_audio_recall_at_1']:.3f} | "
                  f"{xm['frames_to_audio_recall_at_10']:.3f} | {1 / n:.3f} | {min(10, n) / n:.3f} |")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s wall")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
