"""Training benchmark: per-epoch time with the backbone recomputed vs the feature cache.

Side by side in one run, on the same generated corpus and the same model:

* **recompute**: a frozen-backbone epoch that reads clip records and runs the
  backbone on every real frame of every batch (what training costs without a cache);
* **cache**: the same epoch reading the per-frame features that ``reelmatch features``
  stored once (``reelmatch.train.FeatureCache``), as ``reelmatch train`` does in
  frozen phases.

Both run the real training step (``TwoTowerModule.training_step``: semi-hard
triplets on the fused, visual and audio embeddings, AdamW), class-balanced
batches, the same seed. ``--rounds`` alternate which side goes first; the
median epoch time of each side is printed, wall-clock and CPU (this process,
all threads: on a machine shared with other jobs the wall clock mostly measures
the others), with the one-time cost of building the cache, and the ratios last
(target >= 20x). One torch thread by default, so both sides measure work rather
than thread scheduling.

    .venv/bin/python benchmarks/train.py                      # 48 items, 224 px, K=10
    .venv/bin/python benchmarks/train.py --items 96 --size 160 --backbone efficientnet_lite0
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, default=48, help="generated trailers (default 48)")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each trailer (default 10 s)")
    p.add_argument("--size", type=int, default=224, help="frame size S of the clips (default 224, the recipe)")
    p.add_argument("--frames", type=int, default=10, help="frames per clip K (default 10, the recipe)")
    p.add_argument("--backbone", default="efficientnet_lite0", help="frame backbone (default efficientnet_lite0)")
    p.add_argument("--batch-size", type=int, default=32, help="batch size (default 32, as reelmatch train)")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds of one epoch per side (default 2)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--workdir", type=Path, default=None, help="keep the corpus and workspace here (default: a temp dir)")
    return p


def prepare(root: Path, args):
    from reelmatch.extract import ClipConfig, run_extract
    from reelmatch.ingest import import_manifest
    from reelmatch.samples.corpus import generate_corpus
    from reelmatch.workspace import Workspace

    manifest = generate_corpus(root / "corpus", n_items=args.items, seconds=args.seconds, size=max(args.size, 64), seed=0)
    ws = Workspace.init(root / "ws")
    import_manifest(ws, manifest)
    cfg = ClipConfig(start=0, window=args.seconds, num_frames=args.frames, interval=args.seconds / args.frames,
                     size=args.size, n_mels=64, spec_frames=256)
    rep = run_extract(ws, cfg, workers=2)
    if rep["failed"]:
        raise SystemExit(f"extraction failed for {rep['failed']} items")
    return ws


def main(args) -> int:
    import torch

    from reelmatch.dataset.store import ClipStore
    from reelmatch.model import ModelConfig, TwoTower
    from reelmatch.train import FeatureCache, FeaturesConfig, TrainConfig, compute_features
    from reelmatch.train.data import BalancedBatchSampler, ClipDataset, FeatureDataset, collate_labelled, labelled_items
    from reelmatch.train.module import TwoTowerModule

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    torch.set_num_threads(args.threads)
    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="reelmatch-bench-train-")
        root = Path(tmp.name)
    else:
        root = args.workdir
        root.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    ws = prepare(root, args)
    print(f"corpus: {args.items} trailers of {args.seconds:g} s, clips K={args.frames} S={args.size} "
          f"({time.perf_counter() - t:.1f} s to generate and extract)", file=sys.stderr)

    fcfg = FeaturesConfig(backbone=args.backbone)
    t = time.perf_counter()
    rep = compute_features(ws, config=fcfg)
    cache_build = time.perf_counter() - t
    cache = FeatureCache(ws, fcfg)
    store = ClipStore(ws)
    items = labelled_items(ws, sorted(store.ids()))
    config = TrainConfig(backbone=args.backbone, epochs=2, batch_size=args.batch_size)
    torch.manual_seed(0)
    model = TwoTower(ModelConfig(backbone=args.backbone, spectrogram=store.config.spectrogram,
                                 num_genres=len(items.vocabulary)))
    module = TwoTowerModule(model, config)
    module.phases = (config.schedule()[1],)  # the triplet phase, backbone frozen
    model.lock(0)
    datasets = {"recompute": ClipDataset(store, items), "cache": FeatureDataset(cache, items)}
    frames = int(sum(store.get(i).mask.sum() for i in items.ids))

    def epoch(kind: str) -> tuple[float, float]:
        torch.manual_seed(1)
        model.train()
        opt = module.configure_optimizers()
        sampler = BalancedBatchSampler(items.genres, config.batch_size, config.per_genre, seed=0)
        loader = torch.utils.data.DataLoader(datasets[kind], batch_sampler=sampler, collate_fn=collate_labelled)
        t0, c0 = time.perf_counter(), time.process_time()
        for batch in loader:
            loss = module.training_step(batch, 0)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return time.perf_counter() - t0, time.process_time() - c0

    epoch("cache")  # warm-up (allocator, first-call costs) for both sides
    epoch("recompute")
    times: dict[str, list[tuple[float, float]]] = {"recompute": [], "cache": []}
    for r in range(args.rounds):
        order = ("recompute", "cache") if r % 2 == 0 else ("cache", "recompute")
        for kind in order:
            times[kind].append(epoch(kind))
    store.close()
    ws.close()
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in times.items()}
    print(f"backbone {args.backbone}, {len(items)} labelled training items, {frames} real frames per epoch, "
          f"batch {args.batch_size}, torch threads {args.threads}, rounds {args.rounds}")
    print(f"one-time feature cache build: {cache_build:.2f} s wall ({rep['done']} clips)")
    print(f"{'side':<12}{'epoch wall s':>14}{'epoch CPU s':>14}   all (wall/CPU)")
    for kind in ("recompute", "cache"):
        w, c = med[kind]
        print(f"{kind:<12}{w:>14.3f}{c:>14.3f}   " + " ".join(f"{a:.2f}/{b:.2f}" for a, b in times[kind]))
    print(f"epoch wall-time ratio recompute/cache: {med['recompute'][0] / med['cache'][0]:.1f}x")
    print(f"epoch CPU-time ratio recompute/cache: {med['recompute'][1] / med['cache'][1]:.1f}x")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
