"""``reelmatch extract``'s own start-up: the whole command with nothing to do, and with one tiny item to do.

Prints the median wall time and CPU of ``reelmatch -w WS extract`` over runs:

* on an up-to-date workspace (the interpreter, the imports, the catalogue and clip
  store opened, no pool started since nothing is to do), with the import time of
  that path by ``python -X importtime`` and which heavy modules it loaded (none of
  torch, faiss, av, sentence_transformers, scipy should);
* on a fresh workspace of one tiny video (3 s, 48x32) to extract, with the default
  ``--workers``: the imports, the worker pool (fork server, resource tracker,
  workers) and one item, CPU of every process the command started (this process
  is a child subreaper, so a fork server outliving the command is counted too).

and the machine's load (``uptime``): the machine is shared, so read the figures
with the load next to them. Target (issue 18): under 0.5 s.

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

from _children import become_subreaper, reap_descendants

def timed(cmd: list[str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """``(wall s, CPU s of every process it started, result)`` of ``cmd`` run to the end of its last descendant."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    reap_descendants()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, r


HEAVY = ("torch", "faiss", "av", "sentence_transformers", "scipy", "ray", "lightning", "PIL", "cv2")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--items", type=int, default=3)
    args = ap.parse_args(argv)
    from reelmatch.samples.media import moving_box_frames, tone, write_video

    become_subreaper()
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
        fresh_walls, fresh_cpus = [], []
        for i in range(args.runs):
            wall, cpu, r = timed(cmd)
            walls.append(wall)
            cpus.append(cpu)
            if r.returncode or "0 done" not in r.stderr:
                print(r.stderr, file=sys.stderr)
                return 1
            fresh = [sys.executable, "-m", "reelmatch", "-w", str(tmp / f"fresh{i}")]
            subprocess.run([*fresh, "init"], check=True, capture_output=True)
            subprocess.run([*fresh, "add", paths[0]], check=True, capture_output=True)
            wall, cpu, r = timed([*fresh, *cmd[len(rm):]])
            fresh_walls.append(wall)
            fresh_cpus.append(cpu)
            if r.returncode or "1 done" not in r.stderr:
                print(r.stderr, file=sys.stderr)
                return 1
        imp = subprocess.run([sys.executable, "-X", "importtime", *cmd[1:]], capture_output=True, text=True, timeout=120)
        top = [int(m.group(1)) for m in re.finditer(r"import time:\s+\d+ \|\s+(\d+) \| \S", imp.stderr)]
        names = {m.group(1).split(".")[0] for m in re.finditer(r"\| +(\S+)\s*$", imp.stderr, re.M)}
        heavy = sorted(h for h in HEAVY if h in names)
    print(f"reelmatch extract, up to date ({args.items} items), {args.runs} runs:"
          f" wall median {statistics.median(walls):.3f} s (min {min(walls):.3f}, max {max(walls):.3f}),"
          f" CPU median {statistics.median(cpus):.3f} s")
    print(f"reelmatch extract, one tiny item to do (fresh workspace, pool started), {args.runs} runs:"
          f" wall median {statistics.median(fresh_walls):.3f} s (min {min(fresh_walls):.3f},"
          f" max {max(fresh_walls):.3f}), CPU of every process median {statistics.median(fresh_cpus):.3f} s")
    print(f"imports (python -X importtime, top level): {sum(top) / 1e6:.3f} s; heavy modules loaded: {heavy or 'none'}")
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), f"({os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
