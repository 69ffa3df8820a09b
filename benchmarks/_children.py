"""Counting every process a benchmarked command starts: a child subreaper that reaps its descendants."""

from __future__ import annotations

import os


def become_subreaper() -> None:
    """Orphaned descendants (a fork server outliving its command) are reparented to this process."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def reap_descendants() -> None:
    """Wait for every descendant left behind (a fork server ends on its own), so ``RUSAGE_CHILDREN`` counts it."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return
