"""Configuration of the catalogue crawler (one frozen dataclass)."""

from __future__ import annotations

from dataclasses import dataclass

from reelmatch import __version__

#: Where site operators can read what this crawler is (sent in the User-Agent).
PROJECT_URL = "https://github.com/reelmatch/reelmatch"
DEFAULT_BASE_URL = "https://www.imdb.com"


@dataclass(frozen=True)
class CrawlConfig:
    """How politely and where to crawl.

    The defaults are meant for a real public site: robots.txt is always obeyed
    (there is no switch), one or two requests in flight, AutoThrottle adapting the
    delay to the server's latency, exponential backoff on 429/503 honouring
    ``Retry-After`` and a disk cache so no page is fetched twice.
    """

    base_url: str = DEFAULT_BASE_URL
    #: extra contact (URL or e-mail) appended to the User-Agent; set your own
    contact: str = ""
    #: minimum seconds between two requests to the site (AutoThrottle never goes below)
    download_delay: float = 2.0
    autothrottle_start_delay: float = 5.0
    autothrottle_max_delay: float = 60.0
    autothrottle_target_concurrency: float = 1.0
    concurrency_per_domain: int = 2
    #: retries of a page after a 429, 5xx or connection error
    retry_times: int = 4
    #: backoff before retry n is ``backoff_base * 2**(n-1)`` s (or Retry-After), at most ``backoff_max``
    backoff_base: float = 5.0
    backoff_max: float = 300.0
    download_timeout: float = 30.0
    #: keep fetched pages on disk; 0 = cached pages never expire
    http_cache: bool = True
    cache_expiration_secs: int = 30 * 24 * 3600
    #: follow a trailer link to its video page when the title page has no direct media URL
    follow_video_pages: bool = True

    @property
    def user_agent(self) -> str:
        contact = f"; {self.contact}" if self.contact else ""
        return f"reelmatch/{__version__} (+{PROJECT_URL}{contact})"

    def title_url(self, imdb_id: str) -> str:
        return f"{self.base_url.rstrip('/')}/title/{imdb_id}/"
