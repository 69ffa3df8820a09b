"""Shared fixtures: tiny generated media and fresh workspaces (no network)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest



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


@pytest.fixture(scope="session")
def hostile(tmp_path_factory) -> dict:
    """Hostile and odd media: name -> (path, "clip" | "fail" | "either"), see tests/media_cases.py."""
    from media_cases import hostile_files

    return hostile_files(tmp_path_factory.mktemp("hostile"))


@pytest.fixture
def cli(monkeypatch):
    """Run ``reelmatch`` in this process (``main(argv)``): returns CompletedProcess (text).

    For CLI tests where a separate process is not the point (use ``run_cli``
    for those where it is: imports, signals, servers, Scrapy's reactor).
    ``env`` is set for the call only.
    """
    import contextlib
    import io
    import subprocess

    from reelmatch.cli.main import main

    def run(*args, check=False, env=None):
        argv = [str(a) for a in args]
        out, err = io.StringIO(), io.StringIO()
        with monkeypatch.context() as m:
            for k, v in (env or {}).items():
                m.setenv(k, v)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = main(argv)
                except SystemExit as e:  # argparse: --help, usage errors
                    code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
        r = subprocess.CompletedProcess(["reelmatch", *argv], code, out.getvalue(), err.getvalue())
        if check:
            r.check_returncode()
        return r

    return run


@pytest.fixture(scope="session")
def devdata() -> Path:
    """The shared real-footage folder (``$REELMATCH_DEVDATA``, else ``<repo>/../shared/devdata``); skips without it."""
    from reelmatch.demo import default_devdata_dir

    d = default_devdata_dir()
    if d is None:
        pytest.skip("shared devdata not present (set REELMATCH_DEVDATA)")
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
    the real backbone-only embedder over the ``tiny`` backbone and indexed;
    ``ad_file`` is a commercial that is not in the catalogue (for uploads).
    Uploaded files are embedded with the same embedder.
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
    from reelmatch.embed.embedder import BackboneEmbedder

    run_embed(ws, EmbedConfig(batch_size=8), embedder=BackboneEmbedder("tiny", pretrained=False))
    run_index(ws)
    searcher_for(ws).use_embedder(BackboneEmbedder("tiny", pretrained=False))
    yield ws, upload
    ws.close()


@pytest.fixture(scope="session")
def scenes_workspace(tmp_path_factory):
    """A built workspace for scenes, breaks, exclusions and explanations (issue 19): ``(ws, ids)``.

    A 30 s generated movie of one-shot scenes in the demo genres' styles (cuts and
    fades), two short films, a commercial in the catalogue drawn in one of the
    movie's scene styles; flags from a manifest; extracted, features cached (so the
    frame table of explanations exists), embedded with the ``tiny`` backbone,
    indexed, scenes detected and embedded. ``ids``: title -> id.
    """
    import json

    from reelmatch.embed import EmbedConfig, run_embed
    from reelmatch.embed.embedder import BackboneEmbedder
    from reelmatch.extract import ClipConfig, run_extract
    from reelmatch.index import run_index
    from reelmatch.ingest import import_manifest
    from reelmatch.query import searcher_for
    from reelmatch.samples.media import moving_box_frames, tone, write_video
    from reelmatch.scenes import ScenesConfig, run_scenes
    from reelmatch.scenes.generated import write_movie
    from reelmatch.train.features import FeaturesConfig, features_stage
    from reelmatch.workspace import Workspace

    root = tmp_path_factory.mktemp("scenes-ws")
    plan = write_movie(root / "Night Train.mp4", 30.0, size=64, fps=12, seed=11)
    write_movie(root / "Spot.mp4", 4.0, size=64, fps=12, seed=12, genres=[plan[2].genre])
    write_video(root / "Blue Hour.mp4", seconds=4, width=64, height=64,
                frames=moving_box_frames(64, 64, color=(40, 60, 230), background=(200, 190, 150)), audio=tone(1500))
    write_video(root / "Red Hour.mp4", seconds=4, width=64, height=64,
                frames=moving_box_frames(64, 64, color=(230, 40, 40), background=(20, 30, 60)), audio=tone(440))
    rows = [
        {"title": "Night Train", "path": "Night Train.mp4", "genres": "Drama|Thriller", "flags": "violence"},
        {"title": "Blue Hour", "path": "Blue Hour.mp4", "genres": "Drama", "flags": "alcohol"},
        {"title": "Red Hour", "path": "Red Hour.mp4", "genres": "Action"},
        {"title": "Spot", "path": "Spot.mp4", "kind": "ad"},
    ]
    (root / "catalogue.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    ws = Workspace.init(root / "ws")
    rep = import_manifest(ws, root / "catalogue.jsonl")
    assert not rep.errors, rep.errors
    clip = ClipConfig(start=0.0, window=30.0, num_frames=4, interval=3.0, size=32, n_mels=32, spec_frames=64)
    assert run_extract(ws, clip, workers=0)["failed"] == 0
    features_stage(ws, config=FeaturesConfig(backbone="tiny", pretrained=False), clip_config=clip)
    embedder = BackboneEmbedder("tiny", pretrained=False)
    run_embed(ws, EmbedConfig(batch_size=8), embedder=embedder, clip_config=clip)
    run_index(ws)
    res = run_scenes(ws, ScenesConfig(), clip_config=clip)
    assert res.failed == 0, res.failures
    searcher_for(ws).use_embedder(embedder)
    yield ws, {it.title: it.id for it in ws.catalog.items()}
    ws.close()
