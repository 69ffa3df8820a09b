"""``reelmatch import``: manifests, MovieLens, TMDB and IMDb files.

Each source is one entry of ``SOURCES``: (args attribute, "module:function",
label). To add a source, add its option in ``add_arguments`` and a line in
``SOURCES``; the function takes ``(ws, value)`` (plus the config that
``_config`` builds from the options, for sources that have one) and returns a
report with ``errors``, ``notes``, ``imported``, ``summary()`` and ``to_dict()``.
"""

NAME = "import"
HELP = "CSV/JSONL manifest, MovieLens files"
EXAMPLE = (
    "reelmatch -w ws import catalogue.csv  |  reelmatch -w ws import --movielens ml-25m/"
    "  |  reelmatch -w ws import --tmdb tmdb_5000_movies.csv"
)

#: (args attribute, "module:function", label) per kind of source; run() uses the first one given
SOURCES = (
    ("movielens", "reelmatch.ingest:import_movielens", "MovieLens folder"),
    ("file", "reelmatch.ingest:import_manifest", "manifest"),
    ("imdb_basics", "reelmatch.ingest.imdb:import_imdb_basics", "IMDb title.basics"),
    ("tmdb", "reelmatch.ingest.tmdb:import_tmdb", "TMDB"),
)


def add_arguments(p) -> None:
    p.add_argument(
        "file", nargs="?", default=None, metavar="FILE",
        help="CSV/TSV or JSONL manifest: title, genres (A|B), kind (trailer|ad), year, plot, path or url, id",
    )  # fmt: skip
    p.add_argument(
        "--movielens", metavar="DIR", default=None,
        help="MovieLens folder with movies.csv, links.csv and ml-youtube.csv (youtubeId,movieId,title)",
    )  # fmt: skip
    p.add_argument(
        "--imdb-basics", metavar="FILE", default=None,
        help="IMDb title.basics.tsv.gz: merge genres, years, titles into items with an IMDb id (docs/crawl.md)",
    )  # fmt: skip
    p.add_argument(
        "--tmdb", metavar="FILE", default=None,
        help="TMDB CSV (tmdb_5000_movies.csv, movies_metadata.csv, or tmdb_id,title,plot,genres): "
        "plots and genres joined onto items by TMDB or IMDb id",
    )  # fmt: skip
    p.add_argument(
        "--overwrite", action="store_true",
        help="with --tmdb / --imdb-basics: the file is authoritative (replace plot, genres, year) instead of filling gaps",
    )  # fmt: skip
    p.add_argument(
        "--add-unmatched", action="store_true",
        help="with --tmdb: rows that match no item become plot-only items (no media yet)",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the report as one JSON document on stdout")
    p.epilog = (p.epilog or "") + (
        "\n\nA relative 'path' in a manifest is relative to the manifest's folder. Re-importing"
        "\nupdates items (same id: the given id, else derived from the url or the file's content)."
        "\nBad rows are listed on stderr with file, line and field, and skipped; the rest imports."
        "\nExit status: 0 if at least one row is in the catalogue after the import (or the file"
        "\nhad no rows), 1 if every row was rejected, 2 if the file itself cannot be read."
    )


def run(args) -> int:
    import importlib

    from reelmatch.cli.common import open_workspace, report_ingest
    from reelmatch.errors import InputError

    given = [(attr, target, label) for attr, target, label in SOURCES if getattr(args, attr, None)]
    if len(given) != 1:
        raise InputError("give exactly one source: FILE or " + " or ".join(f"--{a.replace('_', '-')}" for a, _, _ in SOURCES if a != "file"))
    attr, target, label = given[0]
    mod, func = target.split(":")
    importer = getattr(importlib.import_module(mod), func)
    if getattr(args, "add_unmatched", False) and attr != "tmdb":
        raise InputError("--add-unmatched is for --tmdb only")
    if getattr(args, "overwrite", False) and attr not in ("tmdb", "imdb_basics"):
        raise InputError("--overwrite is for --tmdb and --imdb-basics only")
    ws = open_workspace(args)
    config = _config(attr, args)
    report = importer(ws, getattr(args, attr)) if config is None else importer(ws, getattr(args, attr), config)
    report_ingest(report, f"import {label}", "error", args.json)
    return 0 if report.imported or not report.errors else 1


def _config(attr: str, args):
    """The importer's config from the command's options (None: the importer takes none)."""
    if attr == "tmdb":
        from reelmatch.ingest.tmdb import TmdbConfig

        return TmdbConfig(overwrite=args.overwrite, add_unmatched=args.add_unmatched)
    if attr == "imdb_basics":
        from reelmatch.ingest.imdb import ImdbBasicsConfig

        return ImdbBasicsConfig(overwrite=args.overwrite)
    return None
