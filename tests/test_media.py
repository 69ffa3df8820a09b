"""The media layer: every PyAV open goes through it, and every reader survives hostile files."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from reelmatch import media
from reelmatch.errors import InputError
from reelmatch.samples.media import write_video

SRC = Path(media.__file__).resolve().parent


def test_every_pyav_open_goes_through_the_media_layer():
    pattern = re.compile(r"\bav\s*\.\s*open\s*\(|from\s+av\s+import\s+[^\n]*\bopen\b")
    offenders = [
        f"{p.relative_to(SRC)}:{n}"
        for p in sorted(SRC.rglob("*.py")) if p != SRC / "media.py"
        for n, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)
    ]
    assert offenders == []
    assert pattern.search((SRC / "media.py").read_text())  # the check itself can fail


def test_media_layer_and_geometry_import_neither_av_nor_torch():
    code = ("import sys, reelmatch.media, reelmatch.extract.geometry, reelmatch.extract.video; "
            "print(sorted(m for m in ('av', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _readers():
    """Every reader of media files in src: name -> call(path)."""
    from reelmatch.dedupe.frames import sample_frames
    from reelmatch.extract import ClipConfig, extract_clip
    from reelmatch.ingest.probe import probe_video
    from reelmatch.serve.pictures import video_frame

    cfg = ClipConfig(start=0.0, window=2.0, num_frames=3, interval=0.5, size=32, n_mels=16, spec_frames=16)
    return {
        "extract": lambda p: extract_clip(p, cfg, threads=1),
        "probe": probe_video,
        "dedupe": lambda p: sample_frames(p, max_seconds=5),
        "serve": video_frame,
    }


@pytest.mark.parametrize("reader", sorted(_readers()))
def test_every_reader_ends_hostile_files_with_a_result_or_a_one_line_reason(hostile, reader):
    read = _readers()[reader]
    for name, (path, expect) in hostile.items():
        t = time.monotonic()
        try:
            read(path)
        except (InputError, ValueError) as e:  # serve's "no decodable frame" is a ValueError
            msg = str(e)
            assert expect in ("fail", "either"), f"{reader} failed on {name}: {msg}"
            assert "\n" not in msg and 0 < len(msg) < 400, f"{reader}, {name}: {msg!r}"
        else:
            assert expect in ("clip", "either"), f"{reader} accepted {name}"
        assert time.monotonic() - t < 30, f"{reader} took too long on {name}"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_no_reader_waits_on_a_named_pipe(tmp_path):
    """A FIFO named like a video (nobody writes to it) would block a plain open forever."""
    fifo = tmp_path / "stream.mp4"
    os.mkfifo(fifo)
    for reader, read in _readers().items():
        outcome = []

        def call():
            try:
                read(fifo)
                outcome.append("accepted")
            except InputError as e:
                outcome.append(str(e))

        t = threading.Thread(target=call, daemon=True)
        t.start()
        t.join(10)
        assert outcome and "not a regular file" in outcome[0], (reader, outcome)


def test_declared_size_limit_applies_to_every_reader(hostile):
    path = hostile["absurd-size"][0]
    with media.open_media(path) as c:  # opening reads headers only
        s = media.video_stream(c)
        with pytest.raises(InputError, match="16000x16000.*40 Mpx limit"):
            media.check_frame_size(s.codec_context.width, s.codec_context.height)
    for reader, read in _readers().items():
        with pytest.raises(InputError, match="16000x16000"):
            read(path)


def test_open_media_reasons(tmp_path, hostile):
    with pytest.raises(media.MediaError, match="empty file") as ei:
        media.open_media(hostile["zero-byte"][0])
    assert ei.value.name == "zero.mp4" and ei.value.reason == "empty file (0 bytes)"
    with pytest.raises(media.MediaError, match=r"nope\.mp4: cannot read"):
        media.open_media(tmp_path / "nope.mp4")
    with pytest.raises(media.MediaError, match="not a regular file"):
        media.open_media(tmp_path)
    with pytest.raises(media.MediaError, match="not a readable media file") as ei:
        media.open_media(hostile["non-video"][0])
    assert "\n" not in ei.value.cause and ei.value.cause in str(ei.value)
    with media.open_media(hostile["audio-only"][0]) as c:
        assert media.video_stream(c) is None and media.no_video_reason(c) == "audio-only file"
        assert media.audio_stream(c) is not None


def test_stream_choice_and_duration(tmp_path):
    p = write_video(tmp_path / "two audio.mkv", seconds=1.5, fps=10, audio_streams=2)
    with media.open_media(p) as c:
        v = media.video_stream(c)
        assert v.type == "video" and media.audio_stream(c) in list(c.streams.audio)
        d = media.duration(c, v)
        assert d == pytest.approx(1.5, abs=0.15)
        assert media.duration(c, v, from_start=True) == pytest.approx(d, abs=0.05)
        assert media.duration(c, v, scan=True) == d  # the headers say: nothing is scanned
