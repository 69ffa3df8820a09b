"""Run a crawl in a subprocess and collect its report (no Scrapy import here)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from reelmatch.config import atomic_write_json, to_jsonable
from reelmatch.crawl.config import CrawlConfig
from reelmatch.crawl.manifest import read_manifest_ids
from reelmatch.errors import InputError, ReelmatchError, require
from reelmatch.ingest.imdb import find_imdb_id, normalise_imdb_id

log = logging.getLogger(__name__)


@dataclass
class CrawlReport:
    """What one crawl did. ``problems``: ``{"id", "url", "reason"}`` one per failed title."""

    output: Path
    requested: int = 0
    skipped: int = 0  # already in the manifest
    written: int = 0
    problems: list[dict] = field(default_factory=list)
    reason: str = ""  # Scrapy's close reason ("finished", "shutdown", ...)
    stats: dict = field(default_factory=dict)
    log_file: Path | None = None

    def to_dict(self) -> dict:
        return to_jsonable(self.__dict__)


def read_title_ids(path: str | os.PathLike) -> tuple[list[str], list[str]]:
    """IMDb ids of a text file: one per line (``tt0111161`` or a title URL);
    blank lines and ``#`` comments ignored. Returns ``(ids, bad_lines)``, the
    bad lines as ``"file:line: reason"``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise InputError(f"{p}: cannot read title ids: {e.strerror or e}") from e
    ids, bad = [], []
    for n, line in enumerate(text.splitlines(), 1):
        s = line.split("#", 1)[0].strip()
        if not s:
            continue
        iid = normalise_imdb_id(s) if s.lower().startswith("tt") else find_imdb_id(s)
        if iid is None:
            bad.append(f"{p.name}:{n}: {s[:60]!r} is not an IMDb title id (tt + digits)")
        else:
            ids.append(iid)
    return ids, bad


def crawl_imdb(
    ids: Iterable[str],
    output: str | os.PathLike,
    config: CrawlConfig = CrawlConfig(),
    *,
    work_dir: str | os.PathLike,
    on_event: Callable[[dict], None] | None = None,
    log_level: str = "INFO",
) -> CrawlReport:
    """Crawl the title pages of ``ids`` and append a manifest row per title to ``output``.

    Ids already in ``output`` are skipped. ``work_dir`` holds the page cache
    (``httpcache/``), the resumable Scrapy job (``jobs/``) and ``crawl.log``.
    Runs Scrapy in a subprocess; ``on_event`` sees each ``item``/``problem``
    event as it happens. Problems never stop the crawl; they are in the report.
    """
    require("scrapy", "crawl")
    output = Path(output).expanduser().resolve()
    work_dir = Path(work_dir).expanduser().resolve()
    wanted: list[str] = []
    for raw in ids:
        iid = normalise_imdb_id(raw) if str(raw).strip().lower().startswith("tt") else None
        if iid is None:
            raise InputError(f"{raw!r} is not an IMDb title id (tt + digits)")
        if iid not in wanted:
            wanted.append(iid)
    report = CrawlReport(output=output, requested=len(wanted), log_file=work_dir / "crawl.log")
    done = read_manifest_ids(output)
    todo = [i for i in wanted if i not in done]
    report.skipped = len(wanted) - len(todo)
    if report.skipped:
        log.info("%d title(s) already in %s, skipped", report.skipped, output)
    if not todo:
        report.reason = "finished"
        return report

    work_dir.mkdir(parents=True, exist_ok=True)
    site = hashlib.sha256(config.base_url.rstrip("/").encode()).hexdigest()[:10]
    params = {
        "ids": todo,
        "config": to_jsonable(config),
        "output": str(output),
        "cache_dir": str(work_dir / "httpcache"),
        "job_dir": str(work_dir / "jobs" / f"imdb-{site}"),
        "log_file": str(report.log_file),
        "log_level": log_level,
    }
    params_path = work_dir / f"params-{os.getpid()}.json"
    atomic_write_json(params_path, params)
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, "-m", "reelmatch.crawl.child", str(params_path)]
    log.info("crawling %d title(s) from %s (log: %s)", len(todo), config.base_url, report.log_file)
    with open(report.log_file, "ab") as errf:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errf, text=True, encoding="utf-8", env=env)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                kind = ev.get("event")
                if kind == "item":
                    report.written += 1
                elif kind == "problem":
                    report.problems.append({k: ev.get(k) for k in ("id", "url", "reason")})
                    log.info("problem: %s: %s (%s)", ev.get("id"), ev.get("reason"), ev.get("url"))
                elif kind == "closed":
                    report.reason = ev.get("reason", "")
                    report.stats = ev.get("stats", {})
                if on_event is not None:
                    on_event(ev)
            rc = proc.wait()
        except BaseException:
            if proc.poll() is None:  # let Scrapy shut down cleanly: the job stays resumable
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            raise
        finally:
            params_path.unlink(missing_ok=True)
    if not report.reason:
        tail = _tail(report.log_file)
        raise ReelmatchError(f"crawl process exited with status {rc} before finishing: {tail} (log: {report.log_file})")
    return report


def _tail(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    return " ".join(lines[-1].split())[:200] if lines else "empty log"
