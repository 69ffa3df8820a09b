"""How far the default (keyframe) sampling takes frames from the sampling instants, on real clips.

For every video in a folder (default ``../shared/devdata``, read in place) one
clip is extracted with the default config (the last keyframe before each
instant, and the exact frame when the previous instant took that keyframe) and
with exact sampling; printed per file: frames taken, how many instants took
their exact frame because their keyframe was taken already, and the distance
instant - frame time (mean / max) of both, then over all files. The instants
are those of the given timing (``--start/--window/--frames/--interval``; the
defaults are the recipe's, 5 s + 12 s apart, which short clips barely reach:
``--short`` uses 0 s start and 10 frames spread over each clip instead).

    .venv/bin/python benchmarks/sampling.py                 # ../shared/devdata
    .venv/bin/python benchmarks/sampling.py --short DIR
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

VIDEO = {".mp4", ".webm", ".mkv", ".mov", ".avi", ".mpg", ".mpeg", ".ogv"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", nargs="?", type=Path,
                    default=Path(__file__).resolve().parents[2] / "shared" / "devdata")
    ap.add_argument("--short", action="store_true", help="10 instants spread over each whole clip")
    args = ap.parse_args(argv)

    from reelmatch.extract import ClipConfig, extract_clip
    from reelmatch.extract.timestamps import plan_samples
    from reelmatch.media import duration, open_media, video_stream

    files = sorted(p for p in args.folder.iterdir() if p.suffix.lower() in VIDEO)
    if not files:
        print(f"no videos in {args.folder}", file=sys.stderr)
        return 2
    all_key, all_exact, same = [], [], 0
    print(f"{'file':40} {'frames':>6} {'= exact frame':>15} {'keyframe: mean/max s':>21} {'exact: mean/max s':>18}")
    for p in files:
        config = ClipConfig()
        if args.short:
            try:
                with open_media(p) as c:
                    d = duration(c, video_stream(c), from_start=True) or 10.0
            except Exception as e:  # noqa: BLE001 - a file that does not open is listed and skipped
                print(f"{p.name[:40]:40} cannot open: {e}")
                continue
            config = dataclasses.replace(config, start=0.0, window=d, interval=d / 10)
        try:
            key = extract_clip(p, config, threads=1)
            exact = extract_clip(p, dataclasses.replace(config, sampling="exact"), threads=1)
        except Exception as e:  # noqa: BLE001
            print(f"{p.name[:40]:40} failed: {e}")
            continue
        targets = np.array(plan_samples(config, key.meta.get("duration")).targets)
        m = key.mask & exact.mask
        n = min(len(targets), len(m))
        m = m[:n]
        dk = (targets[:n] - key.timestamps[:n])[m]
        de = (targets[:n] - exact.timestamps[:n])[m]
        fallbacks = int(np.sum(np.isclose(key.timestamps[:n][m], exact.timestamps[:n][m]) & (dk > 0)))
        same += int(len(set(key.timestamps[key.mask].round(4))) < key.num_valid)
        all_key.append(dk)
        all_exact.append(de)
        print(f"{p.name[:40]:40} {int(m.sum()):>6} {fallbacks:>15} {dk.mean():>10.2f} / {dk.max():<8.2f}"
              f" {de.mean():>8.2f} / {de.max():.2f}")
    k, e = np.concatenate(all_key), np.concatenate(all_exact)
    print(f"\nall {len(k)} frames of {len(all_key)} files: keyframe sampling {k.mean():.2f} s before the instant on"
          f" average (median {np.median(k):.2f}, 90th percentile {np.percentile(k, 90):.2f}, max {k.max():.2f});"
          f" exact {e.mean():.3f} s (max {e.max():.3f}); files with two instants on one frame: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
