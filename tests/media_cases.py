"""Media the tests generate: frame-numbered encodes and hostile files (imported by test modules)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from reelmatch.samples.media import moving_box_frames, write_video


def counter_frames(width, height):
    """Frame i has grey level 8*i in its left half (identifies the frame taken)."""
    base = moving_box_frames(width, height)

    def frame(i, t):
        img = base(i, t)
        img[:, : width // 2] = (8 * i) % 256
        return img

    return frame


def encode(path, times, width=64, height=64, *, bframes=True, gop=12, audio=False, codec="libx264", x264_params=None):
    """Encode frames at arbitrary presentation times (s) with B-frames; frame i is counter_frames(i)."""
    import av

    fn = counter_frames(width, height)
    tb = Fraction(1, 1000)
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=25)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.time_base = tb
        vs.codec_context.time_base = tb
        if codec == "libx264":
            vs.options = {"preset": "veryfast", "g": str(gop), "bf": "3" if bframes else "0", "sc_threshold": "0"}
            if x264_params:
                vs.options["x264-params"] = x264_params
        for i, t in enumerate(times):
            f = av.VideoFrame.from_ndarray(fn(i, t), format="rgb24")
            f.pts = int(round(t * 1000))
            f.time_base = tb
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
    return Path(path)


def hostile_files(d: Path) -> dict[str, tuple[Path, str]]:
    """name -> (path, expectation): "clip" must extract, "fail" must fail, "either" may do both."""
    d.mkdir(parents=True, exist_ok=True)
    f = {}
    good = write_video(d / "good.mkv", seconds=2, fps=10)
    f["zero-byte"] = (d / "zero.mp4", "fail")
    f["zero-byte"][0].write_bytes(b"")
    data = write_video(d / "full.mp4", seconds=2, fps=10).read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 2])
    f["truncated-mp4"] = (d / "truncated.mp4", "fail")  # moov atom at the end: gone
    mkv = good.read_bytes()
    (d / "truncated.mkv").write_bytes(mkv[: int(len(mkv) * 0.6)])
    f["truncated-mkv"] = (d / "truncated.mkv", "either")
    rng = np.random.default_rng(0)
    flipped = bytearray(mkv)
    for pos in rng.integers(200, len(flipped), 40):
        flipped[pos] ^= 0xFF
    (d / "bitflip.mkv").write_bytes(bytes(flipped))
    f["bit-flipped"] = (d / "bitflip.mkv", "either")
    (d / "notes.mp4").write_text("this is not a video\n" * 50)
    f["non-video"] = (d / "notes.mp4", "fail")
    (d / "noise.webm").write_bytes(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    f["random-bytes"] = (d / "noise.webm", "fail")
    f["audio-only"] = (write_audio_only(d / "song.m4a"), "fail")
    f["one-frame"] = (write_video(d / "one.mp4", seconds=0.1, fps=10), "clip")
    f["16x16"] = (write_video(d / "tiny.mp4", width=16, height=16, seconds=1), "clip")
    f["4000x3000"] = (write_video(d / "huge.mp4", width=4000, height=3000, seconds=0.1, fps=10, audio=False), "clip")
    f["vertical"] = (write_video(d / "vertical.mp4", width=36, height=64, seconds=1), "clip")
    f["rotated"] = (write_video(d / "rotated.mp4", seconds=1, rotate=90), "clip")
    f["vfr"] = (encode(d / "vfr.mp4", [0, 0.05, 0.5, 0.52, 1.4, 1.45, 1.9]), "clip")
    f["multi-audio"] = (write_video(d / "dual audio.mkv", seconds=1, audio_streams=2), "clip")
    f["spaces"] = (write_video(d / "a name with  spaces.mp4", seconds=1), "clip")
    f["unicode"] = (write_video(d / "映画 ünïcödé ñ.mp4", seconds=1), "clip")
    f["shell-meta"] = (write_video(d / "x;$(touch PWNED)&`id`|'\"<>*?.mp4", seconds=1), "clip")
    f["absurd-size"] = (write_y4m(d / "absurd.y4m", 16000, 16000), "fail")
    f["no-audio"] = (write_video(d / "mute.mp4", seconds=1, audio=False), "clip")
    return f


def write_audio_only(path):
    import av

    with av.open(str(path), "w") as out:
        a = out.add_stream("aac", rate=16000)
        a.layout = "mono"
        from reelmatch.samples.media import _audio_frame

        t = np.arange(16000) / 16000
        fr = _audio_frame((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), a.codec_context.format.name, 16000)
        fr.pts = 0
        for p in a.encode(fr):
            out.mux(p)
        for p in a.encode():
            out.mux(p)
    return Path(path)


def write_y4m(path, width, height):
    """A YUV4MPEG2 file declaring an absurd frame size, with only a few bytes of data."""
    Path(path).write_bytes(f"YUV4MPEG2 W{width} H{height} F25:1 Ip A1:1 C420jpeg\nFRAME\n".encode() + b"\x80" * 4096)
    return Path(path)
