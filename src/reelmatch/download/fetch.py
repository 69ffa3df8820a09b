"""``download``: fetch URL items with yt-dlp (used as a library) into ``<ws>/media``.

Per item: yt-dlp writes ``media/<item id>.<ext>.part`` and renames it when the
whole file has arrived; a ``.part`` left by an interrupted run is resumed with an
HTTP range request. A finished file is marked done only after PyAV decodes it.
Transient failures are retried with exponential backoff; permanent ones (404,
unsupported URL, video removed) are recorded at once. Every failure is stored
with a one-line reason (``reelmatch status``).

The :data:`DOWNLOAD` stage runs on any engine (:func:`reelmatch.runner.run_stage`):
on the local one its workers are threads (the work waits on the network); only
the calling thread writes to the catalogue.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from reelmatch.catalog.db import Item
from reelmatch.download.config import DownloadConfig
from reelmatch.errors import InputError, ItemFailure
from reelmatch.runner import Stage
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
    """At most one download start per ``interval`` seconds over all threads of this process."""

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


class _FilePacer:
    """At most one download start per ``interval`` seconds over every thread and process sharing ``path``.

    The next allowed start (wall-clock time) is kept in ``path`` under an OS file
    lock; where the file cannot be locked, each process paces itself.
    """

    def __init__(self, path: str, interval: float):
        self.path, self.interval = path, interval
        self._fallback = _Pacer(interval)

    def wait(self) -> None:
        if self.interval <= 0:
            return
        import fcntl

        try:
            with open(self.path, "a+") as f:
                fcntl.flock(f, fcntl.LOCK_EX)
                f.seek(0)
                text = f.read().strip()
                now = time.time()
                start = max(now, float(text) if text else 0.0)
                f.seek(0)
                f.truncate()
                f.write(repr(start + self.interval))
                f.flush()
        except (OSError, ValueError):
            self._fallback.wait()
            return
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


def _download_paced(item: Item, *, pace_file: str, interval: float, **kwargs) -> DownloadResult:
    """``download_one`` in an engine's worker (thread or process), paced with every other worker."""
    return download_one(item, pacer=_FilePacer(pace_file, interval), **kwargs)


def _downloaded_path(ydl, info: dict) -> Path | None:
    for d in info.get("requested_downloads") or ():
        if d.get("filepath"):
            return Path(d["filepath"])
    name = info.get("filepath") or info.get("_filename") or ydl.prepare_filename(info)
    return Path(name) if name else None


class _DownloadJob:
    """URL items not downloaded with the config; files fetched by the engine's workers, recorded here."""

    marks_done = False

    def __init__(self, ws, config: DownloadConfig, options, on_result=None):
        self.ws, self.config, self.on_result = ws, config, on_result
        self.fingerprint = fp = config.fingerprint()
        cat = ws.catalog
        media_dir = ws.dir("media")
        self.already = 0
        self.stale: set[str] = set()
        todo: list[Item] = []
        for item in cat.todo(STAGE, fp, retry_failed=options.retry_failed):
            if not item.is_url:
                continue
            if item.media_path:
                f = ws.media_file(item)
                if not ws.owns(f) and f.is_file():
                    cat.mark_done(item.id, STAGE, fp)  # the user gave the file
                    self.already += 1
                    continue
                prior = cat.stage_of(item.id, STAGE)
                if prior and prior["status"] == "done" and ws.owns(f):
                    f.unlink(missing_ok=True)  # made with another config: fetch again
                    self.stale.add(item.id)
            todo.append(item)
        self.tasks, self.total = todo, len(todo)
        self.fn = None
        if todo:
            can_merge = ffmpeg_available() if config.merge is None else config.merge
            if not can_merge:
                log.info("no ffmpeg binary: choosing formats that need no merging")
            n_workers = min(options.workers or 4, len(todo))
            rate = None if config.rate_limit is None else max(config.rate_limit // n_workers, 1024)
            # one pace for all workers, threads or processes: a lock file next to the media
            self.fn = partial(_download_paced, media_dir=media_dir, config=config, can_merge=can_merge, rate=rate,
                              pace_file=str(media_dir / ".download-pace"), interval=config.min_interval)

    def write(self, item: Item, res, error):
        if not isinstance(res, DownloadResult):
            res = DownloadResult(item.id, False, error=error or "no result")
        if res.ok:
            _record_done(self.ws, item, res, self.fingerprint)
        elif item.id in self.stale:  # its old file is gone: so is the work made from it
            _forget_media(self.ws, item.id)
        if self.on_result is not None:
            self.on_result(item, res)
        return {item.id: None if res.ok else res.error}

    def close(self) -> dict:
        return {"already": self.already, "artifact": self.ws.dir("media")}


def _download_failed(res) -> str | None:
    if isinstance(res, ItemFailure):
        return res.reason
    return None if res.ok else res.error


#: the download stage, for :func:`reelmatch.runner.run_stage` (network-bound: threads on the local engine)
DOWNLOAD = Stage(STAGE, plan=_DownloadJob, failed=_download_failed, io_bound=True, min_workers=1)


def download_all(
    ws,
    config: DownloadConfig | None = None,
    *,
    workers: int = 4,
    retry_failed: bool = False,
    progress: Callable | None = None,
    engine=None,
) -> DownloadReport:
    """Download every URL item not yet done with this config; returns a :class:`DownloadReport`.

    Items that already have a local media file they were given (a manifest with
    both ``path`` and ``url``) are marked done without a download. Failed items
    are retried only with ``retry_failed``. ``progress(done, total, item_id, error)``
    is called in this thread after each item (a two-argument ``progress(item,
    result)`` gets the :class:`DownloadResult`). ``engine``: ``None``/``"local"``
    downloads in threads here; ``"ray"`` or an engine object runs the same
    ``download_one`` on its workers (``media`` must then be on storage the workers share).
    """
    from reelmatch.runner import RunOptions, run_stage
    from reelmatch.runtime import check_workers

    config = config or DownloadConfig()
    workers = check_workers(workers, minimum=1)
    on_result = None
    if progress is not None and _positional_arity(progress) == 2:
        on_result, progress = progress, None
    stage = DOWNLOAD if on_result is None else replace(
        DOWNLOAD, plan=lambda ws_, cfg, opts: _DownloadJob(ws_, cfg, opts, on_result))
    res = run_stage(ws, stage, config, engine, progress, RunOptions(workers=workers, retry_failed=retry_failed))
    report = DownloadReport(done=res.done, failed=res.failed, already=res.counts.get("already", 0),
                            failures=[(f["id"], f["title"], f["error"]) for f in res.failures])
    log.info("download: %s", report.summary())
    return report


def _positional_arity(fn) -> int:
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return -1
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return -1
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


def _record_done(ws, item: Item, res: DownloadResult, fp: str) -> None:
    """Point the item at its downloaded file (the runner then marks it done)."""
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


def _forget_media(ws, item_id: str) -> None:
    current = ws.catalog.get(item_id)
    extra = {k: v for k, v in (current.extra or {}).items() if k not in MEDIA_EXTRA_KEYS}
    save_item(ws.catalog, replace(current, media_path=None, sha256=None, duration=None, extra=extra), current)
