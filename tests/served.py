"""Helpers for tests that start ``reelmatch serve`` as a real process."""

from __future__ import annotations

import re
import time
from pathlib import Path


def wait_for_url(log: Path, proc, timeout: float = 60.0) -> str:
    """The ``http://127.0.0.1:PORT`` that ``reelmatch serve`` logs once it listens (fails on timeout or exit)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        m = re.search(r"running on (http://127\.0\.0\.1:\d+)", log.read_text())
        if m:
            return m.group(1)
        time.sleep(0.1)
    raise AssertionError(f"the server did not start (exit {proc.poll()}): {log.read_text()}")
