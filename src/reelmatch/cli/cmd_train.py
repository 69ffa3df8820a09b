NAME = "train"
HELP = "fit the model (phases)"
EXAMPLE = "reelmatch -w ws train --ssl-epochs 20 --epochs 10 --pooling attention"


def add_arguments(p) -> None:
    p.add_argument("--epochs", type=int, default=None, metavar="N",
                   help="frozen-backbone schedule: 1 warm-up + N-1 triplet epochs (default: the full phase schedule)")
    p.add_argument("--ssl-epochs", type=int, default=None, metavar="N",
                   help="a self-supervised cross-modal phase of N epochs before the warm-up (frames and audio of the "
                        "same trailer attract; needs no labels). Without any genre labels train runs it alone "
                        "(default 20 epochs then)")
    p.add_argument("--backbone", default=None, metavar="NAME", help="frame backbone (default efficientnet_lite0)")
    p.add_argument("--weights", default=None, metavar="PATH", help="backbone weights file (.safetensors or .pth)")
    p.add_argument("--pooling", choices=("lstm", "attention", "mean"), default=None, help="temporal pooling (default lstm)")
    p.add_argument("--embed-dim", type=int, default=None, metavar="E", help="embedding size (default 256)")
    p.add_argument("--no-text", action="store_true",
                   help="no plot-text tower (default: the catalogue's plots feed a text tower when training items have them)")
    p.add_argument("--text-encoder", default=None, metavar="NAME",
                   help="frozen plot-text encoder: minilm (default), minilm-layers, minilm-layers-title (reads the title too), minilm-bf16 (faster on CPUs with native bf16), "
                        "minilm-int8")
    p.add_argument("--text-genre-weight", type=float, default=None, metavar="W",
                   help="share of the text tower's genre probabilities in its embedding, 0..1 (default 0.85; 0: the "
                        "trained projection alone, as models made before it)")
    p.add_argument("--text-genre-centre", action="store_true", default=None,
                   help="the text embedding's genre probabilities minus their mean over the training items "
                        "(docs/model.md, Plot text)")
    p.add_argument("--audio-encoder", choices=("convnet", "aisfx"), default=None,
                   help="audio tower: convnet over the spectrogram (default) or the frozen aisfx expert with a trained head")
    p.add_argument("--fusion", choices=("concat", "transformer"), default=None,
                   help="fusion of the towers: concat (default) or a small transformer over modality tokens")
    p.add_argument("--softmax", action="store_true", help="warm-up with single-label softmax (the recipe) instead of multi-label")
    p.add_argument("--batch-size", type=int, default=None, metavar="B", help="batch size (default 32)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    p.add_argument("--retrain", action="store_true", help="train again even if this exact run finished")
    p.add_argument("--no-resume", action="store_true", help="start over instead of resuming an unfinished run")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--devices", type=int, default=1, metavar="N",
                   help="DDP: training processes per node (GPUs with --accelerator gpu; default 1)")
    p.add_argument("--num-nodes", type=int, default=1, metavar="N", help="DDP: nodes (default 1)")
    p.add_argument("--strategy", default="auto", metavar="S",
                   help="Lightning strategy (default: ddp when more than one process; ddp_fork, ddp_spawn...)")
    p.add_argument("--accelerator", default="cpu", metavar="A", help="cpu (default), gpu, auto")


def config_from_args(args):
    from reelmatch.train import TrainConfig

    fields = {"epochs": args.epochs, "backbone": args.backbone, "weights": args.weights, "pooling": args.pooling,
              "embed_dim": args.embed_dim, "batch_size": args.batch_size, "seed": args.seed,
              "text": getattr(args, "text_encoder", None), "audio_encoder": getattr(args, "audio_encoder", None),
              "fusion": getattr(args, "fusion", None), "text_genre_weight": getattr(args, "text_genre_weight", None),
              "text_genre_centre": getattr(args, "text_genre_centre", None)}
    fields = {k: v for k, v in fields.items() if v is not None}
    if getattr(args, "no_text", False):
        fields["text"] = None
    if args.softmax:
        fields["classification"] = "softmax"
    if getattr(args, "ssl_epochs", None) is not None:
        from reelmatch.train.config import DEFAULT_PHASES, with_ssl

        fields["phases"] = with_ssl(DEFAULT_PHASES, args.ssl_epochs)
    return TrainConfig(**fields)


def run(args) -> int:
    from reelmatch.cli.common import clip_config_of, info, open_workspace
    from reelmatch.train import run_train
    from reelmatch.train.run import read_run_summary

    ws = open_workspace(args)
    config = config_from_args(args)
    best = run_train(ws, config, clip_config=clip_config_of(ws), resume=not args.no_resume, retrain=args.retrain, progress=not args.no_progress,
                     devices=args.devices, num_nodes=args.num_nodes, strategy=args.strategy, accelerator=args.accelerator)
    s = read_run_summary(best)
    score = s.get("best_map_at_r") if s.get("best_map_at_r") is not None else s.get("best_cross_modal_mrr")
    from reelmatch.model.checkpoint import read_config

    mode = read_config(best).get("training", "supervised")
    what = "MAP@R" if mode != "self-supervised" else "cross-modal MRR"
    kind = "model" if mode == "supervised" else f"{mode} model"
    info(f"train: {kind} {best}" + (f" (held-out {what} {score:.3f})" if isinstance(score, float) and score >= 0 else ""))
    return 0
