"""Text-only genre retrieval on held-out TMDB titles, and plot-encoding throughput.

Titles of a TMDB plots file (default ``../shared/plots/tmdb_dev.csv``:
``tmdb_id,title,year,genres,plot``) are split by title: the text tower is trained
on ``--train-fraction`` of them, and the others (titles added after training)
query each other: relevant = shares a genre, MAP@R as ``reelmatch evaluate``
computes it (:func:`reelmatch.evaluate.metrics.retrieval_metrics`). Side by side
on the same held-out titles, for ``--seeds`` splits:

* random vectors;
* TF-IDF of the plot (fit on the training titles);
* all-MiniLM-L6-v2 sentence embeddings, no training (the frozen encoder);
* the text tower: the frozen encoder + a trainable projection
  (:class:`reelmatch.model.text.TextTower`), trained as ``reelmatch train``
  trains the towers: a multi-label classification warm-up, then semi-hard
  triplets with multi-genre positives (:mod:`reelmatch.train.mining`);
* the same, warm-up only.

It also prints the encoder's throughput in plots/s over every plot of the file
(one process, the machine's torch threads; ``uptime`` load printed next to it).

    .venv/bin/python benchmarks/text.py
    .venv/bin/python benchmarks/text.py --plots ../shared/plots/tmdb_dev.csv --seeds 5
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

DEFAULT_PLOTS = Path(__file__).resolve().parents[1] / ".." / "shared" / "plots" / "tmdb_dev.csv"


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--plots", type=Path, default=DEFAULT_PLOTS, help="CSV with title, genres (A|B) and plot columns")
    p.add_argument("--seeds", type=int, default=3, help="train/held-out splits (default 3)")
    p.add_argument("--train-fraction", type=float, default=2 / 3, help="titles used for training (default 2/3)")
    p.add_argument("--epochs", type=int, default=40, help="text tower epochs (default 40: 10 warm-up, 30 triplet)")
    p.add_argument("--encoder", default="minilm", help="text encoder name (reelmatch.text.list_text_encoders())")
    return p


def read_plots(path: Path) -> tuple[list[str], list[tuple[str, ...]]]:
    from reelmatch.text.encoder import plot_text

    texts, labels = [], []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            text = plot_text(row.get("plot") or row.get("overview"))
            genres = tuple(g.strip() for g in (row.get("genres") or "").split("|") if g.strip())
            if text and genres:
                texts.append(text)
                labels.append(genres)
    return texts, labels


def train_text_tower(x: np.ndarray, labels: list[tuple[str, ...]], *, epochs: int, seed: int, triplet: bool = True):
    """A TextTower trained on float32 x [N, D] with genre labels; returns ``embed(x) -> float32 [M, E]``."""
    import torch
    import torch.nn.functional as F
    from pytorch_metric_learning.distances import LpDistance
    from pytorch_metric_learning.losses import TripletMarginLoss

    from reelmatch.model.text import TextTower
    from reelmatch.train.mining import MultiLabelTripletMiner

    torch.manual_seed(seed)
    vocab = sorted({g for lab in labels for g in lab})
    y = torch.tensor([[g in lab for g in vocab] for lab in labels], dtype=torch.float32)
    xt = torch.tensor(x, dtype=torch.float32)
    tower = TextTower(x.shape[1], 256)
    head = torch.nn.Linear(256, len(vocab))
    opt = torch.optim.AdamW(list(tower.parameters()) + list(head.parameters()), lr=1e-3, weight_decay=1e-2)
    distance = LpDistance(normalize_embeddings=True)
    miner, loss_fn = MultiLabelTripletMiner(0.2, distance), TripletMarginLoss(margin=0.2, distance=distance)
    warmup = epochs // 4 if triplet else epochs
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        tower.train()
        order = torch.randperm(len(xt), generator=gen)
        for b in range(0, len(order), 128):
            idx = order[b : b + 128]
            z = tower(xt[idx])
            if epoch < warmup:
                loss = F.binary_cross_entropy_with_logits(head(z), y[idx])
            else:
                trip = miner(z, y[idx] > 0)
                if len(trip[0]) == 0:
                    continue
                loss = loss_fn(z, indices_tuple=trip)
            opt.zero_grad()
            loss.backward()
            opt.step()
    tower.eval()

    def embed(v: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return F.normalize(tower(torch.tensor(v, dtype=torch.float32)), dim=1).numpy()

    return embed


def main(args) -> int:
    if not args.plots.is_file():
        print(f"skipped: no plots file at {args.plots} (give --plots FILE)")
        return 0
    from sklearn.feature_extraction.text import TfidfVectorizer

    from reelmatch.evaluate.metrics import retrieval_metrics
    from reelmatch.text import create_text_encoder

    texts, labels = read_plots(args.plots)
    print(f"{len(texts)} titles with a plot and genres from {args.plots}")
    enc = create_text_encoder(args.encoder)
    t0, c0 = time.perf_counter(), time.process_time()
    x = enc.encode(texts)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    load = os.getloadavg()[0]
    print(f"encoding ({args.encoder}): {len(texts) / wall:.1f} plots/s wall, {len(texts) / cpu:.1f} plots per CPU-s "
          f"({enc.truncated} cut to {enc.max_tokens} tokens; load average {load:.1f} on {os.cpu_count()} cores)")

    methods = ("random", "tfidf", f"{args.encoder} (no training)", "text tower (warm-up only)", "text tower")
    scores: dict[str, list[float]] = {m: [] for m in methods}
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        perm = rng.permutation(len(texts))
        n_train = int(round(len(texts) * args.train_fraction))
        tr, te = perm[:n_train], perm[n_train:]
        lab_tr, lab_te = [labels[i] for i in tr], [labels[i] for i in te]
        tfidf = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=2).fit([texts[i] for i in tr])
        got = {
            "random": rng.normal(size=(len(te), 64)),
            "tfidf": tfidf.transform([texts[i] for i in te]).toarray(),
            f"{args.encoder} (no training)": x[te],
            "text tower (warm-up only)": train_text_tower(x[tr], lab_tr, epochs=args.epochs, seed=seed, triplet=False)(x[te]),
            "text tower": train_text_tower(x[tr], lab_tr, epochs=args.epochs, seed=seed)(x[te]),
        }
        for m in methods:
            scores[m].append(retrieval_metrics(got[m], lab_te)["map_at_r"])
        print(f"seed {seed}: {len(tr)} training titles, {len(te)} held-out: "
              + ", ".join(f"{m} {scores[m][-1]:.3f}" for m in methods), flush=True)
    print(f"\nheld-out text-only genre retrieval, MAP@R (mean ± sd over {args.seeds} splits):")
    for m in methods:
        v = scores[m]
        sd = statistics.stdev(v) if len(v) > 1 else 0.0
        print(f"  {m:32s} {statistics.mean(v):.3f} ± {sd:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
