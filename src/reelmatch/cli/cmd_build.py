NAME = "build"
HELP = "every stage in order"
EXAMPLE = "reelmatch -w ws build --workers 4"


def add_arguments(p) -> None:
    from reelmatch.cli.common import add_engine_flags, add_workers_flag

    add_workers_flag(p)
    add_engine_flags(p)
    p.add_argument("--dedupe", action="store_true", help="also compute copy-detection descriptors and groups")
    p.add_argument("--scenes", action="store_true",
                   help="also detect and embed each movie's scenes (for match-ad --scenes)")
    p.add_argument("--no-evaluate", action="store_true", help="skip the evaluation report at the end")
    p.add_argument("--retry-failed", action="store_true", help="retry items that failed a stage before")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: the train command's default)")
    p.add_argument("--ssl-epochs", type=int, default=None, metavar="N",
                   help="a self-supervised cross-modal phase of N epochs before the warm-up (a catalogue without "
                        "genre labels trains it alone anyway)")


class StageProgress:
    """One progress line for the whole build: ``[i/n] stage`` with its per-item bar."""

    def __init__(self, disable: bool = False):
        self.disable = disable
        self.bar = None
        self.label = ""

    def stage(self, name, index, total):
        from reelmatch.cli.common import progress_bar

        self.close()
        self.label = f"[{index + 1}/{total}] {name}"
        self.bar = progress_bar(None, self.label, disable=self.disable)

    def message(self, text):
        if self.bar is not None:
            self.bar.set_postfix_str(text[:60], refresh=True)

    def items(self, done, total):
        if self.bar is None:
            return
        if total is not None and self.bar.total != total:
            self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def stage_done(self, rep):
        from reelmatch.cli.common import info

        self.close()
        info(rep.line(self.label))
        for f in rep.failures[:10]:
            info(f"  failed {f['id']} ({f.get('title')}): {f['error']}")

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def run(args) -> int:
    from reelmatch.cli.common import info, open_workspace
    from reelmatch.pipeline import BuildConfig, run_build

    train = None
    if args.epochs is not None or args.ssl_epochs is not None:
        from reelmatch.train import DEFAULT_PHASES, TrainConfig
        from reelmatch.train.config import with_ssl

        phases = with_ssl(DEFAULT_PHASES, args.ssl_epochs) if args.ssl_epochs is not None else DEFAULT_PHASES
        train = TrainConfig(epochs=args.epochs, phases=phases)
    config = BuildConfig(
        workers=args.workers, dedupe=args.dedupe, scenes=args.scenes, evaluate=not args.no_evaluate,
        retry_failed=args.retry_failed, train=train, engine=args.engine, address=args.address,
    )
    progress = StageProgress()
    try:
        with open_workspace(args) as ws:
            report = run_build(ws, config, progress=progress)
    finally:
        progress.close()
    info("build: " + ("done" if report.did_work else "everything was up to date"))
    return 0
