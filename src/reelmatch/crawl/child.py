"""Entry point of the crawl subprocess: ``python -m reelmatch.crawl.child PARAMS.json``.

One process per crawl keeps Twisted's reactor (which cannot be restarted) out of
the caller's process. Events go to stdout as JSON lines; Scrapy's log goes to the
file named in the params.
"""

from __future__ import annotations

import json
import shutil
import sys


def scrapy_settings(params: dict) -> dict:
    """Scrapy settings of one crawl (politeness, cache, resume)."""
    from reelmatch.crawl.config import CrawlConfig

    cfg = CrawlConfig(**params["config"])
    s = {
        "BOT_NAME": "reelmatch",
        "USER_AGENT": cfg.user_agent,
        "ROBOTSTXT_OBEY": True,
        "DOWNLOAD_DELAY": cfg.download_delay,
        "CONCURRENT_REQUESTS": max(cfg.concurrency_per_domain, 1),
        "CONCURRENT_REQUESTS_PER_DOMAIN": max(cfg.concurrency_per_domain, 1),
        "AUTOTHROTTLE_ENABLED": True,
        "AUTOTHROTTLE_START_DELAY": cfg.autothrottle_start_delay,
        "AUTOTHROTTLE_MAX_DELAY": cfg.autothrottle_max_delay,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": cfg.autothrottle_target_concurrency,
        "DOWNLOAD_TIMEOUT": cfg.download_timeout,
        "RETRY_ENABLED": True,
        "RETRY_TIMES": cfg.retry_times,
        "RETRY_HTTP_CODES": [429, 500, 502, 503, 504, 522, 524, 408],
        "REELMATCH_BACKOFF_BASE": cfg.backoff_base,
        "REELMATCH_BACKOFF_MAX": cfg.backoff_max,
        "DOWNLOADER_MIDDLEWARES": {
            "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
            "reelmatch.crawl.spider.BackoffRetryMiddleware": 550,
        },
        "ITEM_PIPELINES": {"reelmatch.crawl.spider.ManifestPipeline": 300},
        "REELMATCH_MANIFEST": params["output"],
        "HTTPCACHE_ENABLED": cfg.http_cache,
        "HTTPCACHE_DIR": params["cache_dir"],
        "HTTPCACHE_EXPIRATION_SECS": cfg.cache_expiration_secs,
        # only good pages are cached: a 404 may be fixed later, a 429 must be retried
        "HTTPCACHE_IGNORE_HTTP_CODES": [401, 403, 404, 408, 410, 429, 500, 502, 503, 504, 522, 524],
        "HTTPCACHE_GZIP": True,
        "HTTPCACHE_POLICY": "reelmatch.crawl.spider.PageCachePolicy",
        "JOBDIR": params["job_dir"],
        # no listening sockets: no telnet console, no remote-control HTTP server
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        "LOG_FILE": params["log_file"],
        "LOG_FILE_APPEND": True,
        "LOG_LEVEL": params.get("log_level", "INFO"),
        "LOG_STDOUT": False,
    }
    return s


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0], encoding="utf-8") as f:
        params = json.load(f)
    from scrapy import signals
    from scrapy.crawler import CrawlerProcess

    from reelmatch.crawl.spider import ImdbTitleSpider, emit

    process = CrawlerProcess(scrapy_settings(params))
    crawler = process.create_crawler(ImdbTitleSpider)
    result: dict = {}

    def closed(spider, reason):
        result["reason"] = reason
        stats = crawler.stats.get_stats()
        result["stats"] = {
            k: v for k, v in stats.items()
            if k.startswith(("downloader/response_status_count", "httpcache/", "retry/", "robotstxt/"))
            or k in ("item_scraped_count", "downloader/request_count", "reelmatch/problems")
        }  # fmt: skip

    crawler.signals.connect(closed, signal=signals.spider_closed)
    process.crawl(crawler, ids=params["ids"], config=params["config"])
    process.start()
    reason = result.get("reason", "unknown")
    if reason == "finished":
        # nothing left to resume: the next crawl starts a fresh job (the manifest skips done ids)
        shutil.rmtree(params["job_dir"], ignore_errors=True)
    emit({"event": "closed", "reason": reason, "stats": result.get("stats", {})})
    return 0 if reason == "finished" else 1


if __name__ == "__main__":
    sys.exit(main())
