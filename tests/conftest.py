"""Shared fixtures: tiny generated media and fresh workspaces (no network)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("REELMATCH_TEST", "1")


@pytest.fixture
def ws(tmp_path):
    """A fresh, initialised workspace."""
    from reelmatch.workspace import Workspace

    w = Workspace.init(tmp_path / "ws")
    yield w
    w.close()


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    """A few tiny real videos: 2 s, 64x64, 10 fps, with and without audio."""
    from reelmatch.samples.media import moving_box_frames, tone, write_video

    d = tmp_path_factory.mktemp("media")
    write_video(d / "red box.mp4", frames=moving_box_frames(64, 64, color=(230, 40, 40)), audio=tone(440))
    write_video(d / "blue box.webm", frames=moving_box_frames(64, 64, color=(40, 40, 230)), audio=tone(660))
    write_video(d / "silent.mkv", frames=moving_box_frames(64, 64, color=(40, 230, 40)), audio=False)
    return d


@pytest.fixture
def run_cli(tmp_path):
    """Run ``reelmatch`` in a subprocess: returns CompletedProcess (text)."""
    import subprocess
    import sys

    def run(*args, check=False, env=None, timeout=300):
        e = dict(os.environ)
        e.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "reelmatch", *map(str, args)],
            capture_output=True, text=True, env=e, timeout=timeout, check=check,
        )

    return run
