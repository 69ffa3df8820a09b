"""Entry point of the ``reelmatch`` command.

Each command lives in ``reelmatch/cli/cmd_<name>.py`` with ``NAME``, ``HELP``,
``EXAMPLE``, ``add_arguments(parser)`` and ``run(args) -> int``. Command modules
import nothing heavy at top level, so ``reelmatch --help`` stays fast (a test
checks that torch, av, faiss and ray are not imported).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path

from reelmatch import __version__

#: command modules in the order ``--help`` lists them (pipeline order)
COMMAND_MODULES = (
    "init", "status", "add", "import", "download", "extract", "show", "features", "train",
    "embed", "index", "scenes", "similar", "match_ad", "dedupe", "evaluate", "serve", "build", "demo",
    "crawl", "bench",
)  # fmt: skip


def command_of(argv: list[str]) -> str | None:
    """The command word of ``argv`` (the first word that is not a global option or its value), if any."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("-w", "--workspace"):
            skip = True
        elif arg == "--" or not arg.startswith("-"):
            return None if arg == "--" else arg
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``reelmatch`` parser; with ``only`` (a command name), only that command's options are added.

    Every command is listed either way; adding a command's options may import its
    config module (index backends, download and scenes configs...), so running one
    command does not pay for the options of all the others.
    """
    parser = argparse.ArgumentParser(
        prog="reelmatch",
        description="Recommend movie trailers by how they look and sound.",
        epilog="Example: reelmatch -w ws init && reelmatch -w ws add trailers/ && reelmatch -w ws build",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-w",
        "--workspace",
        type=Path,
        default=Path(os.environ.get("REELMATCH_WORKSPACE") or "workspace"),
        metavar="PATH",
        help="workspace directory (env REELMATCH_WORKSPACE; default ./workspace)",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("--traceback", action="store_true", help="show the full traceback of an error")
    parser.add_argument("--version", action="version", version=f"reelmatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for modname in COMMAND_MODULES:
        mod = importlib.import_module(f"reelmatch.cli.cmd_{modname}")
        p = sub.add_parser(
            mod.NAME,
            help=mod.HELP,
            description=mod.HELP[0].upper() + mod.HELP[1:] + ".",
            epilog=f"Example:\n  {mod.EXAMPLE}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if only is None or only == mod.NAME:
            mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(only=command_of(argv))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    from reelmatch.errors import ReelmatchError

    try:
        if getattr(args, "workers", None) is not None:
            from reelmatch.runtime import check_workers

            args.workers = check_workers(args.workers)
        return int(args._run(args) or 0)
    except ReelmatchError as e:
        if args.traceback:
            raise
        print(f"reelmatch {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"reelmatch {args.command}: interrupted; finished work is kept", file=sys.stderr)
        return 130
    except Exception as e:  # an unexpected bug: still one line unless asked
        if args.traceback:
            raise
        msg = " ".join(str(e).split())[:300]
        print(
            f"reelmatch {args.command}: internal error: {type(e).__name__}: {msg} (rerun with --traceback)",
            file=sys.stderr,
        )
        return 3
