"""Clip-record benchmark: raw frames vs JPEG/WebP frames, and what the codec does to embeddings.

For each trailer, one clip is extracted with the default config (10 frames of
224x224 + log-mel, keyframe sampling) and encoded as a clip record with every
codec side by side: ``raw`` (uint8 arrays, format 1's layout), ``jpeg`` at
several qualities and ``webp``, with the log-mel as the config keeps it (format 3's
8-bit PNG by default) or, for ``+float16`` codecs, as format 2 kept it. Printed per codec: record size (mean, and the
ratio raw/codec), encode and decode time per clip (one thread), PSNR of the
decoded frames against the raw ones, and the cosine between the embedding of
the raw clip and of the decoded clip (fused and visual vectors) with the
pretrained backbone embedder (what ``embed`` uses before a model is trained)
and, with ``--checkpoint``, a trained model (which needs clips of its config:
use the trailers it was trained on, e.g. a demo workspace's, with ``--ws``).
Targets: default quality >= 5x smaller than raw; cosine >= 0.99.

    .venv/bin/python benchmarks/records.py                      # the extract benchmark's trailers
    .venv/bin/python benchmarks/records.py --files a.mp4 b.mp4
    .venv/bin/python benchmarks/records.py --ws demo-workspace  # its clips and its trained model
    .venv/bin/python benchmarks/records.py --ws demo-workspace --from-media   # raw clips re-extracted from its media
    .venv/bin/python benchmarks/records.py --codecs raw jpeg:95 jpeg:98 jpeg:100 --worst 3

``--sizes 48 64 96 ...`` repeats the whole comparison with the frames extracted at
each size (``ClipConfig.size``, --files mode) and ends with a table, per size and
codec, of the fused and visual min cosine and the ratio (``*`` where both cosines are
>= 0.99): what the size-aware default quality (``frame_quality="auto"``) is chosen on.

    .venv/bin/python benchmarks/records.py --files <clips> --sizes 32 48 64 96 128 160 224 \
        --codecs raw jpeg:92 jpeg:94 jpeg:96 jpeg:98 jpeg:100 auto

``auto`` in ``--codecs`` is the codec the default config uses at each size; ``dither``
is no codec but the noise floor: the raw frames with every pixel moved by -1, 0 or
+1 level at random (about 50 dB PSNR, invisible), i.e. how far the embedding
moves for a change no codec can avoid.

Columns: ``B/px`` is the codec's bytes per real frame pixel (raw: 3) and ``full/K``
the raw/codec ratio of a record whose ``num_frames`` frames are all real at that
rate (short clips have few real frames, so their own ratio is mostly the log-mel's).

``--worst N`` prints, per codec, the N clips whose fused cosine moved most, with
their number of real frames, frame size and the PSNR of their worst frame.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CODECS = [("raw", 0, None), ("jpeg", 90, None), ("jpeg", 95, None), ("jpeg", 96, "float16"), ("jpeg", 96, None),
          ("jpeg", 98, None), ("webp", 90, None)]


def parse_codec(text: str) -> tuple[str, int, str | None]:
    """``jpeg:95`` -> ("jpeg", 95, None); ``jpeg:96+float16`` -> ("jpeg", 96, "float16"): the log-mel as
    float16 instead of the config's spectrogram codec; ``raw`` -> ("raw", 0, None)."""
    text, _, spec = text.partition("+")
    if text == "dither":
        return ("dither", 0, None)
    if text == "auto":
        return ("jpeg", "auto", spec or None)
    name, _, q = text.partition(":")
    return (name, int(q) if q else (0 if name == "raw" else 90), spec or None)


def psnr(a, b) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def cosines(embedder, raw, decoded) -> tuple[np.ndarray, np.ndarray, float]:
    """Per clip fused and visual cosine raw vs decoded; the lowest audio cosine (clips with sound)."""
    a, b = embedder.embed(raw), embedder.embed(decoded)
    sound = np.array([c.has_audio for c in raw], bool)
    audio = (a["audio"] * b["audio"]).sum(1)[sound]
    norm = np.linalg.norm(a["audio"][sound], axis=1) * np.linalg.norm(b["audio"][sound], axis=1)
    audio = np.where(norm > 1e-12, audio / np.maximum(norm, 1e-12), 1.0)  # a silent track: zeros both times
    return (a["fused"] * b["fused"]).sum(1), (a["visual"] * b["visual"]).sum(1), float(audio.min()) if len(audio) else 1.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", nargs="*", type=Path, help="trailers (default: the extract benchmark's cached ones)")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "reelmatch-bench-extract")
    ap.add_argument("--ws", type=Path, default=None,
                    help="a workspace: use its clips (raw ones re-encoded) and its trained model instead of --files")
    ap.add_argument("--limit", type=int, default=40, help="at most this many clips from --ws (default 40)")
    ap.add_argument("--from-media", action="store_true",
                    help="with --ws: re-extract its test clips from its media with raw frames (nothing is written)")
    ap.add_argument("--codecs", nargs="*", type=parse_codec, default=None,
                    help="codecs to compare, e.g. raw jpeg:95 jpeg:96+float16 webp:90 (+float16: the log-mel as"
                         " format 2 kept it; default: raw jpeg:90/95/96+float16/96/98 webp:90)")
    ap.add_argument("--worst", type=int, default=0, help="print the N clips that move most per codec")
    ap.add_argument("--no-embed", action="store_true", help="sizes and times only")
    ap.add_argument("--sizes", nargs="*", type=int, default=None, metavar="PX",
                    help="with --files: repeat the comparison with frames of each size (ClipConfig.size)")
    args = ap.parse_args(argv)

    from reelmatch.extract import ClipConfig, extract_clip
    from reelmatch.runtime import single_threaded

    single_threaded()
    model = None
    if args.ws:
        from reelmatch.dataset.store import ClipStore
        from reelmatch.workspace import Workspace

        ws = Workspace(args.ws)
        store = ClipStore(ws)
        config = store.config
        ids = store.ids("test")[: args.limit]
        if args.from_media:
            import dataclasses as dc

            raw_config = dc.replace(config, frame_codec="raw")
            clips = []
            for i in ids:
                item = ws.catalog.get(i)
                media = item.media_path if "://" in item.media_path else ws.media_file(item)
                clips.append(extract_clip(media, raw_config, item_id=i, title=item.title, threads=1))
        else:
            clips = [store.get(i) for i in ids]
        if config.frame_codec != "raw" and not args.from_media:
            print(f"note: {args.ws}'s clips are stored as {config.frame_codec}: re-encoding decoded frames", file=sys.stderr)
        from reelmatch.model.checkpoint import current_checkpoint

        ckpt = current_checkpoint(ws)
        if ckpt is not None:
            from reelmatch.embed.embedder import ModelEmbedder

            model = ModelEmbedder(ckpt, clip_config=config)
        label = f"{len(clips)} test clips of {args.ws} ({config.num_frames} frames of {config.size} px)"
    else:
        files = args.files or sorted(args.cache.glob("trailer-v3-*-150s.mp4"))
        if not files:
            print("no trailers: run benchmarks/extract.py once (it generates them) or pass --files", file=sys.stderr)
            return 2
        config = ClipConfig()
        clips = []
        for n, p in enumerate(files):
            c = extract_clip(p, config, item_id=f"c{n}", title=p.stem, threads=1)
            clips.append(c)
        label = f"{len(clips)} trailers ({', '.join(p.name for p in files[:4])}{'...' if len(files) > 4 else ''})"
    print(f"{label}; default config: {config.frame_codec} q{config.frame_quality}"
          f" (q{config.quality} at {config.size} px), log-mel {config.spectrogram_codec}")

    embedders = []
    if not args.no_embed:
        from reelmatch.embed.embedder import BackboneEmbedder

        embedders.append(("backbone", BackboneEmbedder()))
        if model is not None:
            embedders.append(("trained model", model))
    codecs = args.codecs or CODECS
    if codecs[0][0] != "raw":  # the baseline of the size ratio
        codecs = [("raw", 0, None), *[c for c in codecs if c[0] != "raw"]]

    if not args.sizes:
        rows, worst = compare(clips, config, codecs, embedders, args.worst)
        print_rows(rows, worst, embedders)
        return print_verdict(rows, config, embedders)
    if args.ws:
        print("--sizes works with --files (clips are extracted at each size)", file=sys.stderr)
        return 2
    by_size = {}
    for size in args.sizes:
        cfg = dataclasses.replace(config, size=size)
        clips = [extract_clip(p, cfg, item_id=f"c{n}", title=p.stem, threads=1) for n, p in enumerate(files)]
        print(f"\n== frames of {size} px ({len(clips)} clips) ==")
        rows, worst = compare(clips, cfg, codecs, embedders, args.worst)
        print_rows(rows, worst, embedders)
        print_verdict(rows, cfg, embedders)
        by_size[size] = rows
    if embedders:
        name = embedders[0][0]
        print(f"\nper size, {name}: fused min / visual min cosine and raw/codec of each codec;"
              " * = fused and visual min >= 0.99")
        print(f"{'size':>5}  " + "  ".join(f"{r['codec']:>22}" for r in by_size[args.sizes[0]][1:]))
        for size, rows in by_size.items():
            cells = []
            for r in rows[1:]:
                f_min, _, v_min, _ = r[name]
                ok = "*" if f_min >= 0.99 and v_min >= 0.99 else " "
                cells.append(f"{f_min:.4f}/{v_min:.4f} {r['ratio']:4.1f}x{ok}")
            print(f"{size:>5}  " + "  ".join(f"{c:>22}" for c in cells))
    return 0


def codec_config(config, codec: str, q, spec):
    """The clip config of one codec of the comparison (``q`` "auto": the size-aware default)."""
    return dataclasses.replace(config, frame_codec=codec, frame_quality=q or 90,
                               spectrogram_codec=spec or config.spectrogram_codec)


def codec_label(codec: str, q, spec, config) -> str:
    if q == "auto":
        return f"auto (q{codec_config(config, codec, q, spec).quality})" + (f"+{spec}" if spec else "")
    return f"{codec}" + (f" q{q}" if q else "") + (f"+{spec}" if spec else "")


def compare(clips, config, codecs, embedders, n_worst: int):
    """One row per codec: record size, ratio to raw, encode/decode ms, min PSNR, cosines per embedder."""
    from reelmatch.dataset.store import clip_from_members, clip_members

    rows, worst, raw_size, raw_other = [], {}, None, None
    for codec, q, spec in codecs:
        cfg = codec_config(config, codec if codec != "dither" else "raw", q, spec)
        sizes, enc, dec, ps, decoded, px = [], [], [], [], [], []
        rng = np.random.default_rng(0)
        for c in clips:
            t = time.perf_counter()
            members = clip_members(c, cfg)
            enc.append(time.perf_counter() - t)
            sizes.append(sum(len(b) for b in members.values()))
            frame_bytes = sum(len(b) for k, b in members.items() if k[:1] == "f" and k[1:3].isdigit())
            px.append((frame_bytes, int(c.mask.sum()) * c.frames.shape[1] * c.frames.shape[2],
                       sum(len(b) for k, b in members.items() if not (k[:1] == "f" and k[1:3].isdigit()) and k != "frames.npy")))
            t = time.perf_counter()
            d = clip_from_members(members)
            dec.append(time.perf_counter() - t)
            if codec == "dither":  # the noise floor: every pixel moved by at most one level
                noise = rng.integers(-1, 2, d.frames.shape)
                d = dataclasses.replace(d, frames=np.clip(d.frames.astype(np.int16) + noise, 0, 255).astype(np.uint8))
            decoded.append(d)
            ps.append(min(psnr(d.frames[i], c.frames[i]) for i in np.flatnonzero(c.mask)))
        size = float(np.mean(sizes))
        raw_size = raw_size or size
        # a record whose every frame is real (num_frames of them), from this codec's bytes per frame pixel
        bpp = sum(b for b, _, _ in px) / max(1, sum(n for _, n, _ in px)) if codec not in ("raw", "dither") else 3.0
        other = float(np.mean([o for _, _, o in px]))
        full = config.num_frames * config.size**2
        raw_other = raw_other if raw_other is not None else other
        full_ratio = (3.0 * full + raw_other) / (bpp * full + other)
        row = {"codec": codec_label(codec, q, spec, config), "kb": size / 1024, "ratio": raw_size / size,
               "bpp": bpp, "full_ratio": full_ratio,
               "enc_ms": 1000 * float(np.mean(enc)), "dec_ms": 1000 * float(np.mean(dec)), "psnr": float(np.min(ps))}
        for name, emb in embedders:
            fused, visual, audio = cosines(emb, clips, decoded)
            row[name] = (float(fused.min()), float(fused.mean()), float(visual.min()), audio)
            if n_worst:
                worst[(row["codec"], name)] = [
                    (float(fused[i]), float(visual[i]), clips[i], ps[i]) for i in np.argsort(fused)[:n_worst]]
        rows.append(row)
        print(f"  {row['codec']}: done", file=sys.stderr, flush=True)
    return rows, worst


def print_rows(rows, worst, embedders) -> None:
    head = (f"{'codec':18} {'record KB':>10} {'raw/codec':>10} {'B/px':>5} {'full/K':>7} {'encode ms':>10}"
            f" {'decode ms':>10} {'min PSNR':>9}")
    for name, _ in embedders:
        head += f"  {'cos ' + name + ' (min/mean fused, min visual, min audio)':>56}"
    print("\n" + head)
    for r in rows:
        line = (f"{r['codec']:18} {r['kb']:10.1f} {r['ratio']:9.1f}x {r['bpp']:5.2f} {r['full_ratio']:6.1f}x"
                f" {r['enc_ms']:10.1f} {r['dec_ms']:10.1f}"
                f" {r['psnr']:7.1f} dB")
        for name, _ in embedders:
            f_min, f_mean, v_min, a_min = r[name]
            line += f"  {f_min:>24.5f} / {f_mean:.5f} / {v_min:.5f} / {a_min:.5f}"
        print(line)
    for (codec, name), items in worst.items():
        print(f"{codec}, {name}: worst clips: " + "; ".join(
            f"{c.meta.get('source') or c.id} ({c.num_valid} real frames of {c.frames.shape[1]} px, min PSNR {p:.1f} dB):"
            f" fused {f:.4f}, visual {v:.4f}" for f, v, c, p in items))


def print_verdict(rows, config, embedders) -> int:
    """The default codec's ratio and cosines against the targets."""
    name = f"{config.frame_codec} q{config.quality}" if config.frame_codec != "raw" else "jpeg q95"
    default = next((r for r in rows if r["codec"] == name or r["codec"].startswith(f"auto (q{config.quality})")), None)
    if default is None:
        return 0
    print(f"\ndefault ({default['codec']}): {default['ratio']:.1f}x smaller than raw (target >= 5x):"
          f" {'ok' if default['ratio'] >= 5 else 'BELOW TARGET'}")
    for name, _ in embedders:
        print(f"default ({default['codec']}), {name}: min cosine raw vs decoded {default[name][0]:.5f} (target >= 0.99):"
              f" {'ok' if default[name][0] >= 0.99 else 'BELOW TARGET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
