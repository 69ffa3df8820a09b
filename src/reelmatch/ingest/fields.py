"""Pure parsers for catalogue fields. Each raises ``ValueError`` with a one-line reason."""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

from reelmatch.catalog.db import KINDS

MIN_YEAR = 1870  # the first moving pictures
IMDB_ID = re.compile(r"^tt\d{7,10}$")
YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")


def max_year() -> int:
    return time.gmtime().tm_year + 5


def parse_year(value) -> int | None:
    """A plausible release year, or None when empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a year")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        s = value.strip()
        if not re.fullmatch(r"\d{1,4}(\.0)?", s):
            raise ValueError(f"{value!r} is not a year")
        value = int(float(s))
    if not isinstance(value, int):
        raise ValueError(f"{value!r} is not a year")
    if not MIN_YEAR <= value <= max_year():
        raise ValueError(f"{value} is not a possible year ({MIN_YEAR}-{max_year()})")
    return value


def parse_kind(value) -> str:
    """``trailer`` (the default when empty) or ``ad``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return "trailer"
    if not isinstance(value, str) or value.strip().lower() not in KINDS:
        raise ValueError(f"{value!r} is not a kind; use one of {', '.join(KINDS)}")
    return value.strip().lower()


def parse_genres(value, *, allow_list: bool) -> tuple[str, ...]:
    """``"A|B"`` (or, in JSON, a list of strings) to a tuple of labels."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(g.strip() for g in value.split("|") if g.strip())
    if allow_list and isinstance(value, list) and all(isinstance(g, str) for g in value):
        return tuple(g.strip() for g in value if g.strip())
    raise ValueError(f"{value!r} is not a list of genres (use \"A|B\"{' or a list of strings' if allow_list else ''})")


def normalise_url(value: str) -> str:
    """Check an http(s) URL and bring YouTube links to one form (so imports match).

    ``youtu.be/ID``, ``youtube.com/embed/ID`` and ``watch?v=ID&t=..`` all become
    ``https://www.youtube.com/watch?v=ID``.
    """
    url = value.strip()
    try:
        parts = urlsplit(url)
    except ValueError as e:
        raise ValueError(f"{value!r} is not a URL ({e})") from e
    if parts.scheme.lower() not in ("http", "https"):
        shown = parts.scheme or "none"
        raise ValueError(f"{value!r} has scheme {shown}; only http and https URLs can be downloaded")
    if not parts.netloc or " " in url:
        raise ValueError(f"{value!r} is not a valid URL")
    host = parts.hostname or ""
    yid = None
    if host in ("youtu.be", "www.youtu.be"):
        yid = parts.path.strip("/").split("/")[0]
    elif host.endswith("youtube.com"):
        if parts.path == "/watch":
            yid = (parse_qs(parts.query).get("v") or [""])[0]
        elif parts.path.startswith(("/embed/", "/shorts/", "/v/")):
            yid = parts.path.split("/")[2]
    if yid and YOUTUBE_ID.match(yid):
        return youtube_url(yid)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query, ""))


def youtube_url(video_id: str) -> str:
    return f"https://www.youtube.com/watch?v={video_id}"


def title_from_filename(path: Path) -> str:
    """``The_Big.Short-trailer.mp4`` -> ``The Big Short-trailer``."""
    stem = Path(path).stem
    title = " ".join(re.sub(r"[_.]+", " ", stem).split())
    return title or stem or Path(path).name


_YEAR_SUFFIX = re.compile(r"\s*\((\d{4})(?:[-–]\d{0,4})?\)\s*$")
_ARTICLE = re.compile(r"^(?P<rest>.+?), (?P<art>The|A|An)(?P<alt>\s+\(.*\))?$")


def split_movielens_title(raw: str) -> tuple[str, int | None]:
    """``"American President, The (1995)"`` -> ``("The American President", 1995)``.

    The year in parentheses at the end is taken off (None if absent or impossible)
    and a trailing English article is put back in front.
    """
    title, year = raw.strip(), None
    m = _YEAR_SUFFIX.search(title)
    if m:
        try:
            year = parse_year(m.group(1))
        except ValueError:
            year = None
        title = title[: m.start()].strip()
    a = _ARTICLE.match(title)
    if a:
        title = f"{a.group('art')} {a.group('rest')}{a.group('alt') or ''}"
    return title or raw.strip(), year
