"""Write small synthetic videos with PyAV: moving shapes and a tone.

``write_video`` is the one primitive tests use to make real media files in any
container/codec PyAV's FFmpeg carries. Frames and audio are pure functions of the
arguments, so files are reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np

FrameFn = Callable[[int, float], np.ndarray]  # (index, time s) -> uint8 [H, W, 3]
AudioFn = Callable[[np.ndarray], np.ndarray]  # times s [n] -> float32 [n] in [-1, 1]


def moving_box_frames(width: int, height: int, *, color=(230, 60, 40), background=(20, 30, 60), speed: float = 1.0) -> FrameFn:
    """A box bouncing across a gradient background, with a frame counter stripe."""
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.empty((height, width, 3), np.uint8)
    for c in range(3):
        base[..., c] = np.clip(background[c] + 60 * xx / max(width - 1, 1), 0, 255).astype(np.uint8)
    bw, bh = max(width // 5, 2), max(height // 5, 2)

    def frame(i: int, t: float) -> np.ndarray:
        img = base.copy()
        x = int((0.5 + 0.45 * np.sin(speed * t)) * (width - bw))
        y = int((0.5 + 0.45 * np.cos(0.7 * speed * t)) * (height - bh))
        img[y : y + bh, x : x + bw] = color
        # a time-dependent stripe so every second looks different
        shade = int(255 * ((t * 0.37) % 1.0))
        img[: max(height // 16, 1), :, :] = shade
        return img

    return frame


def tone(freq: float = 440.0, amplitude: float = 0.3) -> AudioFn:
    def audio(t: np.ndarray) -> np.ndarray:
        return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)

    return audio


def write_video(
    path: str | Path,
    *,
    seconds: float = 2.0,
    width: int = 64,
    height: int = 64,
    fps: int = 10,
    frames: FrameFn | None = None,
    audio: AudioFn | None | bool = True,
    sample_rate: int = 16000,
    video_codec: str | None = None,
    audio_codec: str | None = None,
    pix_fmt: str = "yuv420p",
    rotate: int | None = None,
    audio_streams: int = 1,
) -> Path:
    """Write a video file and return its path.

    ``frames`` maps (index, t) to an RGB uint8 [height, width, 3] array
    (default: a moving box). ``audio=True`` adds a 440 Hz tone, ``False``/``None``
    writes no audio stream, a callable gives the samples. Codecs default by
    container: mp4/mov/mkv -> h264/aac, webm -> vp8/opus, avi -> mpeg4/mp3,
    mpg -> mpeg1/mp2. (PyAV's wheel has no Vorbis/Theora encoders.)
    ``rotate`` sets the display-matrix rotation metadata (degrees).
    """
    import av

    from reelmatch.media import open_output

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ext = path.suffix.lower()
    defaults = {
        ".mp4": ("libx264", "aac"),
        ".mov": ("libx264", "aac"),
        ".mkv": ("libx264", "aac"),
        ".webm": ("libvpx", "libopus"),
        ".avi": ("mpeg4", "mp3"),
        ".mpg": ("mpeg1video", "mp2"),
    }
    vdef, adef = defaults.get(ext, ("libx264", "aac"))
    video_codec = video_codec or vdef
    audio_codec = audio_codec or adef
    if frames is None:
        frames = moving_box_frames(width, height)
    if audio is True:
        audio = tone()
    n_frames = max(int(round(seconds * fps)), 1)

    with open_output(path) as out:
        vs = out.add_stream(video_codec, rate=fps)
        vs.width, vs.height = width, height
        vs.pix_fmt = pix_fmt
        if video_codec in ("libx264",):
            vs.options = {"preset": "ultrafast", "g": str(fps)}
        if rotate is not None:
            # the "rotate" metadata tag is ignored by current muxers: set the display matrix
            if hasattr(vs, "set_display_rotation"):
                vs.set_display_rotation(rotate)
            else:  # pragma: no cover - older PyAV
                vs.metadata["rotate"] = str(rotate)
        a_streams = []
        if audio:
            for _ in range(audio_streams):
                a = out.add_stream(audio_codec, rate=sample_rate)
                a.layout = "mono"
                a_streams.append(a)
        for i in range(n_frames):
            img = np.ascontiguousarray(frames(i, i / fps))
            vf = av.VideoFrame.from_ndarray(img, format="rgb24")
            vf.pts = i
            vf.time_base = Fraction(1, fps)
            for pkt in vs.encode(vf):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        for k, a in enumerate(a_streams):
            total = int(seconds * sample_rate)
            chunk = 1024
            fmt = a.codec_context.format.name if a.codec_context.format else "fltp"
            pts = 0
            for start in range(0, total, chunk):
                n = min(chunk, total - start)
                t = (np.arange(start, start + n) / sample_rate).astype(np.float64)
                samples = audio(t) if k == 0 else audio(t) * 0.5
                frame = _audio_frame(samples.astype(np.float32), fmt, sample_rate)
                frame.pts = pts
                pts += n
                for pkt in a.encode(frame):
                    out.mux(pkt)
            for pkt in a.encode():
                out.mux(pkt)
    return path


def _audio_frame(samples, fmt: str, sample_rate: int):
    import av

    planar = fmt.endswith("p")
    base = fmt.rstrip("p")
    if base == "flt":
        data = samples.astype(np.float32)
    elif base == "s16":
        data = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
    elif base == "s32":
        data = (np.clip(samples, -1, 1) * 2147483647).astype(np.int32)
    elif base == "dbl":
        data = samples.astype(np.float64)
    elif base == "u8":
        data = ((np.clip(samples, -1, 1) * 127) + 128).astype(np.uint8)
    else:  # pragma: no cover
        raise ValueError(f"unsupported sample format {fmt}")
    arr = data.reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(arr if planar else arr, format=fmt, layout="mono")
    frame.sample_rate = sample_rate
    return frame
