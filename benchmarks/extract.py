"""Extraction benchmark: the recipe's two-ffmpeg-process method vs ``reelmatch extract``.

Side by side in one run, on the same 720p H.264/AAC trailers of ~150 s:

* **recipe**: the method as published, per trailer two ffmpeg processes through
  ffmpeg-python, ``-ss 5 -t 125`` with ``scale=560:-1,crop=224:224,fps=1/12``
  (frames, raw RGB on a pipe, zero-padded to 10) and
  ``showspectrumpic=s=224x224:legend=0`` (the spectrogram picture); trailers run
  in a process pool of ``--workers`` processes (each ffmpeg also threads itself).
* **reelmatch**: ``run_extract`` in recipe mode (``ClipConfig.recipe()``) over a
  scratch workspace, ``--workers`` processes, records written to the clip store.
* also timed (``--no-extra`` skips them): the default config (fit geometry +
  log-mel, the same instants) and keyframe sampling (recipe mode at the last
  keyframe before each instant: faster, not the recipe's frames, not counted).

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
    ap.add_argument("--repeat", type=int, default=2,
                    help="each round extracts every trailer this many times on each side: a batch, so that start-up"
                         " costs (process pools, imports) weigh as they do in a real run (default 2)")
    ap.add_argument("--no-extra", action="store_true",
                    help="skip the extra measurements: the default config (fit geometry + log-mel) and keyframe"
                         " sampling (recipe mode at the last keyframe before each instant: not the recipe's frames)")
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
    batch = [p for _ in range(max(args.repeat, 1)) for p in files]
    print(f"{len(files)} trailers x {max(args.repeat, 1)} per round, {args.workers} workers per side, {os.cpu_count()} CPUs")

    from reelmatch.catalog import Item, item_id_for
    from reelmatch.dataset.store import ClipStore
    from reelmatch.extract import ClipConfig, run_extract
    from reelmatch.workspace import Workspace

    def run_recipe():
        """The recipe: two ffmpeg processes per trailer, trailers in a process pool."""
        t = time.perf_counter()
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            out = {r[0]: r[1:] for r in pool.map(recipe_extract, [str(p) for p in batch])}
        return time.perf_counter() - t, out

    def run_ours(config=ClipConfig.recipe()):
        """reelmatch: run_extract (recipe mode unless told) over a scratch workspace (records stored)."""
        with tempfile.TemporaryDirectory() as d:
            ws = Workspace.init(Path(d) / "ws")
            ids = {}
            for n, p in enumerate(batch):
                iid = item_id_for("file", f"{p}#{n}")
                ids[iid] = str(p)
                ws.catalog.upsert(Item(id=iid, title=p.stem, media_path=str(p)))
            t = time.perf_counter()
            summary = run_extract(ws, config, workers=args.workers)
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
    def run_default():
        return run_ours(ClipConfig())

    def run_keyframe():
        return run_ours(ClipConfig.recipe(sampling="keyframe"))

    sides = [run_recipe, run_ours] + ([] if args.no_extra else [run_default, run_keyframe])
    wall = {fn: 0.0 for fn in sides}
    cpu = {fn: 0.0 for fn in sides}
    outs = {}
    for r in range(args.rounds):
        this = {}
        for fn in (sides if r % 2 == 0 else sides[::-1]):
            c0 = tree_cpu()
            elapsed, outs[fn] = fn()
            time.sleep(0.3)  # let the fork server reap finished workers (their CPU lands in its cutime)
            this[fn] = (elapsed, tree_cpu() - c0)
            wall[fn] += this[fn][0]
            cpu[fn] += this[fn][1]
        (rr, cr), (ro, co) = this[run_recipe], this[run_ours]
        print(f"round {r + 1}: wall recipe {rr:.2f} s, reelmatch {ro:.2f} s ({rr / ro:.1f}x);"
              f" CPU recipe {cr:.1f} s, reelmatch {co:.1f} s ({cr / co:.1f}x)")
    recipe, clips = outs[run_recipe], outs[run_ours]

    print(f"\n{'trailer':<28} {'frames':>7} {'min frame PSNR':>15} {'spectrogram PSNR':>17}")
    worst = float("inf")
    for p in files:
        frames, n, spec = recipe[str(p)]
        c = clips[str(p)]
        if c.num_valid != n:
            print(f"{p.name}: recipe took {n} frames, reelmatch {c.num_valid}", file=sys.stderr)
            return 1
        if run_default in outs:  # the default config takes the frames at the same instants
            d = outs[run_default][str(p)]
            if not np.array_equal(d.timestamps, c.timestamps, equal_nan=True):
                print(f"{p.name}: the default config took frames at {d.timestamps}, recipe mode at {c.timestamps}",
                      file=sys.stderr)
                return 1
        fp = min(psnr(c.frames[i], frames[i]) for i in range(n)) if n else float("inf")
        sp = psnr(c.spectrogram, spec)
        worst = min(worst, fp, sp)
        print(f"{p.name[:28]:<28} {n:>7} {fp:>12.1f} dB {sp:>14.1f} dB")
    n = len(batch) * args.rounds
    names = {run_recipe: "recipe (2 ffmpeg processes/trailer):", run_ours: "reelmatch extract (recipe mode):",
             run_default: "reelmatch extract (default config):",
             run_keyframe: "reelmatch, keyframe sampling (*):"}
    print(f"\n{'':37} {'wall':>9} {'trailers/min':>13} {'CPU/trailer':>12} {'ratio wall':>11} {'ratio CPU':>10}")
    for fn in sides:
        print(f"{names[fn]:37} {wall[fn]:7.2f} s {n / wall[fn] * 60:13.1f} {cpu[fn] / n:10.2f} s"
              f" {wall[run_recipe] / wall[fn]:10.1f}x {cpu[run_recipe] / cpu[fn]:9.1f}x")
    if run_keyframe in outs:
        early = np.concatenate([(clips[str(p)].timestamps - outs[run_keyframe][str(p)].timestamps)[clips[str(p)].mask]
                                for p in files])
        print(f"(*) not the recipe's frames: the last keyframe before each instant, {early.mean():.2f} s earlier on"
              f" average (at most {early.max():.2f} s); not counted for the target")
    print(f"worst PSNR {worst:.1f} dB (target >= 30): {'ok' if worst >= 30 else 'BELOW TARGET'}")
    print(f"CPU-time ratio recipe/reelmatch (all processes, per trailer): {cpu[run_recipe] / cpu[run_ours]:.1f}x")
    print(f"throughput ratio reelmatch/recipe (wall): {wall[run_recipe] / wall[run_ours]:.1f}x (target >= 15x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
