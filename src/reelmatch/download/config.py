"""Configuration of the download stage (light: no yt-dlp import)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from reelmatch.config import StageConfig, fingerprint


@dataclass(frozen=True)
class DownloadConfig(StageConfig):
    """How ``reelmatch download`` fetches URL items.

    ``max_height``: highest resolution asked for (pixels; trailers need no more
    than 720p). ``rate_limit``: total bytes/s over all workers (None: no limit).
    ``retries``: further attempts of an item after a transient failure, waiting
    ``backoff * 2**k`` seconds (capped at ``max_backoff``). ``http_retries``:
    yt-dlp's own retries inside one attempt (they resume with HTTP ranges).
    ``min_interval``: seconds between the starts of two downloads (all workers),
    to be polite to the site. ``merge``: may yt-dlp merge separate video and
    audio streams (needs an ffmpeg binary)? None: only if ffmpeg is on PATH.
    ``format``: a yt-dlp format spec replacing the default choice.
    """

    max_height: int = 720
    rate_limit: int | None = None
    retries: int = 3
    backoff: float = 2.0
    max_backoff: float = 60.0
    http_retries: int = 5
    socket_timeout: float = 30.0
    min_interval: float = 0.5
    max_filesize: int | None = 2_000_000_000
    merge: bool | None = None
    format: str | None = None

    def __post_init__(self):
        if self.max_height < 16:
            raise ValueError(f"max_height must be at least 16, got {self.max_height}")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError(f"rate_limit must be positive, got {self.rate_limit}")
        if self.retries < 0 or self.http_retries < 0:
            raise ValueError("retries must be >= 0")

    def format_spec(self, can_merge: bool) -> str:
        """The yt-dlp format selector: at most ``max_height``; single-file formats without ffmpeg."""
        if self.format:
            return self.format
        h = self.max_height
        if can_merge:
            return f"bv*[height<=?{h}]+ba/b[height<=?{h}]/wv*+ba/w"
        # no ffmpeg: only formats that carry video (and audio) in one file
        return f"b[height<=?{h}]/w/bv*[height<=?{h}]"

    def fingerprint(self) -> str:
        """Fingerprint of what shapes the downloaded file (not of speed or retry settings)."""
        return fingerprint({"max_height": self.max_height, "format": self.format})


_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_rate(text: str | None) -> int | None:
    """``"2M"`` -> 2097152 bytes/s (K, M, G are binary, as in yt-dlp); ``None``/``""``/``0`` -> None."""
    if text is None or not str(text).strip():
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)(?:i?[bB])?(?:/s)?\s*", str(text))
    if not m:
        raise ValueError(f"{text!r} is not a rate (examples: 500K, 2M, 1.5M)")
    value = float(m.group(1)) * _UNITS[m.group(2).lower()]
    return int(value) or None
