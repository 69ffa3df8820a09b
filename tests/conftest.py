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


@pytest.fixture(scope="session")
def served_workspace(tmp_path_factory):
    """A small built workspace for the serve tests: ``(ws, ad_file)``.

    Six trailers of three genre styles, one catalogue ad, extracted, embedded with
    a small test embedder (colour statistics + the real audio descriptor and
    fusion) and indexed; ``ad_file`` is a commercial that is not in the catalogue
    (for uploads). Uploaded files are embedded with the same embedder.
    """
    from reelmatch.embed import EmbedConfig, run_embed
    from reelmatch.query import searcher_for
    from reelmatch.extract import ClipConfig, run_extract
    from reelmatch.index import run_index
    from reelmatch.ingest import add_paths
    from reelmatch.samples.media import moving_box_frames, tone, write_video
    from reelmatch.workspace import Workspace

    root = tmp_path_factory.mktemp("served")
    films = {
        "Crimson Chase": (("Action", "Thriller"), (230, 40, 40), (20, 30, 60), 440),
        "Scarlet Run": (("Action",), (210, 60, 50), (30, 30, 70), 470),
        "Azure Tides": (("Drama", "Romance"), (40, 60, 230), (200, 190, 150), 1500),
        "Blue Harbour": (("Drama",), (60, 90, 220), (190, 180, 160), 1400),
        "Golden Laughs": (("Comedy", "Family"), (240, 220, 30), (90, 20, 90), 250),
        "Sunny Side": (("Comedy", "Romance"), (250, 200, 60), (110, 40, 100), 280),
    }
    ws = Workspace.init(root / "ws")
    for title, (genres, color, background, freq) in films.items():
        f = write_video(root / "films" / f"{title}.mp4", width=80, height=48,
                        frames=moving_box_frames(80, 48, color=color, background=background), audio=tone(freq))
        add_paths(ws, [f], genres=list(genres), title=title)
    ad = write_video(root / "ads" / "Fizzy Soda.mp4", width=80, height=48,
                     frames=moving_box_frames(80, 48, color=(40, 220, 120)), audio=tone(900))
    add_paths(ws, [ad], kind="ad", title="Fizzy Soda")
    upload = write_video(root / "upload" / "Lemon Ad.mp4", width=80, height=48,
                         frames=moving_box_frames(80, 48, color=(235, 60, 45), background=(25, 30, 65)), audio=tone(450))
    clip = ClipConfig(start=0.0, window=2.0, num_frames=4, interval=0.5, size=48, n_mels=32, spec_frames=64)
    res = run_extract(ws, clip, workers=0)
    assert res["failed"] == 0, res
    run_embed(ws, EmbedConfig(batch_size=8), embedder=_ColourEmbedder())
    run_index(ws)
    searcher_for(ws).use_embedder(_ColourEmbedder())
    yield ws, upload
    ws.close()


class _ColourEmbedder:
    """Test embedder: mean colour and a 2x2 colour layout of the real frames (visual),
    and reelmatch's audio descriptor and fusion (tests only; no backbone)."""

    mode = "backbone"
    fingerprint = "test-colour-2x2"

    def describe(self) -> dict:
        return {"mode": self.mode, "backbone": "test-colour", "pretrained": False, "audio_weight": 0.25}

    def embed(self, clips) -> dict:
        import numpy as np

        from reelmatch.embed.embedder import audio_descriptor, fuse, l2_normalise

        visual = []
        for c in clips:
            f = c.frames[c.mask].astype(np.float32).mean(axis=0) / 255.0
            h, w = f.shape[0] // 2, f.shape[1] // 2
            quads = f[: 2 * h, : 2 * w].reshape(2, h, 2, w, 3).mean(axis=(1, 3)).ravel()
            visual.append(np.concatenate([f.mean(axis=(0, 1)), quads - quads.mean()]))
        visual = l2_normalise(np.stack(visual))
        audio = np.stack([audio_descriptor(c.spectrogram, c.has_audio) for c in clips])
        return {"fused": fuse(visual, audio, 0.25), "visual": visual, "audio": audio}
