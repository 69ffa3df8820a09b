NAME = "embed"
HELP = "vectors for all clips"
EXAMPLE = "reelmatch -w ws embed --batch-size 32"


def add_arguments(p) -> None:
    p.add_argument("--batch-size", type=int, default=16, metavar="N", help="clips per inference batch (default 16)")
    p.add_argument(
        "--backbone-only", action="store_true",
        help="ignore a trained model: pretrained backbone features + audio descriptor",
    )
    p.add_argument("--backbone", default="efficientnet_lite0", help="backbone used before any model is trained")
    p.add_argument("--audio-weight", type=float, default=0.25, help="audio share of the backbone-only vector (0..1)")
    p.add_argument("--retry-failed", action="store_true", help="retry items whose embedding failed before")
    from reelmatch.cli.common import add_commit_flags, add_engine_flags

    add_commit_flags(p, writes="their vectors as blocks of their own (folded into the embeddings file at the end)",
                     commits="the blocks and the catalogue")

    add_engine_flags(p)


def run(args) -> int:
    from reelmatch.cli.common import StageProgress, clip_config_of, engine_from_args, info, open_workspace
    from reelmatch.embed import EmbedConfig, load_embeddings

    ws = open_workspace(args)
    config = EmbedConfig(
        batch_size=args.batch_size, use_model=not args.backbone_only, backbone=args.backbone,
        audio_weight=args.audio_weight,
    )
    with StageProgress("embed") as progress:
        from reelmatch.embed.run import embed_stage

        path = embed_stage(ws, config, clip_config=clip_config_of(ws), progress=progress,
                           retry_failed=args.retry_failed, engine=engine_from_args(args),
                           workers_write=args.workers_write, commit_every=args.commit_every,
                           commit_seconds=args.commit_seconds).artifact
    emb = load_embeddings(ws, config.name)
    if emb.meta.get("mode") == "backbone":
        info(f"note: no trained model yet: vectors come from the pretrained {emb.meta.get('backbone')} backbone alone")
    failed = ws.status()["stages"]["embed"]["failed"]
    info(f"{len(emb)} vectors of dim {emb.vectors.shape[1]} in {path}" + (f"; {failed} item(s) failed (see 'reelmatch status')" if failed else ""))
    return 0
