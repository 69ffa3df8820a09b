"""Which towers and which fusion: today's model (frames + spectrogram ConvNet, concatenation) against
plot text, the frozen aisfx audio expert and the transformer fusion, side by side in one run.

On the demo corpus (``reelmatch demo``'s 200 generated trailers, their plot-like
text from :func:`reelmatch.samples.corpus._plot`: a weak, noisy genre signal, not the
label) plus the real clips of ``../shared/devdata`` when present (no genres, no
plots), for each corpus seed and training seed:

* each variant is trained as ``reelmatch demo`` trains (12 frozen-backbone epochs,
  best epoch by the ``val`` split), then the ``test`` split's trailers query each
  other: MAP@R of the fused embedding and of each tower alone (relevant = shares a genre);
* **devdata**: the real clips embedded by the same model (no plot: the text is missing
  for them, as for any video without a plot) query each other, relevant = same
  ``film`` of the MANIFEST: does a model trained on the synthetic corpus keep telling
  real films apart (MAP@R over the clips whose film has at least two clips).

Prints mean ± sd over the runs and writes the per-run figures as JSON.

    nice .venv/bin/python benchmarks/modalities.py
    nice .venv/bin/python benchmarks/modalities.py --corpus-seeds 0 --seeds 0 --variants today text
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import statistics
import sys
import time
from pathlib import Path

import numpy as np

VARIANTS = {
    "today": {"text": None},  # frames + spectrogram ConvNet, concatenation (the model before issue 15)
    "text": {},  # + the plot-text tower (the catalogue's plots)
    "aisfx": {"text": None, "audio_encoder": "aisfx"},  # the audio expert instead of the ConvNet
    "text+aisfx": {"audio_encoder": "aisfx"},
    "text+transformer": {"fusion": "transformer"},
    "text+aisfx+transformer": {"audio_encoder": "aisfx", "fusion": "transformer"},
    "text, plot dropout 0.5": {"text_dropout": 0.5},
    "text, minilm-layers": {"text": "minilm-layers"},  # layers 3-6 of MiniLM as the text input (docs/model.md)
}
DEFAULT_DEVDATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "devdata"


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/reelmatch-bench-modalities"),
                   help="workspaces are built (once) and reused here")
    p.add_argument("--items", type=int, default=200, help="generated trailers per corpus (default 200, as the demo)")
    p.add_argument("--corpus-seeds", type=int, nargs="+", default=[0, 1], help="generated corpora (default 0 1)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="training seeds (default 0 1)")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--devdata", type=Path, default=DEFAULT_DEVDATA, help="real clips with a MANIFEST.tsv (film)")
    p.add_argument("--epochs", type=int, default=12, help="training epochs (default 12, as the demo)")
    p.add_argument("--json", type=Path, default=None, help="write the per-run figures here")
    return p


def _film_labels(devdata: Path) -> dict[str, str]:
    """file name -> film, from devdata's MANIFEST.tsv (clips without a film are left out)."""
    out = {}
    with open(devdata / "MANIFEST.tsv", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row.get("film"):
                out[row["file"]] = row["film"]
    return out


def build(workdir: Path, items: int, corpus_seed: int, devdata: Path | None, say):
    """The demo's workspace for one corpus seed: imported, extracted, frame features cached (once)."""
    from reelmatch.demo import DemoConfig, clip_config_for, prepare_corpus
    from reelmatch.extract import run_extract
    from reelmatch.train.features import FeaturesConfig, compute_features
    from reelmatch.workspace import Workspace

    root = workdir / f"corpus{corpus_seed}-{items}"
    ws = Workspace(root) if (root / "workspace.json").exists() else Workspace.init(root)
    cfg = DemoConfig(items=items, seed=corpus_seed, devdata=devdata if devdata and devdata.is_dir() else None)
    prepare_corpus(ws, cfg, say)
    clip = clip_config_for(cfg)
    t0 = time.perf_counter()
    rep = run_extract(ws, clip)
    compute_features(ws, config=FeaturesConfig(), clip_config=clip)
    say(f"corpus {corpus_seed}: {rep.get('done', 0)} clips extracted now, features cached ({time.perf_counter() - t0:.0f} s)")
    return ws, clip


def evaluate_variant(ws, clip, variant: dict, seed: int, epochs: int, films: dict[str, str]) -> dict:
    from reelmatch.evaluate.embeddings import model_towers
    from reelmatch.evaluate.metrics import retrieval_metrics
    from reelmatch.evaluate.run import held_out
    from reelmatch.train import TrainConfig, run_train

    t0 = time.perf_counter()
    run_train(ws, TrainConfig(epochs=epochs, seed=seed, **variant), clip_config=clip)
    seconds = time.perf_counter() - t0
    ids, labels = held_out(ws, "test", clip_config=clip)
    towers = model_towers(ws, ids, clip_config=clip)
    out = {"train_seconds": round(seconds, 1), "test_items": len(ids)}
    for name in ("fused", "visual", "audio", "text"):
        v = towers.get(name)
        if v is not None and v.shape[1]:
            out[name] = retrieval_metrics(v, labels)["map_at_r"]
    real = [it for it in ws.catalog.items() if it.media_path and Path(it.media_path).name in films]
    counts: dict[str, int] = {}
    for it in real:
        counts[films[Path(it.media_path).name]] = counts.get(films[Path(it.media_path).name], 0) + 1
    real = [it for it in real if counts[films[Path(it.media_path).name]] >= 2]
    if len(real) >= 2:
        from reelmatch.dataset.store import ClipStore

        with ClipStore(ws, clip) as store:
            real = [it for it in real if it.id in store]
        dv = model_towers(ws, [it.id for it in real], clip_config=clip)
        out["devdata_film"] = retrieval_metrics(dv["fused"], [(films[Path(it.media_path).name],) for it in real])["map_at_r"]
        out["devdata_clips"] = len(real)
    return out


def _fmt(xs: list[float]) -> str:
    if not xs:
        return "-"
    return f"{statistics.mean(xs):.3f} ± {statistics.stdev(xs):.3f}" if len(xs) > 1 else f"{xs[0]:.3f}"


def main(args) -> int:
    import os

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    films = _film_labels(args.devdata) if args.devdata and (args.devdata / "MANIFEST.tsv").exists() else {}
    runs = []
    t0 = time.perf_counter()
    for cs in args.corpus_seeds:
        ws, clip = build(args.workdir, args.items, cs, args.devdata if films else None, say)
        for seed in args.seeds:
            for name in args.variants:
                r = evaluate_variant(ws, clip, VARIANTS[name], seed, args.epochs, films)
                r.update(variant=name, corpus_seed=cs, seed=seed)
                runs.append(r)
                say(f"corpus {cs} seed {seed} {name:<24} " + "  ".join(
                    f"{k} {r[k]:.3f}" for k in ("fused", "visual", "audio", "text", "devdata_film") if k in r))
    print(f"\nheld-out MAP@R, {len(args.corpus_seeds)} corpora x {len(args.seeds)} training seeds "
          f"({args.items} generated trailers each{', + devdata clips' if films else ''}); "
          f"{time.perf_counter() - t0:.0f} s wall, load {os.getloadavg()[0]:.1f}")
    cols = ("fused", "visual", "audio", "text", "devdata_film")
    print(f"{'variant':<24} " + " ".join(f"{c:>15}" for c in cols) + f" {'train s':>8}")
    for name in args.variants:
        rs = [r for r in runs if r["variant"] == name]
        print(f"{name:<24} " + " ".join(f"{_fmt([r[c] for r in rs if c in r]):>15}" for c in cols)
              + f" {statistics.mean(r['train_seconds'] for r in rs):>8.1f}")
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
