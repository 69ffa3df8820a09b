"""The aisfx audio expert on real clips: throughput, and whether copies of the same video sound alike.

Every video of a folder (default ``../shared/devdata``) goes into a scratch
workspace and through :func:`reelmatch.audioexpert.update_audio_expert_features`
(decoding in the local engine's process pool, the CNN in this process), timed:
clips/s and seconds of sound per second (one run, the machine's torch threads;
the ``uptime`` load is printed next to it: this machine is shared).

Then same-video retrieval by sound: each clip with usable sound whose MANIFEST
``group`` (copies of the same footage: re-encodes, cuts) has another member with
sound queries all the others; relevant = same group; clips without a group are
distractors. MAP@R as ``reelmatch evaluate`` computes it
(:func:`reelmatch.evaluate.metrics.retrieval_metrics`), per group and overall,
side by side on the same clips for:

* random unit vectors (mean of ``--seeds`` draws);
* the mean and standard deviation over time of aisfx's own log-mel input
  (192-d, no learning: what the spectrum alone gives);
* the aisfx embeddings.

    .venv/bin/python benchmarks/audio_expert.py
    .venv/bin/python benchmarks/audio_expert.py ../shared/devdata --window 30 --block-hop 100
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

DEFAULT_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "devdata"


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("videos", nargs="?", type=Path, default=DEFAULT_DIR, help="folder of videos (default ../shared/devdata)")
    p.add_argument("--start", type=float, default=0.0, help="clip window start, seconds (default 0: whole short clips)")
    p.add_argument("--window", type=float, default=125.0, help="clip window length, seconds (default 125, the recipe's)")
    p.add_argument("--block-hop", type=int, default=50, help="aisfx block hop in frames (default 50, aisfx's own)")
    p.add_argument("--workers", type=int, default=None, help="decoding processes (default: usable CPUs)")
    p.add_argument("--seeds", type=int, default=20, help="random-vector draws for the baseline (default 20)")
    return p


def read_groups(folder: Path) -> dict[str, str]:
    """file name -> MANIFEST ``group`` ('' when none or no MANIFEST)."""
    p = folder / "MANIFEST.tsv"
    if not p.exists():
        return {}
    with open(p, newline="") as f:
        return {r["file"]: (r.get("group") or "").strip() for r in csv.DictReader(f, delimiter="\t") if r.get("file")}


def by_group(vectors: np.ndarray, groups: list[str]) -> dict[str, float]:
    """MAP@R overall and per group (queries: clips whose group has another member)."""
    from reelmatch.evaluate.metrics import retrieval_metrics

    labels = [(g,) if g else () for g in groups]
    m = retrieval_metrics(vectors, labels, per_query=True)
    per = m["per_query"]["map_at_r"]
    out = {"all": float(np.nanmean(per)) if np.isfinite(per).any() else float("nan")}
    for g in sorted({g for g in groups if g}):
        vals = [per[i] for i, gi in enumerate(groups) if gi == g and np.isfinite(per[i])]
        if vals:
            out[g] = float(np.mean(vals))
    return out


def main(args) -> int:
    from reelmatch.audioexpert import AudioExpertConfig, update_audio_expert_features
    from reelmatch.audioexpert.cache import audio_expert_cache_path, read_audio_expert_cache
    from reelmatch.audioexpert.encoder import create_aisfx_encoder
    from reelmatch.audioexpert.source import expert_input
    from reelmatch.extract.config import ClipConfig
    from reelmatch.ingest import add_paths
    from reelmatch.workspace import Workspace

    folder = args.videos.resolve()
    if not folder.is_dir():
        print(f"no folder {folder}: nothing to measure (devdata is optional)", file=sys.stderr)
        return 0
    groups_of = read_groups(folder)
    clip = ClipConfig(start=args.start, window=args.window)
    cfg = AudioExpertConfig(block_hop=args.block_hop)
    encoder = create_aisfx_encoder(batch_size=cfg.batch_size)
    with tempfile.TemporaryDirectory(prefix="aisfx-bench-") as tmp, Workspace.init(Path(tmp) / "ws") as ws:
        rep = add_paths(ws, [folder])
        items = {it.id: it for it in ws.catalog.items()}
        print(f"{len(items)} videos of {folder} ({len(rep.errors)} not added)")
        for e in rep.errors:
            print(f"  not added: {e}")
        load = os.getloadavg()[0]
        res = update_audio_expert_features(ws, cfg, clip_config=clip, encoder=encoder, workers=args.workers)
        print(f"aisfx (block hop {cfg.block_hop}, window {clip.start:g}+{clip.window:g} s): {res.embedded} clips with "
              f"sound embedded in {res.seconds:.1f} s = {res.embedded / res.seconds:.2f} clips/s, "
              f"{res.audio_seconds / res.seconds:.0f} s of sound per s ({res.audio_seconds:.0f} s in all); "
              f"{res.missing} without usable audio, {res.failed} failed; load {load:.1f} -> {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} CPUs")
        rows = read_audio_expert_cache(audio_expert_cache_path(ws, cfg, clip))
        for i, (_, status, reason, _) in sorted(rows.items(), key=lambda r: Path(items[r[0]].media_path).name):
            if status != "ok":
                print(f"  {status:8s} {Path(items[i].media_path).name}: {reason}")
        ok = sorted((i for i, r in rows.items() if r[1] == "ok"), key=lambda i: Path(items[i].media_path).name)
        names = [Path(items[i].media_path).name for i in ok]
        groups = [groups_of.get(n, "") for n in names]
        aisfx = np.stack([rows[i][3] for i in ok])
        spectra = []
        for i in ok:
            spec = expert_input((i, str(ws.media_file(items[i]))), clip_config=clip).spec
            spectra.append(np.concatenate([spec.mean(axis=0), spec.std(axis=0)]))
        spectrum = np.stack(spectra).astype(np.float32)
        spectrum -= spectrum.mean(axis=0)  # centred, so cosine compares shapes, not the common offset
    rng = np.random.default_rng(0)
    rand = defaultdict(list)
    for _ in range(args.seeds):
        for k, v in by_group(rng.standard_normal(aisfx.shape).astype(np.float32), groups).items():
            rand[k].append(v)
    table = {"random": {k: float(np.mean(v)) for k, v in rand.items()},
             "log-mel mean+std": by_group(spectrum, groups), "aisfx": by_group(aisfx, groups)}
    counts = {g: groups.count(g) for g in set(groups) if g}
    cols = ["all", *sorted(k for k in table["aisfx"] if k != "all")]
    print(f"\nsame-video retrieval by sound, MAP@R ({len(ok)} clips with sound, "
          f"{sum(1 for g in groups if g and counts[g] > 1)} queries in {sum(1 for c in counts.values() if c > 1)} groups):")
    print(f"{'':18s}" + "".join(f"{c + (f' ({counts[c]})' if c in counts else ''):>22s}" for c in cols))
    for name, row in table.items():
        print(f"{name:18s}" + "".join(f"{row.get(c, float('nan')):22.3f}" for c in cols))
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
