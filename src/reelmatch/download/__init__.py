"""Download: URL items fetched with yt-dlp into the workspace's media folder."""

from reelmatch.download.config import DownloadConfig, parse_rate
from reelmatch.download.fetch import DownloadReport, DownloadResult, download_all, download_one

__all__ = ["DownloadConfig", "DownloadReport", "DownloadResult", "download_all", "download_one", "parse_rate"]
