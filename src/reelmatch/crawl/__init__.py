"""Catalogue crawler: movie title pages -> JSONL manifest (Scrapy, optional extra ``[crawl]``).

>>> from reelmatch.crawl import CrawlConfig, crawl_imdb        # doctest: +SKIP
>>> crawl_imdb(["tt0111161"], "manifest.jsonl", work_dir="cache")  # doctest: +SKIP

Users must follow the crawled site's terms of use; see docs/crawl.md.
"""

from reelmatch.crawl.config import CrawlConfig
from reelmatch.crawl.runner import CrawlReport, crawl_imdb, read_title_ids

__all__ = ["CrawlConfig", "CrawlReport", "crawl_imdb", "read_title_ids"]
