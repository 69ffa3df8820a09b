"""``reelmatch extract``'s own start-up: the whole command on an up-to-date workspace (nothing to do).

Prints the median wall time and CPU of ``reelmatch -w WS extract`` over runs (the
interpreter, the imports, the catalogue and clip store opened, no pool started since
nothing is to do), the import time of that path by ``python -X importtime``, which
heavy modules it loaded (none of torch, faiss, av, sentence_transformers, scipy
should), and the machine's load (``uptime``): the machine is shared, so read the
figure with the load next to it. Target (issue 18): under 0.5 s.

    python benchmarks/startup.py [--runs 7] [--items 3]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("torch", "faiss", "av", "sentence_transformers", "scipy", "ray", "lightning", "PIL", "cv2")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--items", type=int, default=3)
    args = ap.parse_args(argv)
    from reelmatch.samples.media import moving_box_frames, tone, write_video

    with tempfile.TemporaryDirectory(prefix="rm-startup-") as tmp:
        tmp = Path(tmp)
        ws = tmp / "ws"
        rm = [sys.executable, "-m", "reelmatch", "-w", str(ws)]
        subprocess.run([*rm, "init"], check=True, capture_output=True)
        paths = [str(write_video(tmp / f"m{i}.mp4", seconds=3, fps=8, width=48, height=32,
                                 frames=moving_box_frames(48, 32, color=(40 * i % 255, 90, 200)), audio=tone(300 + 50 * i)))
                 for i in range(args.items)]
        subprocess.run([*rm, "add", *paths], check=True, capture_output=True)
        cmd = [*rm, "extract", "--no-progress", "--frames", "4", "--interval", "0.6", "--start", "0"]
        subprocess.run(cmd, check=True, capture_output=True, timeout=300)  # now up to date
        walls, cpus = [], []
        for _ in range(args.runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            walls.append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            if r.returncode or "0 done" not in r.stderr:
                print(r.stderr, file=sys.stderr)
                return 1
        imp = subprocess.run([sys.executable, "-X", "importtime", *cmd[1:]], capture_output=True, text=True, timeout=120)
        top = [int(m.group(1)) for m in re.finditer(r"import time:\s+\d+ \|\s+(\d+) \| \S", imp.stderr)]
        names = {m.group(1).split(".")[0] for m in re.finditer(r"\| +(\S+)\s*$", imp.stderr, re.M)}
        heavy = sorted(h for h in HEAVY if h in names)
    print(f"reelmatch extract, up to date ({args.items} items), {args.runs} runs:"
          f" wall median {statistics.median(walls):.3f} s (min {min(walls):.3f}, max {max(walls):.3f}),"
          f" CPU median {statistics.median(cpus):.3f} s")
    print(f"imports (python -X importtime, top level): {sum(top) / 1e6:.3f} s; heavy modules loaded: {heavy or 'none'}")
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), f"({os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
