NAME = "crawl"
HELP = "catalogue from movie pages (Scrapy)"
EXAMPLE = "reelmatch crawl imdb --ids tt0111161 tt0068646 -o manifest.jsonl && reelmatch -w ws import manifest.jsonl"

TERMS = (
    "Crawls title pages for title, genres, year, plot and trailer link, and writes a JSONL manifest "
    "that 'reelmatch import' reads. Obeys robots.txt, identifies itself, is rate-limited (AutoThrottle), "
    "caches pages and resumes. You must follow the crawled site's terms of use (IMDb's conditions of use "
    "restrict automated collection: get permission, or use IMDb's published datasets with "
    "'reelmatch import --imdb-basics'). Needs: pip install 'reelmatch[crawl]'."
)


def add_arguments(p) -> None:
    from reelmatch.cli.common import add_json_flag

    p.description = HELP[0].upper() + HELP[1:] + ". " + TERMS
    p.add_argument("site", choices=["imdb"], help="site layout to crawl (imdb: /title/ttNNNNNNN/ pages with JSON-LD)")
    p.add_argument("ids_file", nargs="?", metavar="TITLE_IDS_FILE", help="text file: one IMDb id (tt...) or title URL per line")
    p.add_argument("--ids", nargs="+", default=[], metavar="TT", help="IMDb title ids on the command line")
    p.add_argument("-o", "--output", default="imdb-manifest.jsonl", metavar="FILE",
                   help="JSONL manifest to append to; ids already in it are skipped (default: imdb-manifest.jsonl)")
    p.add_argument("--base-url", default=None, metavar="URL", help="site root (default https://www.imdb.com)")
    p.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="page cache and resumable job state (default: <workspace>/tmp/crawl, "
                        "or .reelmatch-crawl next to the manifest when there is no workspace)")
    p.add_argument("--contact", default="", metavar="URL|EMAIL", help="your contact, added to the User-Agent")
    p.add_argument("--delay", type=float, default=None, metavar="S", help="minimum seconds between requests (default 2)")
    p.add_argument("--concurrency", type=int, default=None, metavar="N", help="requests in flight per site (default 2)")
    p.add_argument("--retries", type=int, default=None, metavar="N", help="retries after 429/5xx/timeouts (default 4)")
    p.add_argument("--no-cache", action="store_true", help="do not keep fetched pages on disk")
    p.add_argument("--no-follow-video", action="store_true",
                   help="do not visit video pages; use the trailer's page/player URL as is")
    add_json_flag(p)


def _config(args):
    import dataclasses

    from reelmatch.crawl.config import CrawlConfig

    changes = {"contact": args.contact, "http_cache": not args.no_cache, "follow_video_pages": not args.no_follow_video}
    if args.base_url:
        from urllib.parse import urlsplit

        from reelmatch.errors import InputError

        if urlsplit(args.base_url).scheme not in ("http", "https") or not urlsplit(args.base_url).netloc:
            raise InputError(f"--base-url {args.base_url!r}: expected http(s)://host[:port]")
        changes["base_url"] = args.base_url.rstrip("/")
    if args.delay is not None:
        changes["download_delay"] = max(args.delay, 0.0)
        changes["autothrottle_start_delay"] = max(args.delay, 0.0)
    if args.concurrency is not None:
        changes["concurrency_per_domain"] = max(args.concurrency, 1)
    if args.retries is not None:
        changes["retry_times"] = max(args.retries, 0)
    return dataclasses.replace(CrawlConfig(), **changes)


def run(args) -> int:
    import sys
    from pathlib import Path

    from reelmatch.cli.common import emit_json, info, progress_bar
    from reelmatch.crawl.manifest import read_manifest_ids
    from reelmatch.crawl.runner import crawl_imdb, read_title_ids
    from reelmatch.errors import InputError, WorkspaceError, require

    require("scrapy", "crawl")
    ids: list[str] = list(args.ids)
    if args.ids_file:
        file_ids, bad = read_title_ids(args.ids_file)
        for line in bad:
            info(f"skipped {line}")
        ids += file_ids
    if not ids:
        raise InputError("no title ids: give TITLE_IDS_FILE and/or --ids tt...")
    config = _config(args)
    output = Path(args.output).expanduser().resolve()
    if args.cache_dir:
        work_dir = Path(args.cache_dir).expanduser().resolve()
    else:
        try:
            from reelmatch.workspace import Workspace

            work_dir = Workspace(args.workspace).dir("tmp") / "crawl"
        except WorkspaceError:
            work_dir = output.parent / ".reelmatch-crawl"
    from reelmatch.ingest.imdb import normalise_imdb_id

    norm = {normalise_imdb_id(i) or i for i in ids}
    todo = len(norm - read_manifest_ids(output))
    bar = progress_bar(todo, "crawl", disable=args.json or todo == 0)

    def on_event(ev):
        if ev.get("event") == "problem":
            bar.write(f"problem: {ev.get('id')}: {ev.get('reason')}", file=sys.stderr)
        if ev.get("event") in ("item", "problem"):
            bar.update(1)

    try:
        report = crawl_imdb(ids, output, config, work_dir=work_dir, on_event=on_event,
                            log_level="DEBUG" if args.verbose >= 2 else "INFO")
    finally:
        bar.close()
    info(
        f"crawl {report.reason or 'stopped'}: {report.written} title(s) written to {output}, "
        f"{report.skipped} already there, {len(report.problems)} problem(s)"
        + (f"; log: {report.log_file}" if report.written or report.problems else "")
    )
    if args.json:
        emit_json(report.to_dict())
    if report.reason != "finished":
        info("the crawl did not finish: run the same command again to resume")
        return 1
    if report.written:
        info(f"next: reelmatch -w {args.workspace} import {output}")
    return 0
