"""Helpers shared by the command modules (kept light: no heavy imports)."""

from __future__ import annotations

import json
import sys


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
    """A progress bar on stderr: tqdm on a terminal, else a :class:`LineProgress` (a log gets lines, not a bar);
    ``disable``: a :class:`SilentProgress` (no bar, and no tqdm import: ~15 ms of a command's start-up)."""
    if disable:
        return SilentProgress(total, desc)
    if not _is_tty(sys.stderr):
        return LineProgress(total, desc)
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="item", file=sys.stderr, dynamic_ncols=True)


def _is_tty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class LineProgress:
    """The part of tqdm's interface the CLI uses, written as whole lines for logs.

    A line ``desc: done/total (pct%)`` at most every ``every`` seconds or each 10 %
    of the total, and one at the end: no carriage-return updates.
    """

    def __init__(self, total: int | None, desc: str, *, every: float = 5.0, file=None):
        import time

        self.total, self.desc, self.every = total, desc, every
        self.file = file or sys.stderr
        self.n = 0
        self.postfix = ""
        self._clock = time.monotonic
        self._last_time = self._clock()
        self._last_step = 0
        self._printed_n = None
        self.closed = False

    def _line(self) -> str:
        if self.total:
            text = f"{self.desc}: {self.n}/{self.total} ({100 * self.n // max(self.total, 1)}%)"
        else:
            text = f"{self.desc}: {self.n}"
        return text + (f" {self.postfix}" if self.postfix else "")

    def _emit(self) -> None:
        print(self._line(), file=self.file, flush=True)
        self._last_time, self._printed_n = self._clock(), self.n
        if self.total:
            self._last_step = 10 * self.n // self.total

    def refresh(self) -> None:
        if self.closed or self.n == self._printed_n:
            return
        step = 10 * self.n // self.total if self.total else 0
        if step > self._last_step or self._clock() - self._last_time >= self.every:
            self._emit()

    def update(self, k: int = 1) -> None:
        self.n += k
        self.refresh()

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.postfix = text
        if refresh and self._clock() - self._last_time >= self.every:
            self._emit()

    def write(self, text: str, file=None) -> None:
        print(text, file=file or self.file, flush=True)

    def close(self) -> None:
        if not self.closed and self.n and self.n != self._printed_n:
            self._emit()
        self.closed = True


class SilentProgress(LineProgress):
    """No progress lines (``--no-progress``); :meth:`write` still prints, on stderr (a failed item's line)."""

    def _emit(self) -> None:
        self._printed_n = self.n


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


def add_workers_flag(p, default: int | None = None, help: str = "parallel worker processes (default: CPU count)") -> None:
    """``--workers N``; the value is checked by ``main`` (:func:`reelmatch.runtime.check_workers`),
    so a bad one is a one-line ``InputError`` like every other bad input."""
    p.add_argument("--workers", default=default, metavar="N", help=help)


def add_engine_flags(p) -> None:
    """``--engine {local,ray}`` and ``--address ADDR`` (Ray cluster) for the per-item stages."""
    from reelmatch.engine import list_engines

    p.add_argument("--engine", choices=tuple(list_engines()), default="local",
                   help="where per-item work runs: local process pool (default) or a Ray cluster (Ray Data)")
    p.add_argument("--address", default=None, metavar="ADDR",
                   help="Ray cluster address with --engine ray, e.g. auto or ray://head:10001"
                        " (default: $RAY_ADDRESS, else a local Ray instance)")


def add_commit_flags(p, *, writes: str, commits: str) -> None:
    """``--workers-write`` and the driver's batched commit (``--commit-every``, ``--commit-seconds``).

    ``writes``: what workers write themselves; ``commits``: what a commit makes durable.
    """
    import argparse

    p.add_argument("--workers-write", action=argparse.BooleanOptionalAction, default=None,
                   help=f"workers write {writes} and send back only where they are"
                        " (default: on with --engine ray, off with the local engine)")
    p.add_argument("--commit-every", type=int, default=256, metavar="N",
                   help=f"commit {commits} once per N items (default 256) ...")
    p.add_argument("--commit-seconds", type=float, default=1.0, metavar="S",
                   help="... or once per S seconds, whichever comes first (default 1)")


def clip_config_of(ws):
    """The workspace's clip config, resolved once at the CLI edge and passed to the stages."""
    from reelmatch.dataset.store import resolve_clip_config

    return resolve_clip_config(ws)


def engine_from_args(args):
    """The engine named by ``--engine``/``--address`` (see reelmatch.engine.get_engine)."""
    from reelmatch.engine import get_engine

    return get_engine(getattr(args, "engine", None), address=getattr(args, "address", None))


def add_exclusion_flags(p) -> None:
    """Brand-safety exclusions and explanations of ``similar`` / ``match-ad``."""
    g = p.add_argument_group("exclusions (applied inside the search) and explanations")
    g.add_argument("--exclude-genre", action="append", default=[], metavar="GENRE",
                   help="leave out items with this genre (repeatable)")
    g.add_argument("--exclude-kind", action="append", default=[], choices=("trailer", "ad"),
                   help="leave out trailers or ads (repeatable)")
    g.add_argument("--exclude-flag", action="append", default=[], metavar="FLAG",
                   help="leave out items flagged so in the catalogue, e.g. violence (repeatable)")
    g.add_argument("--require-genre", action="append", default=[], metavar="GENRE",
                   help="only items with at least one of these genres (repeatable)")
    g.add_argument("--profile", metavar="JSON",
                   help='advertiser profile: {"exclude_genres": [..], "exclude_flags": [..], "require_genres": [..]}')
    g.add_argument("--explain", action="store_true",
                   help="explain each result: per-modality similarities, shared genres and flags, best frame pair")


def exclusions_from_args(args):
    """The :class:`~reelmatch.query.filters.Exclusions` of the command line (and ``--profile``), or None."""
    from reelmatch.query.filters import Exclusions

    ex = Exclusions(tuple(args.exclude_genre), tuple(args.exclude_kind), tuple(args.exclude_flag),
                    tuple(args.require_genre))
    if args.profile:
        ex = ex.merged(Exclusions.from_profile(args.profile))
    return ex if ex.active else None
