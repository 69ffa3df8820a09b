"""``add``: video files and folders into the catalogue."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from reelmatch.catalog.db import KINDS, Item, item_id_for
from reelmatch.errors import InputError
from reelmatch.ingest.fields import title_from_filename
from reelmatch.ingest.probe import VideoInfo, probe_video, sha256_file
from reelmatch.ingest.report import IngestReport
from reelmatch.ingest.store import save_item

log = logging.getLogger(__name__)


def media_facts(path: Path, info: VideoInfo) -> dict:
    """What ``Item.extra`` keeps about a local media file (lets re-adds skip hashing)."""
    st = path.stat()
    return {
        "file_stat": [st.st_size, st.st_mtime_ns],
        "width": info.width,
        "height": info.height,
        "codec": info.codec,
        "has_audio": info.has_audio,
    }


def iter_files(paths: Iterable[str | os.PathLike], report: IngestReport, *, skip_under: Path | None = None) -> list[Path]:
    """Absolute files named by ``paths``, folders walked recursively in name order.

    Hidden files and folders met while walking are left out (an explicitly named
    one is kept); so is anything under ``skip_under`` (the workspace itself).
    Missing paths are reported.
    """
    out: list[Path] = []
    for raw in paths:
        p = Path(raw).expanduser().absolute()
        if not p.exists():
            report.error(p, None, None, "no such file or directory")
            continue
        if p.is_file():
            out.append(p.resolve())
            continue
        for dirpath, dirnames, filenames in os.walk(p, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            d = Path(dirpath)
            if skip_under is not None and _is_under(d.resolve(), skip_under):
                dirnames[:] = []
                continue
            for name in sorted(filenames):
                if not name.startswith("."):
                    f = d / name
                    if f.is_file():
                        out.append(f.resolve())
    seen: set[Path] = set()
    return [f for f in out if not (f in seen or seen.add(f))]


def _is_under(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def add_paths(
    ws,
    paths: Iterable[str | os.PathLike],
    *,
    genres: Iterable[str] = (),
    kind: str | None = "trailer",
    title: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> IngestReport:
    """Add video files (and folders of them, recursively) to the catalogue.

    A file is a video if PyAV decodes a video stream from it (see
    :func:`reelmatch.ingest.probe.probe_video`); anything else is skipped with a
    reason in ``report.errors``. The item id comes from the content
    (``item_id_for("file", sha256)``), so the same file added twice, or two
    copies of it, make one item (its genres are merged). The title is taken from
    the file name unless ``title`` is given. ``kind=None`` keeps the kind of items
    already in the catalogue (new ones become trailers). ``progress(done, total)``
    is called after each file.
    """
    if kind is not None and kind not in KINDS:
        raise InputError(f"--kind {kind!r} is not one of {', '.join(KINDS)}")
    genres = tuple(g.strip() for g in genres if g and g.strip())
    report = IngestReport()
    files = iter_files(paths, report, skip_under=ws.root)
    cat = ws.catalog
    by_path = {it.media_path: it for it in cat.items() if it.media_path}
    for n, f in enumerate(files, 1):
        try:
            _add_one(ws, f, by_path, report, genres=genres, kind=kind, title=title)
        except InputError as e:
            report.error(f, None, None, str(e))
        except OSError as e:
            report.error(f, None, None, f"unreadable: {e.strerror or e}")
        if progress is not None:
            progress(n, len(files))
    log.info("add: %s", report.summary())
    return report


def _add_one(ws, f: Path, by_path: dict, report: IngestReport, *, genres, kind, title) -> None:
    info = probe_video(f)
    facts = media_facts(f, info)
    old_here = by_path.get(str(f))
    if old_here is not None and old_here.sha256 and (old_here.extra or {}).get("file_stat") == facts["file_stat"]:
        sha = old_here.sha256  # same size and mtime: no need to hash again
    else:
        sha = sha256_file(f)
    cat = ws.catalog
    same = cat.by_sha256(sha)
    if same is None and old_here is not None and old_here.sha256 != sha:
        same = old_here  # the file at this path changed: update its item
    if same is None:
        item = Item(
            id=item_id_for("file", sha),
            title=title or title_from_filename(f),
            kind=kind or "trailer",
            genres=genres,
            source=str(f),
            media_path=str(f),
            sha256=sha,
            duration=info.duration,
            extra=facts,
        )
        outcome = save_item(cat, item, None)
    else:
        try:
            other = ws.media_file(same)
        except Exception:  # noqa: BLE001 - an item without media
            other = None
        keep_other = other is not None and other != f and other.exists() and same.sha256 == sha
        if keep_other:
            report.notes.append(f"{f} has the same content as {other}: one item ({same.id})")
        item = Item(
            id=same.id,
            title=title or same.title,
            kind=kind or same.kind,
            genres=tuple(same.genres) + genres,
            year=same.year,
            plot=same.plot,
            source=same.source if keep_other else (same.source if same.is_url else str(f)),
            media_path=same.media_path if keep_other else str(f),
            sha256=sha,
            duration=same.duration if keep_other else info.duration,
            extra={**(same.extra or {}), **({} if keep_other else facts)},
            flags=same.flags,
        )
        outcome = save_item(cat, item, same)
    by_path[item.media_path] = cat.get(item.id)
    report.count(outcome, item.id)
