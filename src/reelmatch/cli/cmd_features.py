NAME = "features"
HELP = "cache backbone features"
EXAMPLE = "reelmatch -w ws features --backbone efficientnet_lite0"


def add_arguments(p) -> None:
    p.add_argument("--backbone", default="efficientnet_lite0", metavar="NAME",
                   help="frame backbone (efficientnet_lite0, efficientnet_lite2, resnet50, clip_vit_b32, timm_resnetv2_50, "
                        "timm_convnext_tiny, timm:<name>, tiny; default efficientnet_lite0)")
    p.add_argument("--weights", default=None, metavar="PATH", help="backbone weights file (.safetensors or .pth)")
    p.add_argument("--norm", default="auto", metavar="NAME",
                   help="input normalisation: auto (the backbone's default), legacy, imagenet, tflite, inception, clip")
    p.add_argument("--retry-failed", action="store_true", help="also retry clips whose features failed before")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    from reelmatch.cli.common import add_engine_flags

    add_engine_flags(p)


def run(args) -> int:
    from reelmatch.cli.common import StageProgress, clip_config_of, engine_from_args, info, open_workspace
    from reelmatch.train.features import FeaturesConfig, compute_features

    ws = open_workspace(args)
    config = FeaturesConfig(backbone=args.backbone, weights=args.weights, norm=args.norm)
    with StageProgress("features", disable=args.no_progress) as progress:
        rep = compute_features(ws, config=config, clip_config=clip_config_of(ws), retry_failed=args.retry_failed,
                               progress=progress,
                               engine=engine_from_args(args))
    info(f"features ({args.backbone}, {rep['fingerprint']}): {rep['done']} done, {rep['failed']} failed,"
         f" {rep['already_done']} already done in {rep['seconds']:.1f} s -> {rep['dir']}")
    for f in rep["failures"][:10]:
        info(f"failed {f['id']}: {f['error']}")
    return 0
