"""Helpers shared by the command modules (kept light: no heavy imports)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def open_workspace(args):
    """The workspace named by ``-w`` / ``REELMATCH_WORKSPACE`` (must exist)."""
    from reelmatch.workspace import Workspace

    return Workspace(args.workspace)


def emit_json(doc) -> None:
    """Print one JSON document on stdout (the public contract of --json)."""
    json.dump(doc, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    sys.stdout.flush()


def info(msg: str) -> None:
    """Human-oriented messages go to stderr, so stdout stays parseable."""
    print(msg, file=sys.stderr, flush=True)


def progress_bar(total: int | None, desc: str, disable: bool = False):
    """A tqdm progress bar on stderr."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="item", file=sys.stderr, disable=disable, dynamic_ncols=True)


class StageProgress:
    """The ``progress`` callback a stage takes, drawn as a tqdm bar on stderr.

    ``progress(done, total[, item_id, error])``: the bar appears at the first call
    (when the total is known); a failed item is written above it. Use as a
    context manager so the bar is closed however the stage ends.
    """

    def __init__(self, desc: str, disable: bool = False):
        self.desc, self.disable, self.bar = desc, disable, None

    def __call__(self, done: int, total: int, item_id: str | None = None, error: str | None = None) -> None:
        if self.bar is None:
            self.bar = progress_bar(total, self.desc, disable=self.disable)
        self.bar.update(done - self.bar.n)
        if error:
            self.bar.write(f"failed {item_id}: {error}")

    def __enter__(self) -> "StageProgress":
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()


def report_ingest(report, heading: str, error_word: str, as_json: bool) -> None:
    """Print an ingest report (``add``/``import``): its errors and notes, a summary, the JSON document if asked."""
    for e in report.errors:
        info(f"{error_word} {e}")
    for note in report.notes:
        info(note)
    info(f"{heading}: {report.summary()}")
    if as_json:
        emit_json(report.to_dict())


def add_json_flag(p) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def add_workers_flag(p, default: int | None = None) -> None:
    p.add_argument(
        "--workers", type=int, default=default, metavar="N", help="parallel worker processes (default: CPU count)"
    )


def existing_path(s: str) -> Path:
    return Path(s).expanduser()


def add_engine_flags(p) -> None:
    """``--engine {local,ray}`` and ``--address ADDR`` (Ray cluster) for the per-item stages."""
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="where per-item work runs: local process pool (default) or a Ray cluster (Ray Data)")
    p.add_argument("--address", default=None, metavar="ADDR",
                   help="Ray cluster address with --engine ray, e.g. auto or ray://head:10001"
                        " (default: $RAY_ADDRESS, else a local Ray instance)")


def engine_from_args(args):
    """The engine named by ``--engine``/``--address`` (see reelmatch.engine.get_engine)."""
    from reelmatch.engine import get_engine

    return get_engine(getattr(args, "engine", None), address=getattr(args, "address", None))
