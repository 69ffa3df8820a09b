NAME = "features"
HELP = "cache backbone features"
EXAMPLE = "reelmatch -w ws features --backbone efficientnet_lite0 --audio-encoder aisfx --text"

#: --audio-encoder choices: the ConvNet is trained with the model (nothing to cache); the others are frozen experts
AUDIO_ENCODERS = ("convnet", "aisfx")


def add_arguments(p) -> None:
    p.add_argument("--backbone", default="efficientnet_lite0", metavar="NAME",
                   help="frame backbone (efficientnet_lite0, efficientnet_lite2, resnet50, clip_vit_b32, timm_resnetv2_50, "
                        "timm_convnext_tiny, timm:<name>, tiny; default efficientnet_lite0)")
    p.add_argument("--weights", default=None, metavar="PATH", help="backbone weights file (.safetensors or .pth)")
    p.add_argument("--audio-encoder", choices=AUDIO_ENCODERS, default="convnet",
                   help="audio encoder: convnet (default; trained with the model, nothing cached) or aisfx"
                        " (the frozen ISMIR 2022 sound-effects CNN: also caches its 512-d embedding of each"
                        " item's sound over the clip window)")
    p.add_argument("--text", action="store_true",
                   help="also cache the plot-text sentence embeddings (all-MiniLM-L6-v2) of every item with a plot")
    p.add_argument("--text-encoder", default="minilm", metavar="NAME",
                   help="with --text: minilm (default, fp32), minilm-layers, minilm-bf16 (bf16 weights: ~2x the plots/s on CPUs "
                        "with native bf16, cosine to fp32 >= 0.9999) or minilm-int8; each has its own cache, and "
                        "a model uses the one it was trained with (train --text-encoder)")
    p.add_argument("--norm", default="auto", metavar="NAME",
                   help="input normalisation: auto (the backbone's default), legacy, imagenet, tflite, inception, clip")
    p.add_argument("--retry-failed", action="store_true", help="also retry clips whose features failed before")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    from reelmatch.cli.common import add_engine_flags

    add_engine_flags(p)


def run(args) -> int:
    from reelmatch.cli.common import StageProgress, clip_config_of, engine_from_args, info, open_workspace
    from reelmatch.train.features import FeaturesConfig, compute_features

    if args.text:  # a misspelt encoder fails now, not after the frame features
        from reelmatch.text.encoder import text_encoder_spec

        text_encoder_spec(args.text_encoder)
    ws = open_workspace(args)
    config = FeaturesConfig(backbone=args.backbone, weights=args.weights, norm=args.norm)
    clip_config = clip_config_of(ws)
    engine = engine_from_args(args)
    with StageProgress("features", disable=args.no_progress) as progress:
        rep = compute_features(ws, config=config, clip_config=clip_config, retry_failed=args.retry_failed,
                               progress=progress,
                               engine=engine)
    info(f"features ({args.backbone}, {rep['fingerprint']}): {rep['done']} done, {rep['failed']} failed,"
         f" {rep['already_done']} already done in {rep['seconds']:.1f} s -> {rep['dir']}")
    for f in rep["failures"][:10]:
        info(f"failed {f['id']}: {f['error']}")
    if args.audio_encoder != "convnet":
        from reelmatch.audioexpert import AudioExpertConfig, update_audio_expert_features

        with StageProgress(f"audio {args.audio_encoder}", disable=args.no_progress) as progress:
            res = update_audio_expert_features(ws, AudioExpertConfig(encoder=args.audio_encoder),
                                               clip_config=clip_config, engine=engine,
                                               retry_failed=args.retry_failed, progress=progress)
        info(f"audio features ({args.audio_encoder}): {res.summary()} in {res.seconds:.1f} s -> {res.path.parent}")
        for f in res.failures[:10]:
            info(f"failed {f['id']}: {f['error']}")
    if args.text:
        from reelmatch.text.cache import TextFeaturesConfig, update_text_features

        res = update_text_features(ws, TextFeaturesConfig(encoder=args.text_encoder))
        info(f"text features ({args.text_encoder}): {res.summary()} in {res.seconds:.1f} s -> {res.path.parent}")
    return 0
