NAME = "extract"
HELP = "clips from media"
EXAMPLE = "reelmatch -w ws extract --workers 2 --timeout 120"


def add_arguments(p) -> None:
    from reelmatch.cli.common import add_engine_flags, add_workers_flag

    add_workers_flag(p)
    add_engine_flags(p)
    p.add_argument("--timeout", type=float, default=300.0, metavar="S", help="per-item time limit in seconds (default 300)")
    p.add_argument("--retry-failed", action="store_true", help="also retry items whose extraction failed before")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--recipe", action="store_true",
                      help="the published recipe exactly: scale to width 560 + centre crop, ffmpeg showspectrumpic picture")
    mode.add_argument("--fit", action="store_true",
                      help="the default config: fit geometry (any aspect ratio) + log-mel spectrogram")
    p.add_argument("--frames", type=int, default=None, metavar="K", help="frames per clip (default 10)")
    p.add_argument("--interval", type=float, default=None, metavar="S", help="seconds between frames (default 12)")
    p.add_argument("--start", type=float, default=None, metavar="S", help="skip the first S seconds (default 5)")
    p.add_argument("--window", type=float, default=None, metavar="S", help="seconds sampled after --start (default 125)")
    p.add_argument("--sampling", choices=("exact", "keyframe"), default=None,
                   help="keyframe (default): the last keyframe before each instant, one frame decoded per instant"
                        " (frames ~2 s earlier); exact (--recipe's): the last frame shown before it, the recipe's frame")
    p.add_argument("--frame-codec", choices=("jpeg", "webp", "raw"), default=None,
                   help="how records keep frames: jpeg (default) or webp pictures decoded on read, raw uint8"
                        " (--recipe's: bit-exact, ~6x larger)")
    p.add_argument("--frame-quality", type=_quality, default=None, metavar="Q",
                   help="quality 1-100 of the jpeg/webp frames, or auto (default: by frame size, 100 up to 64 px,"
                        " 96 above; see docs/extract.md)")
    p.add_argument("--spectrogram-codec", choices=("png", "float16"), default=None,
                   help="how records with jpeg/webp frames keep the log-mel: png (default; 8-bit, 0.31 dB steps,"
                        " ~2.5x smaller) or float16 (gzipped, the format-2 member)")
    p.add_argument("--stft-hop", type=float, default=None, metavar="F",
                   help="hop of the log-mel's STFT as a fraction of its 64 ms window (default 0.5; 0.25 in stores"
                        " made before this option)")
    from reelmatch.cli.common import add_commit_flags

    add_commit_flags(p, writes="records to shards of their own", commits="the catalogue and the clip index")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _quality(text: str):
    """``--frame-quality``: an integer, or ``auto``."""
    import argparse

    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer from 1 to 100 or 'auto'") from None


def config_from_args(args, ws):
    """The clip config: --recipe / --fit pick the base, else the workspace's current
    one (the last extract's) so a later run only does new items; flags override fields."""
    import dataclasses

    from reelmatch.dataset.store import resolve_clip_config
    from reelmatch.extract.config import ClipConfig

    overrides = {
        name: value
        for name, value in (("num_frames", args.frames), ("interval", args.interval), ("start", args.start),
                            ("window", args.window), ("sampling", args.sampling),
                            ("frame_codec", args.frame_codec), ("frame_quality", args.frame_quality),
                            ("spectrogram_codec", args.spectrogram_codec), ("stft_hop", args.stft_hop))
        if value is not None
    }
    if args.recipe:
        base = ClipConfig.recipe()
    elif args.fit:
        base = ClipConfig()
    else:
        base = resolve_clip_config(ws, default=ClipConfig())
    return dataclasses.replace(base, **overrides)


def run(args) -> int:
    from reelmatch.cli.common import StageProgress, engine_from_args, info, open_workspace
    from reelmatch.extract.run import run_extract

    ws = open_workspace(args)
    config = config_from_args(args, ws)
    with StageProgress("extract", disable=args.no_progress) as progress:
        summary = run_extract(ws, config, workers=args.workers, timeout=args.timeout,
                              retry_failed=args.retry_failed, progress=progress, engine=engine_from_args(args),
                              workers_write=args.workers_write, commit_every=args.commit_every,
                              commit_seconds=args.commit_seconds)
    info(
        f"extract ({config.geometry} geometry, {config.spectrogram} spectrogram, {config.sampling} sampling,"
        f" {config.frame_codec} frames,"
        f" config {summary['config']}):"
        f" {summary['done']} done,"
        f" {summary['failed']} failed, {summary['already_done']} already done,"
        f" {summary['skipped_no_media']} without media; {summary['clips']} clips in {summary['seconds']:.1f} s"
    )
    if summary["failed"]:
        info("failures are listed by 'reelmatch status'; retry them with --retry-failed")
    return 0
