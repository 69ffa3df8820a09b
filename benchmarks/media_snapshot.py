"""Are the media readers' outputs unchanged? Snapshot them on real files, then compare two snapshots.

For refactors of decoding code: run ``snapshot`` with the old code and with the
new (``PYTHONPATH`` picks the tree), then ``compare``. A snapshot holds, per
file, the clip arrays (frames, mask, timestamps, spectrogram) of three clip
configs and the clip metadata, ``probe_video``'s result, a hash of
``sample_frames`` (dedupe) and of the server's ``video_frame``; failures are
kept as their messages.

    PYTHONPATH=OLD/src python benchmarks/media_snapshot.py snapshot /tmp/before [--files DIR]
    PYTHONPATH=NEW/src python benchmarks/media_snapshot.py snapshot /tmp/after
    python benchmarks/media_snapshot.py compare /tmp/before /tmp/after

``--files`` defaults to the shared devdata folder (``$REELMATCH_DEVDATA``, else
``<repo>/../shared/devdata``). Prints the differences and one summary line;
exit status 1 when anything differs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np


def configs():
    from reelmatch.extract.config import ClipConfig

    return {
        "default": ClipConfig(),
        "recipe_keyframe": ClipConfig.recipe(sampling="keyframe", num_frames=6, interval=3.0, start=1.0),
        "short_dense": ClipConfig(start=0.0, window=10.0, num_frames=8, interval=1.2, size=112),
    }


def _digest(*arrays) -> str:
    return hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)).hexdigest()


def snapshot(out: Path, folder: Path) -> int:
    from reelmatch.dedupe.frames import sample_frames
    from reelmatch.errors import InputError
    from reelmatch.extract.clip import extract_clip
    from reelmatch.ingest.probe import probe_video
    from reelmatch.serve.pictures import video_frame

    out.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix not in (".tsv", ".md"))
    summary = {}
    for f in files:
        for name, cfg in configs().items():
            try:
                c = extract_clip(f, cfg, threads=1)
            except InputError as e:
                summary[f"{f.name}|{name}"] = {"error": str(e)}
                continue
            np.savez(out / f"{f.name}.{name}.npz", frames=c.frames, mask=c.mask, ts=c.timestamps, spec=c.spectrogram)
            summary[f"{f.name}|{name}"] = {"meta": c.meta}
        for name, read in (("probe", lambda p: repr(probe_video(p))),
                           ("dedupe", lambda p: _digest(*sample_frames(p, max_seconds=20))),
                           ("serve", lambda p: _digest(video_frame(p)))):
            try:
                summary[f"{f.name}|{name}"] = read(f)
            except Exception as e:  # noqa: BLE001 - a failure is part of the snapshot
                summary[f"{f.name}|{name}"] = f"ERROR {type(e).__name__}: {e}"
    (out / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True, default=str))
    print(f"{len(files)} files, {len(summary)} entries -> {out}")
    return 0


def compare(a: Path, b: Path) -> int:
    sa = json.loads((a / "summary.json").read_text())
    sb = json.loads((b / "summary.json").read_text())
    diff = [k for k in sorted(set(sa) | set(sb)) if sa.get(k) != sb.get(k)]
    for k in diff:
        print(f"DIFF {k}\n  {a}: {sa.get(k)}\n  {b}: {sb.get(k)}")
    names = sorted({p.name for p in a.glob("*.npz")} | {p.name for p in b.glob("*.npz")})
    same = 0
    for n in names:
        if not (a / n).exists() or not (b / n).exists():
            print(f"MISSING {n}")
            continue
        x, y = np.load(a / n), np.load(b / n)
        if set(x.files) == set(y.files) and all(
                np.array_equal(x[k], y[k], equal_nan=x[k].dtype.kind == "f") for k in x.files):
            same += 1
        else:
            print(f"ARRAYS DIFFER {n}")
    print(f"{same}/{len(names)} clips bit-identical (frames, mask, timestamps, spectrogram); "
          f"{len(sa) - len(diff)}/{len(sa)} summary entries identical")
    return 0 if same == len(names) and not diff else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("snapshot", help="write a snapshot of every reader's output")
    s.add_argument("out", type=Path)
    s.add_argument("--files", type=Path, default=None, help="folder of media files (default: the shared devdata)")
    c = sub.add_parser("compare", help="compare two snapshots")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "compare":
        return compare(args.a, args.b)
    folder = args.files
    if folder is None:
        from reelmatch.demo import default_devdata_dir

        folder = default_devdata_dir()
        if folder is None:
            ap.error("no devdata folder: pass --files DIR")
    return snapshot(args.out, folder)


if __name__ == "__main__":
    sys.exit(main())
