"""``download``: fetch URL items with yt-dlp (used as a library) into ``<ws>/media``.

Per item: yt-dlp writes ``media/<item id>.<ext>.part`` and renames it when the
whole file has arrived; a ``.part`` left by an interrupted run is resumed with an
HTTP range request. A finished file is marked done only after PyAV decodes it.
Transient failures are retried with exponential backoff; permanent ones (404,
unsupported URL, video removed) are recorded at once. Every failure is stored
with a one-line reason (``reelmatch status``).

Workers are threads (the work waits on the network); only the calling thread
writes to the catalogue.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path

from reelmatch.catalog.db import Item
from reelmatch.download.config import DownloadConfig
from reelmatch.errors import InputError
from reelmatch.ingest.store import MEDIA_EXTRA_KEYS, save_item

log = logging.getLogger(__name__)

STAGE = "download"
_PERMANENT = re.compile(
    r"HTTP Error 4(0[0-9]|1[0-9])|Unsupported URL|Video unavailable|Private video|has been removed|"
    r"not available|copyright|does not decode|Requested format is not available|Unable to extract|"
    r"File is larger than max-filesize|is not a valid URL|Sign in to confirm",
    re.IGNORECASE,
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class DownloadResult:
    """Outcome of one item: ``ok`` with the file facts, or ``error`` (one line)."""

    item_id: str
    ok: bool
    path: Path | None = None
    sha256: str | None = None
    duration: float | None = None
    facts: dict | None = None
    error: str | None = None
    attempts: int = 0


@dataclass
class DownloadReport:
    """Counts of a download run; ``failures`` holds (id, title, one-line reason)."""

    done: int = 0
    failed: int = 0
    already: int = 0
    failures: list[tuple[str, str, str]] = field(default_factory=list)

    def summary(self) -> str:
        return f"{self.done} downloaded, {self.failed} failed, {self.already} already had media"

    def to_dict(self) -> dict:
        return {
            "done": self.done,
            "failed": self.failed,
            "already": self.already,
            "failures": [{"id": i, "title": t, "error": e} for i, t, e in self.failures],
        }


def one_line(msg: str) -> str:
    msg = _ANSI.sub("", str(msg))
    msg = re.sub(r"^\s*ERROR:\s*", "", msg)
    msg = re.sub(r"\s*\(caused by .*$", "", msg, flags=re.S)  # repeats the message as a repr
    msg = re.sub(r"[;.]?\s*please report this issue.*$", "", msg, flags=re.S | re.I)
    return " ".join(msg.split())[:400] or "unknown error"


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


class _Pacer:
    """At most one download start per ``interval`` seconds over all threads."""

    def __init__(self, interval: float):
        self.interval = interval
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self) -> None:
        if self.interval <= 0:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


class _YdlLogger:
    """Routes yt-dlp's messages to our logger; remembers the last error line."""

    def __init__(self, item_id: str):
        self.item_id = item_id
        self.last_error: str | None = None

    def debug(self, msg):
        log.debug("%s: %s", self.item_id, _ANSI.sub("", msg))

    def info(self, msg):
        log.debug("%s: %s", self.item_id, _ANSI.sub("", msg))

    def warning(self, msg):
        log.info("%s: %s", self.item_id, _ANSI.sub("", msg))

    def error(self, msg):
        self.last_error = one_line(msg)
        log.info("%s: %s", self.item_id, self.last_error)


def ydl_options(config: DownloadConfig, out_template: str, *, can_merge: bool, rate: int | None, logger) -> dict:
    """yt-dlp options for one item."""
    backoff = lambda n: min(config.backoff * (2 ** max(n - 1, 0)), config.max_backoff)  # noqa: E731
    opts = {
        "format": config.format_spec(can_merge),
        "outtmpl": {"default": out_template},
        "continuedl": True,
        "nopart": False,
        "overwrites": False,
        "noplaylist": True,
        "retries": config.http_retries,
        "fragment_retries": config.http_retries,
        "file_access_retries": 3,
        "retry_sleep_functions": {"http": backoff, "fragment": backoff, "file_access": backoff},
        "socket_timeout": config.socket_timeout,
        "ratelimit": rate,
        "max_filesize": config.max_filesize,
        "quiet": True,
        "noprogress": True,
        "no_color": True,
        "cachedir": False,
        "logger": logger,
        "fixup": "detect_or_warn" if can_merge else "never",
        "updatetime": False,
    }
    return {k: v for k, v in opts.items() if v is not None}


def download_one(item: Item, media_dir: Path, config: DownloadConfig, *, can_merge: bool, rate: int | None, pacer=None) -> DownloadResult:
    """Fetch one URL item into ``media_dir``; never raises for a bad item."""
    import yt_dlp

    from reelmatch.ingest.files import media_facts
    from reelmatch.ingest.probe import probe_video, sha256_file

    template = str(media_dir / f"{item.id}.%(ext)s")
    attempts, error = 0, "not attempted"
    while attempts <= config.retries:
        if attempts:
            delay = min(config.backoff * 2 ** (attempts - 1), config.max_backoff)
            log.info("%s: retry %d in %.1fs after: %s", item.id, attempts, delay, error)
            time.sleep(delay)
        attempts += 1
        if pacer is not None:
            pacer.wait()
        logger = _YdlLogger(item.id)
        try:
            with yt_dlp.YoutubeDL(ydl_options(config, template, can_merge=can_merge, rate=rate, logger=logger)) as ydl:
                info = ydl.extract_info(item.source, download=True)
                info = ydl.sanitize_info(info) if info else None
                if not info:
                    raise RuntimeError("yt-dlp returned nothing for this URL")
                path = _downloaded_path(ydl, info)
        except yt_dlp.utils.DownloadError as e:
            error = logger.last_error or one_line(str(e))
            if _PERMANENT.search(error):
                break
            continue
        except Exception as e:  # noqa: BLE001 - a bad item never stops the batch
            error = one_line(f"{type(e).__name__}: {e}")
            continue
        if path is None or not path.is_file():
            error = "yt-dlp finished but no file was written"
            continue
        if path.name.endswith((".part", ".ytdl")):
            error = f"only a partial file {path.name} was written"
            continue
        try:
            vinfo = probe_video(path)
        except InputError as e:
            path.unlink(missing_ok=True)
            error = f"downloaded file does not decode ({e})"
            break
        facts = media_facts(path, vinfo)
        fmt = info.get("format_id")
        if fmt:
            facts["downloaded_format"] = str(fmt)
        return DownloadResult(
            item.id, True, path=path, sha256=sha256_file(path), duration=vinfo.duration, facts=facts, attempts=attempts
        )
    return DownloadResult(item.id, False, error=error, attempts=attempts)


_PROCESS_PACERS: dict[float, _Pacer] = {}


def _download_paced(item: Item, *, interval: float, **kwargs) -> DownloadResult:
    """``download_one`` in an engine's worker process, paced by that process's own pacer."""
    pacer = _PROCESS_PACERS.setdefault(interval, _Pacer(interval))
    return download_one(item, pacer=pacer, **kwargs)


def _downloaded_path(ydl, info: dict) -> Path | None:
    for d in info.get("requested_downloads") or ():
        if d.get("filepath"):
            return Path(d["filepath"])
    name = info.get("filepath") or info.get("_filename") or ydl.prepare_filename(info)
    return Path(name) if name else None


def download_all(
    ws,
    config: DownloadConfig | None = None,
    *,
    workers: int = 4,
    retry_failed: bool = False,
    progress: Callable[[Item, DownloadResult], None] | None = None,
    engine=None,
) -> DownloadReport:
    """Download every URL item not yet done with this config; returns a :class:`DownloadReport`.

    Items that already have a local media file they were given (a manifest with
    both ``path`` and ``url``) are marked done without a download. Failed items
    are retried only with ``retry_failed``. ``progress(item, result)`` is called
    in this thread after each item. ``engine``: ``None``/``"local"`` downloads in
    threads here; ``"ray"`` or an engine object runs the same ``download_one`` on
    its workers (``media`` must then be on storage the workers share).
    """
    config = config or DownloadConfig()
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    fp = config.fingerprint()
    cat = ws.catalog
    media_dir = ws.dir("media")
    report = DownloadReport()
    todo: list[Item] = []
    stale: set[str] = set()
    for item in cat.todo(STAGE, fp, retry_failed=retry_failed):
        if not item.is_url:
            continue
        if item.media_path:
            f = ws.media_file(item)
            if not ws.owns(f) and f.is_file():
                cat.mark_done(item.id, STAGE, fp)  # the user gave the file
                report.already += 1
                continue
            prior = cat.stage_of(item.id, STAGE)
            if prior and prior["status"] == "done" and ws.owns(f):
                f.unlink(missing_ok=True)  # made with another config: fetch again
                stale.add(item.id)
        todo.append(item)
    if not todo:
        return report
    can_merge = ffmpeg_available() if config.merge is None else config.merge
    if not can_merge:
        log.info("no ffmpeg binary: choosing formats that need no merging")
    n_workers = min(workers, len(todo))
    rate = None if config.rate_limit is None else max(config.rate_limit // n_workers, 1024)
    pacer = _Pacer(config.min_interval)
    by_id = {it.id: it for it in todo}

    def record(res: DownloadResult) -> None:
        item = by_id[res.item_id]
        if res.ok:
            _record_done(ws, item, res, fp)
            report.done += 1
        else:
            if item.id in stale:  # its old file is gone: so is the work made from it
                _forget_media(ws, item.id)
            cat.mark_failed(item.id, STAGE, res.error, fp)
            report.failed += 1
            report.failures.append((item.id, item.title, res.error))
        if progress is not None:
            progress(item, res)

    if engine is not None and getattr(engine, "name", engine) != "local":
        from functools import partial

        from reelmatch.engine import ItemFailure, get_engine

        # each worker process paces its own starts n_workers times slower: the same politeness overall
        one = partial(_download_paced, media_dir=media_dir, config=config, can_merge=can_merge, rate=rate,
                      interval=config.min_interval * n_workers)
        for item, res in get_engine(engine).map(one, todo, workers=n_workers, timeout=None):
            record(DownloadResult(item.id, False, error=res.reason) if isinstance(res, ItemFailure) else res)
        log.info("download: %s", report.summary())
        return report
    with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="download") as pool:
        futures = [
            pool.submit(download_one, it, media_dir, config, can_merge=can_merge, rate=rate, pacer=pacer)
            for it in todo
        ]
        try:
            for fut in as_completed(futures):
                record(fut.result())
        except BaseException:  # interrupted: start nothing new; finished items are recorded
            for fut in futures:
                fut.cancel()
            raise
    log.info("download: %s", report.summary())
    return report


def _record_done(ws, item: Item, res: DownloadResult, fp: str) -> None:
    cat = ws.catalog
    current = cat.get(item.id)  # the catalogue may have changed while downloading
    rel = res.path.relative_to(ws.root) if ws.owns(res.path) else res.path
    updated = replace(
        current,
        media_path=str(rel),
        sha256=res.sha256,
        duration=res.duration,
        extra={**(current.extra or {}), **(res.facts or {})},
    )
    save_item(cat, updated, current)
    cat.mark_done(item.id, STAGE, fp)


def _forget_media(ws, item_id: str) -> None:
    current = ws.catalog.get(item_id)
    extra = {k: v for k, v in (current.extra or {}).items() if k not in MEDIA_EXTRA_KEYS}
    save_item(ws.catalog, replace(current, media_path=None, sha256=None, duration=None, extra=extra), current)
