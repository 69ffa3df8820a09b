"""Read schema.org structured data (JSON-LD) of title and video pages.

Pure functions over the texts of a page's ``<script type="application/ld+json">``
blocks and its link targets, so they are tested without a network or Scrapy.
A page that cannot give a catalogue row raises :class:`PageProblem` with a
one-line reason.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from reelmatch.ingest.fields import MIN_YEAR, max_year

#: schema.org types of a title page's main entity
WORK_TYPES = ("Movie", "TVSeries", "TVMiniSeries", "TVEpisode", "TVMovie", "CreativeWork", "VideoGame")
_VIDEO_PAGE = re.compile(r"/video/(?:imdb/)?(vi\d+)")
_YEAR = re.compile(r"^\s*(\d{4})")


class PageProblem(Exception):
    """A page that gives no usable catalogue row; ``str(e)`` is one line."""


@dataclass(frozen=True)
class TitleInfo:
    """What a title page says about one title.

    ``trailer_url`` is a direct media URL (JSON-LD ``contentUrl``) when the page
    has one; otherwise ``video_page`` is the trailer's page to follow (or a
    player URL usable as is), and both are None when the page has no trailer.
    """

    imdb_id: str
    title: str
    genres: tuple[str, ...] = ()
    year: int | None = None
    plot: str | None = None
    trailer_url: str | None = None
    video_page: str | None = None
    trailer_name: str | None = None
    extra: dict = field(default_factory=dict, compare=False)

    def manifest_row(self, url: str) -> dict:
        """The row ``reelmatch import`` reads (JSONL manifest)."""
        row = {
            "id": self.imdb_id,
            "title": self.title,
            "kind": "trailer",
            "genres": list(self.genres),
            "year": self.year,
            "plot": self.plot,
            "url": url,
        }
        return row


def _text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, (list, tuple)):
        v = v[0] if v else None
        return _text(v)
    if isinstance(v, dict):
        return _text(v.get("name") or v.get("@value"))
    s = " ".join(html.unescape(str(v)).split())
    return s or None


def _types(obj: dict) -> tuple[str, ...]:
    t = obj.get("@type")
    if isinstance(t, str):
        t = [t]
    if not isinstance(t, list):
        return ()
    return tuple(str(x).rsplit("/", 1)[-1] for x in t)


def jsonld_objects(scripts: list[str]) -> list[dict]:
    """All JSON objects of a page's JSON-LD blocks (lists and ``@graph`` flattened).

    Raises :class:`PageProblem` when the page has no JSON-LD, or when no block parses.
    """
    blocks = [s for s in scripts if s and s.strip()]
    if not blocks:
        raise PageProblem("no JSON-LD on the page")
    out: list[dict] = []
    errors = []
    for s in blocks:
        try:
            doc = json.loads(s)
        except ValueError as e:
            errors.append(f"{getattr(e, 'msg', e)} at line {getattr(e, 'lineno', '?')} column {getattr(e, 'colno', '?')}")
            continue
        stack = [doc]
        while stack:
            d = stack.pop(0)
            if isinstance(d, list):
                stack.extend(d)
            elif isinstance(d, dict):
                out.append(d)
                if isinstance(d.get("@graph"), list):
                    stack.extend(d["@graph"])
    if not out:
        if errors:
            raise PageProblem(f"malformed JSON-LD: {errors[0]}")
        raise PageProblem("JSON-LD holds no object")
    return out


def _http_url(u, base: str) -> str | None:
    u = _text(u)
    if not u:
        return None
    full = urljoin(base, u)
    return full if urlsplit(full).scheme in ("http", "https") else None


def parse_year(v) -> int | None:
    """``"1994-10-14"`` / ``"1994"`` / ``1994`` -> 1994; anything implausible -> None."""
    if isinstance(v, int):
        y = v
    else:
        m = _YEAR.match(str(v or ""))
        if not m:
            return None
        y = int(m.group(1))
    return y if MIN_YEAR <= y <= max_year() else None  # the years `reelmatch import` accepts


def parse_title_page(imdb_id: str, scripts: list[str], hrefs: list[str], page_url: str) -> TitleInfo:
    """Title, genres, year, plot and trailer of a title page.

    ``scripts``: texts of the JSON-LD blocks; ``hrefs``: the page's link targets
    (a trailer linked only as ``/video/vi...`` is found there).
    """
    objs = jsonld_objects(scripts)
    work = next((o for o in objs if set(_types(o)) & set(WORK_TYPES)), None)
    if work is None:
        found = sorted({t for o in objs for t in _types(o)}) or ["none"]
        raise PageProblem(f"JSON-LD has no schema.org Movie (types: {', '.join(found)})")
    title = _text(work.get("name")) or _text(work.get("alternateName"))
    if not title:
        raise PageProblem("JSON-LD Movie has no name")
    genre = work.get("genre") or []
    if isinstance(genre, str):
        genre = genre.split(",") if "," in genre else [genre]
    genres = tuple(g for g in (_text(x) for x in genre if x) if g)
    year = parse_year(work.get("datePublished")) or parse_year(work.get("dateCreated"))
    plot = _text(work.get("description"))

    trailer = work.get("trailer")
    if isinstance(trailer, list):
        trailer = next((t for t in trailer if isinstance(t, dict)), None)
    direct = page = name = None
    if isinstance(trailer, dict):
        name = _text(trailer.get("name"))
        direct = _http_url(trailer.get("contentUrl"), page_url)
        page = _http_url(trailer.get("url"), page_url) or _http_url(trailer.get("embedUrl"), page_url)
    elif isinstance(trailer, str):
        page = _http_url(trailer, page_url)
    if not direct and not page:
        page = next((urljoin(page_url, h) for h in hrefs if h and _VIDEO_PAGE.search(h)), None)
    return TitleInfo(
        imdb_id=imdb_id, title=title, genres=genres, year=year, plot=plot,
        trailer_url=direct, video_page=page, trailer_name=name,
    )


def parse_video_page(scripts: list[str], media_srcs: list[str], page_url: str) -> str:
    """The trailer URL a video page offers: its JSON-LD ``contentUrl``, else a
    ``<video>``/``<source>`` src, else the page itself (yt-dlp reads video pages)."""
    try:
        objs = jsonld_objects(scripts)
    except PageProblem:
        objs = []
    for o in objs:
        cands = [o] + [o[k] for k in ("trailer", "video") if isinstance(o.get(k), dict)]
        for c in cands:
            if "VideoObject" in _types(c) or c is not o:
                u = _http_url(c.get("contentUrl"), page_url)
                if u:
                    return u
    for s in media_srcs:
        u = _http_url(s, page_url)
        if u:
            return u
    return page_url
