"""Extraction benchmark: the recipe's two-ffmpeg-process method vs ``reelmatch extract``.

Side by side in one run, on the same 720p H.264/AAC trailers of ~150 s:

* **recipe**: the method as published, per trailer two ffmpeg processes through
  ffmpeg-python, ``-ss 5 -t 125`` with ``scale=560:-1,crop=224:224,fps=1/12``
  (frames, raw RGB on a pipe, zero-padded to 10) and
  ``showspectrumpic=s=224x224:legend=0`` (the spectrogram picture); trailers run
  in a process pool of ``--workers`` processes (each ffmpeg also threads itself).
* **reelmatch extract** (the default config: fit geometry, log-mel, keyframe
  sampling, JPEG records) and **reelmatch extract --recipe** (the recipe's
  frames, exact), each as one whole ``python -m reelmatch`` command over a
  scratch workspace with ``--workers`` processes, start-up included;
  ``--baseline-src`` also times the default config of another source tree.

``--rounds`` (default 1) alternate which side goes first. Wall time and the CPU
seconds of every process of each side are reported (this process is a child
subreaper, so a fork server outliving its command is counted too; on a shared
machine wall time depends on the scheduler's split of the cores). It checks that
``--recipe``'s frames and pictures are the recipe's (frame counts, PSNR; frames
bit-identical), prints how far the default config's frames fall from their
instants, and the default config's ratio to the recipe last (target >= 30x).

Trailers are generated once with the ffmpeg binary and cached (``--cache``):
trailer-like content, a shot cut every 1.5-4 s as in real trailers (test
patterns, cellular automata, gradients; film-grain noise; 24 fps), stereo
music-like audio at 48 kHz, encoded with libx264 ``-preset superfast -crf 23``
(encoder defaults otherwise: B-frames, GOP 250, scene-cut keyframes) and AAC
128 kb/s. ``--no-cuts`` makes single-shot trailers instead (keyframes only every
~10 s: the worst case for seeking). ``--files`` takes your own trailers.

    .venv/bin/python benchmarks/extract.py                  # 12 generated trailers (cached after the first run)
    .venv/bin/python benchmarks/extract.py --files a.mp4 b.mp4
    .venv/bin/python benchmarks/extract.py --baseline-src ../main/src   # also the default config of another tree
    .venv/bin/python benchmarks/extract.py --parts 4        # CPU of each part of extract_clip, in-process
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

from _children import become_subreaper, reap_descendants

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


def timed_command(cmd: list[str], env=None) -> tuple[float, float]:
    """Run ``cmd`` to the end of its last descendant: (wall s, CPU s of every process it started).

    This process is a child subreaper, so every descendant is reaped here or by
    a waiting parent, and ``RUSAGE_CHILDREN`` counts all of their CPU time.
    """
    import resource

    def cpu():
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    c0, t0 = cpu(), time.perf_counter()
    r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    reap_descendants()
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:6])}... failed: {r.stderr.strip()[-2000:]}")
    return wall, cpu() - c0


def recipe_batch(out: Path, files: list[str], workers: int) -> None:
    """The recipe as one command: its process pool over ``files``; frames and pictures saved to ``out``."""
    with ProcessPoolExecutor(max_workers=workers) as pool:
        res = list(pool.map(recipe_extract, files))
    np.savez(out, **{f"frames{i}": r[1] for i, r in enumerate(res)}, **{f"n{i}": r[2] for i, r in enumerate(res)},
             **{f"spec{i}": r[3] for i, r in enumerate(res)})


def psnr(a, b) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def parts(files: list, config, repeats: int = 3) -> dict[str, float]:
    """CPU ms per trailer of each part of ``extract_clip(config, threads=1)`` in this process (min of ``repeats``).

    open (container, streams, duration), video (the frames: seeks, decodes,
    geometry), audio decode (demux, decode, downmix, resample), log-mel, record
    encoding, and the whole ``extract_clip`` call; mean over ``files``. Also, under
    ``"legacy_logmel"``, how far the config's log-mel is from the legacy one
    (``ClipConfig.LEGACY_VALUES``' hop and resampler) on the files with audio.
    """
    import dataclasses

    from reelmatch import media
    from reelmatch.dataset.store import encode_record
    from reelmatch.extract import ClipConfig
    from reelmatch.extract.audio import decode_mono, logmel
    from reelmatch.extract.clip import _take_frames, extract_clip
    from reelmatch.extract.timestamps import plan_samples
    from reelmatch.runtime import single_threaded

    single_threaded()

    def cpu_ms(fn):
        best, out = float("inf"), None
        for _ in range(repeats):
            t = time.process_time()
            out = fn()
            best = min(best, time.process_time() - t)
        return best * 1000, out

    def opened(path, then=None):
        with media.open_media(path) as c:
            v = media.decodable_video(c, path.name, threads=1)
            t0 = media.start_time(c)
            plan = plan_samples(config, media.duration(c, v, from_start=True))
            return then(c, v, t0, plan) if then else plan

    def video(c, v, t0, plan):
        return _take_frames(c, v, t0, plan, list(range(len(plan.targets))), config, "")

    def audio(c, v, t0, plan, config=config):
        a = media.audio_stream(c)
        return (decode_mono(c, a, t0, plan.start, plan.end, config.sample_rate, config.resample_filter_size)[0]
                if a is not None else np.zeros(0, np.float32))

    legacy = dataclasses.replace(config, stft_hop=ClipConfig.LEGACY_VALUES["stft_hop"],
                                 resample_filter_size=ClipConfig.LEGACY_VALUES["resample_filter_size"])
    rows, diffs = [], []
    for path in files:
        extract_clip(path, config, threads=1)  # warm-up: codecs, filter graphs
        row = {"open": cpu_ms(lambda: opened(path))[0], "video": cpu_ms(lambda: opened(path, video))[0]}
        row["audio decode"], y = cpu_ms(lambda: opened(path, audio))
        row["log-mel"], spec = cpu_ms(lambda: logmel(y, config.sample_rate, config.n_mels, config.spec_frames,
                                                     config.stft_hop))
        row["extract_clip"], clip = cpu_ms(lambda: extract_clip(path, config, threads=1))
        row["record encode"] = cpu_ms(lambda: encode_record(clip, config))[0]
        rows.append(row)
        if legacy != config and len(y):
            y0 = opened(path, lambda *a: audio(*a, config=legacy))
            old = logmel(y0, legacy.sample_rate, legacy.n_mels, legacy.spec_frames, legacy.stft_hop)
            if len(y0) and old.std() > 0 and spec.std() > 0:
                diffs.append((float(np.abs(spec - old).max()), float(np.abs(spec - old).mean()),
                              float(np.corrcoef(spec.ravel(), old.ravel())[0, 1])))
    out = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    if diffs:
        d = np.array(diffs)
        out["legacy_logmel"] = {"files": len(d), "max_abs": (d[:, 0].min(), d[:, 0].max()),
                                "mean_abs": float(d[:, 1].mean()), "corr": (d[:, 2].min(), d[:, 2].max())}
    return out


def main(argv=None) -> int:
    from reelmatch.runtime import default_workers

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", nargs="*", type=Path, help="trailers to use instead of generated ones")
    ap.add_argument("--trailers", type=int, default=12, help="how many trailers to generate (default 12)")
    ap.add_argument("--seconds", type=float, default=150.0, help="length of generated trailers (default 150)")
    ap.add_argument("--no-cuts", action="store_true", help="single-shot trailers (worst case for seeking)")
    ap.add_argument("--workers", type=int, default=default_workers(), help="processes for each side (default: all cores)")
    ap.add_argument("--rounds", type=int, default=1, help="measurement rounds, alternating the order of the sides (default 1)")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "reelmatch-bench-extract",
                    help="where generated trailers are kept between runs")
    ap.add_argument("--baseline-src", type=Path, default=None,
                    help="also time the default config with the reelmatch of this source tree (e.g. before a change)")
    ap.add_argument("--parts", type=int, default=0, metavar="N",
                    help="only print the CPU of each part of extract_clip (default config, one thread, in this"
                         " process) on the first N trailers, min of 3 runs each, and how far its log-mel is from"
                         " the legacy one, and exit")
    ap.add_argument("--recipe-batch", type=Path, default=None, help=argparse.SUPPRESS)  # internal: the recipe side
    args, rest = ap.parse_known_args(argv)
    if args.recipe_batch is not None:
        recipe_batch(args.recipe_batch, rest, args.workers)
        return 0
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
    for p in files:  # warm the page cache for every side alike
        p.read_bytes()
    if args.parts:
        from reelmatch.extract import ClipConfig

        got = parts(files[: args.parts], ClipConfig())
        legacy = got.pop("legacy_logmel", None)
        print(f"extract_clip, default config, one thread, CPU ms per trailer (mean of {min(args.parts, len(files))}"
              f" trailers, min of 3 runs): " + ", ".join(f"{k} {v:.0f}" for k, v in got.items()))
        if legacy:
            print(f"log-mel of the default config vs the legacy log-mel (stft_hop 0.25, resample_filter_size 32)"
                  f" on {legacy['files']} files with audio: max abs diff {legacy['max_abs'][0]:.3f}-"
                  f"{legacy['max_abs'][1]:.3f}, mean abs diff {legacy['mean_abs']:.4f}, correlation"
                  f" {legacy['corr'][0]:.4f}-{legacy['corr'][1]:.4f}")
        print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
        return 0
    print(f"{len(files)} trailers, {args.workers} workers per side, {os.cpu_count()} CPUs;"
          f" each side is one whole command, start-up included")
    become_subreaper()

    from reelmatch.catalog import Item, item_id_for
    from reelmatch.dataset.store import ClipStore
    from reelmatch.extract import ClipConfig
    from reelmatch.extract.timestamps import plan_samples
    from reelmatch.workspace import Workspace

    py = sys.executable
    tmp = Path(tempfile.mkdtemp(prefix="reelmatch-bench-"))
    ids = {}

    def fresh_ws(name):
        root = tmp / name
        shutil.rmtree(root, ignore_errors=True)
        ws = Workspace.init(root)
        for p in files:
            iid = item_id_for("file", str(p))
            ids[iid] = str(p)
            ws.catalog.upsert(Item(id=iid, title=p.stem, media_path=str(p)))
        ws.close()
        return root

    sides = {
        "recipe (2 ffmpeg processes/trailer)": lambda: [py, __file__, "--recipe-batch", str(tmp / "recipe.npz"),
                                                        "--workers", str(args.workers), *map(str, files)],
        "reelmatch extract (default)": lambda: [py, "-m", "reelmatch", "-w", str(fresh_ws("default")), "extract",
                                                "--no-progress", "--workers", str(args.workers)],
        "reelmatch extract --recipe": lambda: [py, "-m", "reelmatch", "-w", str(fresh_ws("recipe-mode")), "extract",
                                               "--recipe", "--no-progress", "--workers", str(args.workers)],
    }
    envs = {}
    if args.baseline_src is not None:
        name = f"default, baseline {args.baseline_src}"[:38]
        sides[name] = lambda: [py, "-m", "reelmatch", "-w", str(fresh_ws("baseline")), "extract", "--no-progress",
                               "--workers", str(args.workers)]
        envs[name] = {**os.environ, "PYTHONPATH": str(args.baseline_src.resolve())}
    names = list(sides)
    wall = dict.fromkeys(names, 0.0)
    cpu = dict.fromkeys(names, 0.0)
    for r in range(args.rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            cmd = sides[name]()
            w, c = timed_command(cmd, env=envs.get(name))
            wall[name] += w
            cpu[name] += c
            print(f"round {r + 1}: {name:38} wall {w:7.2f} s, CPU {c:7.2f} s", flush=True)

    # outputs: --recipe's frames are the recipe's; the default's frames are at the keyframes before the instants
    rec = np.load(tmp / "recipe.npz")
    worst = float("inf")
    order = {str(p): i for i, p in enumerate(files)}
    with Workspace(tmp / "recipe-mode") as ws, ClipStore(ws) as store:
        for c in store.iter():
            i = order[ids[c.id]]
            n = int(rec[f"n{i}"])
            if c.num_valid != n:
                print(f"{Path(ids[c.id]).name}: recipe took {n} frames, --recipe {c.num_valid}", file=sys.stderr)
                return 1
            fp = min(psnr(c.frames[k], rec[f"frames{i}"][k]) for k in range(n)) if n else float("inf")
            worst = min(worst, fp, psnr(c.spectrogram, rec[f"spec{i}"]))
    dist = []
    with Workspace(tmp / "default") as ws, ClipStore(ws) as store:
        for c in store.iter():
            targets = np.array(plan_samples(store.config, c.meta.get("duration")).targets)[: c.num_valid]
            dist.append(targets - c.timestamps[c.mask][: len(targets)])
    dist = np.concatenate(dist)
    shutil.rmtree(tmp, ignore_errors=True)

    n = len(files) * args.rounds
    base = names[0]
    print(f"\n{'':38} {'wall':>9} {'CPU':>9} {'CPU/trailer':>12} {'ratio wall':>11} {'ratio CPU':>10}")
    for name in names:
        print(f"{name:38} {wall[name]:7.2f} s {cpu[name]:7.2f} s {cpu[name] / n:10.2f} s"
              f" {wall[base] / wall[name]:10.1f}x {cpu[base] / cpu[name]:9.1f}x")
    print(f"--recipe vs the recipe: worst PSNR {worst:.1f} dB (frames bit-identical: inf)")
    print(f"default: sampled frames {dist.mean():.2f} s before their instants on average (median"
          f" {np.median(dist):.2f}, max {dist.max():.2f} s; the exact frame is < 1 frame before)")
    d = names[1]
    print(f"default vs the recipe: {wall[base] / wall[d]:.1f}x wall, {cpu[base] / cpu[d]:.1f}x CPU (target >= 30x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
