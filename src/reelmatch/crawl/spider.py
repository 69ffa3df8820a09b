"""The Scrapy side of the crawler: spider, manifest pipeline, backoff retries.

Imported only inside the crawl subprocess (``reelmatch.crawl.child``), never by
the CLI process, so Scrapy and Twisted stay out of ``reelmatch --help`` and each
crawl gets a fresh Twisted reactor.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import logging
import os
import sys
import time
from urllib.parse import urlsplit

import scrapy
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.extensions.httpcache import DummyPolicy
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.defer import maybe_deferred_to_future

from reelmatch.crawl.config import CrawlConfig
from reelmatch.crawl.jsonld import PageProblem, TitleInfo, parse_title_page, parse_video_page
from reelmatch.crawl.manifest import read_manifest_ids

log = logging.getLogger(__name__)


def emit(event: dict) -> None:
    """One JSON event line on stdout for the parent process (the only stdout writer)."""
    sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def retry_after_seconds(value: bytes | str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (None if absent/unreadable)."""
    if not value:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None = None) -> float:
    """Seconds to wait before retry ``attempt`` (1-based): the server's Retry-After
    if it gave one, else ``base * 2**(attempt-1)``; never above ``cap``."""
    d = retry_after if retry_after is not None else base * 2 ** max(attempt - 1, 0)
    return max(0.0, min(d, cap))


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retry middleware, waiting before each retry (exponential backoff,
    ``Retry-After`` honoured) instead of retrying at once."""

    def __init__(self, settings):
        super().__init__(settings)
        self.base = settings.getfloat("REELMATCH_BACKOFF_BASE", 5.0)
        self.cap = settings.getfloat("REELMATCH_BACKOFF_MAX", 300.0)

    async def _wait(self, request, retry_after: float | None) -> None:
        from twisted.internet import reactor
        from twisted.internet.task import deferLater

        attempt = request.meta.get("retry_times", 0) + 1
        if attempt > request.meta.get("max_retry_times", self.max_retry_times):
            return
        delay = backoff_delay(attempt, self.base, self.cap, retry_after)
        log.info("backing off %.1f s before retry %d of %s", delay, attempt, request.url)
        if delay > 0:
            await maybe_deferred_to_future(deferLater(reactor, delay, lambda: None))

    async def process_response(self, request, response):
        if not request.meta.get("dont_retry", False) and response.status in self.retry_http_codes:
            await self._wait(request, retry_after_seconds(response.headers.get(b"Retry-After")))
        return super().process_response(request, response)

    async def process_exception(self, request, exception):
        if isinstance(exception, self.exceptions_to_retry) and not request.meta.get("dont_retry", False):
            await self._wait(request, None)
        return super().process_exception(request, exception)


class PageCachePolicy(DummyPolicy):
    """Cache pages, but ask for robots.txt afresh each crawl (its rules may change)."""

    def should_cache_request(self, request) -> bool:
        return urlsplit(request.url).path != "/robots.txt" and super().should_cache_request(request)


class ManifestPipeline:
    """Appends each row to the JSONL manifest at once (flushed, fsynced), so a
    crawl killed at any moment keeps every finished title; ids already in the
    manifest are dropped (a resumed job may replay a request)."""

    def __init__(self, path: str):
        self.path = path
        self.seen: set[str] = set()
        self.f = None

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.settings.get("REELMATCH_MANIFEST"))

    def open_spider(self):
        self.seen = read_manifest_ids(self.path, repair=True)
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self.f = open(self.path, "a", encoding="utf-8")

    def close_spider(self):
        if self.f:
            self.f.close()

    def process_item(self, item):
        row = dict(item)
        if row["id"] in self.seen:
            return item
        self.f.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.f.flush()
        os.fsync(self.f.fileno())
        self.seen.add(row["id"])
        emit({"event": "item", "id": row["id"], "title": row["title"], "url": row["url"]})
        return item


class ImdbTitleSpider(scrapy.Spider):
    """Visits ``<base>/title/<id>/`` for each id; yields manifest rows.

    Problems (HTTP errors after retries, robots.txt, missing or malformed
    JSON-LD, no trailer) are emitted as one-line events and never stop the crawl.
    """

    name = "reelmatch-imdb"

    def __init__(self, ids: list[str], config: dict, **kwargs):
        super().__init__(**kwargs)
        self.ids = list(ids)
        self.cfg = CrawlConfig(**config)

    async def start(self):
        for iid in self.ids:
            yield scrapy.Request(
                self.cfg.title_url(iid), callback=self.parse_title, errback=self.on_error,
                meta={"imdb_id": iid, "page": "title"},
            )  # fmt: skip

    def problem(self, imdb_id: str, url: str, reason: str) -> None:
        reason = " ".join(str(reason).split())[:300]
        self.crawler.stats.inc_value("reelmatch/problems")
        emit({"event": "problem", "id": imdb_id, "url": url, "reason": reason})

    @staticmethod
    def _select(response, xpath: str) -> list[str]:
        try:
            return response.xpath(xpath).getall()
        except (AttributeError, ValueError, scrapy.exceptions.NotSupported):
            return []

    def _same_site(self, url: str) -> bool:
        """Video pages are followed on the crawled site only; another site's
        trailer page (a YouTube link) goes to the manifest as is, for yt-dlp."""
        return urlsplit(url).netloc.lower() == urlsplit(self.cfg.base_url).netloc.lower()

    def parse_title(self, response):
        iid = response.meta["imdb_id"]
        if not hasattr(response, "text"):
            self.problem(iid, response.url, f"not an HTML page ({response.headers.get(b'Content-Type', b'?').decode('latin-1')})")
            return
        scripts = self._select(response, '//script[@type="application/ld+json"]/text()')
        hrefs = self._select(response, "//a/@href")
        try:
            info = parse_title_page(iid, scripts, hrefs, response.url)
        except PageProblem as e:
            self.problem(iid, response.url, str(e))
            return
        if info.trailer_url:
            yield info.manifest_row(info.trailer_url)
        elif info.video_page and self.cfg.follow_video_pages and self._same_site(info.video_page):
            yield scrapy.Request(
                info.video_page, callback=self.parse_video, errback=self.on_error,
                meta={"imdb_id": iid, "page": "video", "info": dataclasses.asdict(info)},
            )  # fmt: skip
        elif info.video_page:
            yield info.manifest_row(info.video_page)
        else:
            self.problem(iid, response.url, "no trailer on the page (JSON-LD has none and no /video/ link)")

    def parse_video(self, response):
        d = dict(response.meta["info"])
        d["genres"] = tuple(d.get("genres") or ())
        info = TitleInfo(**d)
        scripts = self._select(response, '//script[@type="application/ld+json"]/text()') if hasattr(response, "text") else []
        srcs = self._select(response, "//video/@src | //video/source/@src") if hasattr(response, "text") else []
        yield info.manifest_row(parse_video_page(scripts, srcs, response.url))

    def on_error(self, failure):
        request = failure.request
        iid = request.meta.get("imdb_id", "?")
        exc = failure.value
        if failure.check(HttpError):
            reason = f"HTTP {exc.response.status}"
        elif failure.check(IgnoreRequest) and "robots.txt" in str(exc):
            reason = "forbidden by robots.txt"
        else:
            reason = f"{type(exc).__name__}: {exc}"
        if request.meta.get("page") == "video":
            reason = f"trailer video page {request.url}: {reason}"
        self.problem(iid, request.url, reason)
