"""Extraction benchmark: the recipe's two-ffmpeg-process method vs ``reelmatch extract``.

Side by side in one run, on the same 720p H.264/AAC trailers of ~150 s:

* **recipe**: the method as published, per trailer two ffmpeg processes through
  ffmpeg-python, ``-ss 5 -t 125`` with ``scale=560:-1,crop=224:224,fps=1/12``
  (frames, raw RGB on a pipe, zero-padded to 10) and
  ``showspectrumpic=s=224x224:legend=0`` (the spectrogram picture); trailers run
  in a process pool of ``--workers`` processes (each ffmpeg also threads itself).
* **reelmatch**: ``run_extract`` in recipe mode (``ClipConfig.recipe()``) over a
  scratch workspace, ``--workers`` processes, records written to the clip store.

Both may use every core; ``--rounds`` (2) alternate which side goes first. Wall
time and the CPU seconds of every process of each side are reported per round
and per trailer (on a shared machine wall time depends on the scheduler's split of
the cores; CPU time does not). It checks the outputs agree (same number of frames, PSNR
of each frame and of the spectrogram picture against the recipe's, target
>= 30 dB) and prints the throughput ratio last (target >= 15x).

Trailers are generated once with the ffmpeg binary and cached (``--cache``):
trailer-like content, a shot cut every 1.5-4 s as in real trailers (test
patterns, cellular automata, gradients; film-grain noise; 24 fps), stereo
music-like audio at 48 kHz, encoded with libx264 ``-preset superfast -crf 23``
(encoder defaults otherwise: B-frames, GOP 250, scene-cut keyframes) and AAC
128 kb/s. ``--no-cuts`` makes single-shot trailers instead (keyframes only every
~10 s: the worst case for seeking). ``--files`` takes your own trailers.

    .venv/bin/python benchmarks/extract.py                  # 4 generated trailers (cached after the first run)
    .venv/bin/python benchmarks/extract.py --files a.mp4 b.mp4
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np

SIZE = 224
K = 10


# ------------------------------------------------------------------ trailers
KINDS = ["testsrc2", "life", "cellauto", "gradients", "rgbtestsrc", "testsrc"]


def _segment(rng: random.Random, i: int, seconds: float, kind: str) -> str:
    d = f"{seconds:.3f}"
    if kind == "life":
        # cellular patterns are drawn small and slow and scaled up: 1-pixel noise at 720p
        # would be incompressible (~30 Mb/s), far from a real trailer's 2-3 Mb/s
        src = f"life=s=160x90:r=6:mold=10:ratio=0.{rng.randint(1, 6)}:death_color=#{rng.randint(0, 0xFFFFFF):06x}:life_color=#{rng.randint(0, 0xFFFFFF):06x},trim=duration={d},scale=1280:720:flags=bicubic,fps=24"
    elif kind == "cellauto":
        src = f"cellauto=s=320x180:r=24:rule={rng.choice([18, 30, 90, 110, 150])}:scroll=1,trim=duration={d},scale=1280:720:flags=bicubic,fps=24"
    elif kind == "gradients":
        src = f"gradients=s=1280x720:r=24:speed=0.0{rng.randint(1, 9)}:seed={rng.randint(0, 10**6)},trim=duration={d}"
    else:
        src = f"{kind}=s=1280x720:r=24:d={d}"
    hue = rng.uniform(-180, 180)
    return f"{src},format=yuv420p,hue=h={hue:.0f}+{rng.randint(5, 40)}*t,setsar=1[v{i}]"


def make_trailer(path: Path, seconds: float, seed: int, cuts: bool = True) -> Path:
    """Write one trailer-like 720p H.264/AAC file with the ffmpeg binary."""
    rng = random.Random(seed)
    shots = []
    left = seconds
    while left > 1e-3:
        s = min(rng.uniform(1.5, 4.0) if cuts else seconds, left)
        shots.append(s)
        left -= s
    kinds = [rng.choice(KINDS)]
    for _ in shots[1:]:  # a cut changes the picture: consecutive shots differ, as in a trailer
        kinds.append(rng.choice([k for k in KINDS if k != kinds[-1]]))
    graph = ";".join(_segment(rng, i, s, k) for i, (s, k) in enumerate(zip(shots, kinds)))
    graph += ";" + "".join(f"[v{i}]" for i in range(len(shots))) + f"concat=n={len(shots)}:v=1:a=0[v]"
    f1, f2, f3 = (rng.uniform(110, 440) for _ in range(3))
    audio = (
        f"aevalsrc=0.25*sin(2*PI*{f1:.1f}*t*(1+0.1*sin(t/3)))+0.15*sin(2*PI*{f2:.1f}*t)*(0.5+0.5*sin(t))"
        f"+0.1*sin(2*PI*{f3:.1f}*t)*gt(mod(t\\,2)\\,1)|0.2*sin(2*PI*{f2:.1f}*t)+0.1*sin(2*PI*{f1 * 2:.1f}*t):s=48000:d={seconds}"
        f",aformat=channel_layouts=stereo[a0];anoisesrc=d={seconds}:c=pink:r=48000:a=0.05,aformat=channel_layouts=stereo[a1];"
        f"[a0][a1]amix=inputs=2:normalize=0[a]"
    )
    tmp = path.with_name(f".{path.name}.part.mp4")
    cmd = ["ffmpeg", "-v", "error", "-y", "-filter_complex", graph + ";" + audio, "-map", "[v]", "-map", "[a]",
           "-c:v", "libx264", "-preset", "superfast", "-crf", "23", "-pix_fmt", "yuv420p",
           "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", "-t", str(seconds), str(tmp)]
    subprocess.run(cmd, check=True)
    os.replace(tmp, path)
    return path


# -------------------------------------------------------------- the recipe
def recipe_extract(path: str):
    """The published method: two ffmpeg processes through ffmpeg-python."""
    import ffmpeg

    out, _ = (
        ffmpeg.input(path, ss=5, t=125)
        .filter("scale", 560, -1)
        .filter("crop", SIZE, SIZE)
        .filter("fps", fps=1 / 12)
        .output("pipe:", format="rawvideo", pix_fmt="rgb24")
        .run(capture_stdout=True, capture_stderr=True)
    )
    frames = np.frombuffer(out, np.uint8).reshape(-1, SIZE, SIZE, 3)[:K]
    padded = np.zeros((K, SIZE, SIZE, 3), np.uint8)
    padded[: len(frames)] = frames
    out, _ = (
        ffmpeg.input(path, ss=5, t=125)
        .filter("showspectrumpic", s=f"{SIZE}x{SIZE}", legend=0)
        .output("pipe:", format="rawvideo", pix_fmt="rgb24", vframes=1)
        .run(capture_stdout=True, capture_stderr=True)
    )
    spec = np.frombuffer(out, np.uint8).reshape(SIZE, SIZE, 3)
    return path, padded, len(frames), spec


def _proc_cpu(pid: int) -> float:
    """CPU seconds of a live process and of its reaped children (/proc/PID/stat utime+stime+cutime+cstime)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def tree_cpu() -> float:
    """CPU seconds used so far by this process and every descendant, live or reaped.

    Reaped descendants count through ``RUSAGE_CHILDREN`` (the recipe's pool and
    its ffmpeg processes) or through their live parent's ``cutime`` (reelmatch's
    workers are children of the multiprocessing fork server, which stays alive).
    """
    import resource

    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime
    return total + sum(_proc_cpu(pid) for pid in _descendants(os.getpid()))


def psnr(a, b) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def main(argv=None) -> int:
    from reelmatch.engine.local import default_workers

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", nargs="*", type=Path, help="trailers to use instead of generated ones")
    ap.add_argument("--trailers", type=int, default=4, help="how many trailers to generate (default 4)")
    ap.add_argument("--seconds", type=float, default=150.0, help="length of generated trailers (default 150)")
    ap.add_argument("--no-cuts", action="store_true", help="single-shot trailers (worst case for seeking)")
    ap.add_argument("--workers", type=int, default=default_workers(), help="processes for each side (default: all cores)")
    ap.add_argument("--rounds", type=int, default=2, help="measurement rounds, alternating which side runs first (default 2)")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "reelmatch-bench-extract",
                    help="where generated trailers are kept between runs")
    args = ap.parse_args(argv)
    if shutil.which("ffmpeg") is None:
        print("the ffmpeg binary is required (the recipe's method runs it)", file=sys.stderr)
        return 2

    if args.files:
        files = [p.resolve() for p in args.files]
    else:
        args.cache.mkdir(parents=True, exist_ok=True)
        files = [args.cache / f"trailer-v3-{i}-{int(args.seconds)}s{'-nocuts' if args.no_cuts else ''}.mp4"
                 for i in range(args.trailers)]
        missing = [(i, p) for i, p in enumerate(files) if not p.exists()]
        if missing:
            t = time.perf_counter()
            print(f"generating {len(missing)} trailers into {args.cache} (once; cached)...", file=sys.stderr)
            with ThreadPoolExecutor(max_workers=max(args.workers, 1)) as pool:
                list(pool.map(lambda ip: make_trailer(ip[1], args.seconds, seed=ip[0], cuts=not args.no_cuts), missing))
            print(f"generated in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    for p in files:  # warm the page cache for both sides alike
        p.read_bytes()
    print(f"{len(files)} trailers, {args.workers} workers per side, {os.cpu_count()} CPUs")

    from reelmatch.catalog import Item, item_id_for
    from reelmatch.dataset.store import ClipStore
    from reelmatch.extract import ClipConfig, run_extract
    from reelmatch.workspace import Workspace

    def run_recipe():
        """The recipe: two ffmpeg processes per trailer, trailers in a process pool."""
        t = time.perf_counter()
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            out = {r[0]: r[1:] for r in pool.map(recipe_extract, [str(p) for p in files])}
        return time.perf_counter() - t, out

    def run_ours():
        """reelmatch: run_extract in recipe mode over a scratch workspace (records stored)."""
        with tempfile.TemporaryDirectory() as d:
            ws = Workspace.init(Path(d) / "ws")
            ids = {}
            for p in files:
                iid = item_id_for("file", str(p))
                ids[iid] = str(p)
                ws.catalog.upsert(Item(id=iid, title=p.stem, media_path=str(p)))
            t = time.perf_counter()
            summary = run_extract(ws, ClipConfig.recipe(), workers=args.workers)
            elapsed = time.perf_counter() - t
            if summary["failed"]:
                raise SystemExit(f"reelmatch failed on {summary['failures']}")
            store = ClipStore(ws)
            out = {ids[c.id]: c for c in store.iter()}
            store.close()
            ws.close()
        return elapsed, out

    # rounds alternate which side goes first (the machine may be shared and its load drift);
    # CPU seconds of the whole side (every process it started) are measured with the wall time:
    # on a shared machine wall time depends on how the scheduler splits the cores, CPU time does not
    t_recipe = t_ours = c_recipe = c_ours = 0.0
    for r in range(args.rounds):
        order = (run_recipe, run_ours) if r % 2 == 0 else (run_ours, run_recipe)
        for fn in order:
            c0 = tree_cpu()
            elapsed, out = fn()
            time.sleep(0.3)  # let the fork server reap finished workers (their CPU lands in its cutime)
            used = tree_cpu() - c0
            if fn is run_recipe:
                t_recipe += elapsed
                c_recipe += used
                recipe = out
                rr, cr = elapsed, used
            else:
                t_ours += elapsed
                c_ours += used
                clips = out
                ro, co = elapsed, used
        print(f"round {r + 1}: wall recipe {rr:.2f} s, reelmatch {ro:.2f} s ({rr / ro:.1f}x);"
              f" CPU recipe {cr:.1f} s, reelmatch {co:.1f} s ({cr / co:.1f}x)")

    print(f"\n{'trailer':<28} {'frames':>7} {'min frame PSNR':>15} {'spectrogram PSNR':>17}")
    worst = float("inf")
    for p in files:
        frames, n, spec = recipe[str(p)]
        c = clips[str(p)]
        if c.num_valid != n:
            print(f"{p.name}: recipe took {n} frames, reelmatch {c.num_valid}", file=sys.stderr)
            return 1
        fp = min(psnr(c.frames[i], frames[i]) for i in range(n)) if n else float("inf")
        sp = psnr(c.spectrogram, spec)
        worst = min(worst, fp, sp)
        print(f"{p.name[:28]:<28} {n:>7} {fp:>12.1f} dB {sp:>14.1f} dB")
    n = len(files) * args.rounds
    print(f"\n{'':37} {'wall':>9} {'trailers/min':>13} {'CPU/trailer':>12}")
    print(f"{'recipe (2 ffmpeg processes/trailer):':37} {t_recipe:7.2f} s {n / t_recipe * 60:13.1f} {c_recipe / n:10.2f} s")
    print(f"{'reelmatch extract (recipe mode):':37} {t_ours:7.2f} s {n / t_ours * 60:13.1f} {c_ours / n:10.2f} s")
    print(f"worst PSNR {worst:.1f} dB (target >= 30): {'ok' if worst >= 30 else 'BELOW TARGET'}")
    print(f"CPU-time ratio recipe/reelmatch (all processes, per trailer): {c_recipe / c_ours:.1f}x")
    print(f"throughput ratio reelmatch/recipe (wall): {t_recipe / t_ours:.1f}x (target >= 15x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
