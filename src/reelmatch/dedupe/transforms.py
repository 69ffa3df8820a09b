"""The ndvr transformation suite: how the benchmark makes copies of a video.

Each transformation is a pure function ``(Source) -> Source`` over decoded
frames uint8 [T, H, W, 3] at ``fps`` and mono float32 audio at ``sample_rate``;
the benchmark then writes the result with PyAV (``samples.media.write_video``,
H.264/AAC in MP4 unless the transformation picks another codec), so every copy
is also re-encoded. No ffmpeg binary is needed.

| name | what it does |
|---|---|
| reencode | MPEG-4 Part 2 in AVI (another codec and container) |
| resize | half the width and height |
| crop | 12 % cut off every side |
| letterbox | black bars above and below (16:9 into 4:3) |
| hflip | mirror image |
| brightness | brightness +25, contrast x1.3 |
| grayscale | luma only |
| blur | Gaussian blur, radius 2 % of the width |
| noise | Gaussian noise, sigma 12 |
| text | a caption band burned into the bottom fifth |
| logo | a coloured logo with text in the top-right corner |
| speed | played 1.25x faster (frames and audio) |
| framerate | half the frame rate |
| trim | first and last 20 % cut |
| segment | a middle segment of 40 % of the duration (at least 2 s) |
| audio_removed | no audio stream |
| audio_replaced | another sound (a 330 Hz tone with noise) |
| audio_pitch | audio resampled up 12 % (pitch shift), video unchanged |
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Source:
    frames: np.ndarray  # uint8 [T, H, W, 3]
    fps: float
    audio: np.ndarray | None  # float32 [n] mono
    sample_rate: int = 16000
    container: str = ".mp4"
    video_codec: str | None = None

    @property
    def seconds(self) -> float:
        return len(self.frames) / self.fps


def _even(frames: np.ndarray) -> np.ndarray:
    h, w = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2
    return np.ascontiguousarray(frames[:, :h, :w])


def _per_frame(src: Source, fn: Callable) -> Source:
    from PIL import Image

    out = np.stack([np.asarray(fn(Image.fromarray(f)).convert("RGB")) for f in src.frames])
    return replace(src, frames=_even(out))


def reencode(s: Source) -> Source:
    return replace(s, container=".avi", video_codec="mpeg4")


def resize(s: Source) -> Source:
    from PIL import Image

    h, w = s.frames.shape[1:3]
    return _per_frame(s, lambda im: im.resize((max(16, w // 2), max(16, h // 2)), Image.BILINEAR))


def crop(s: Source) -> Source:
    h, w = s.frames.shape[1:3]
    dy, dx = int(h * 0.12), int(w * 0.12)
    return replace(s, frames=_even(s.frames[:, dy : h - dy, dx : w - dx]))


def letterbox(s: Source) -> Source:
    t, h, w, _ = s.frames.shape
    new_h = max(h, int(w * 3 / 4))
    pad = (new_h - h) // 2 or max(2, h // 8)
    out = np.zeros((t, h + 2 * pad, w, 3), np.uint8)
    out[:, pad : pad + h] = s.frames
    return replace(s, frames=_even(out))


def hflip(s: Source) -> Source:
    return replace(s, frames=np.ascontiguousarray(s.frames[:, :, ::-1]))


def brightness(s: Source) -> Source:
    x = s.frames.astype(np.float32)
    return replace(s, frames=np.clip((x - 128) * 1.3 + 128 + 25, 0, 255).astype(np.uint8))


def grayscale(s: Source) -> Source:
    y = (s.frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.uint8)
    return replace(s, frames=np.repeat(y[..., None], 3, axis=3))


def blur(s: Source) -> Source:
    from PIL import ImageFilter

    r = max(1.0, s.frames.shape[2] * 0.02)
    return _per_frame(s, lambda im: im.filter(ImageFilter.GaussianBlur(r)))


def noise(s: Source) -> Source:
    rng = np.random.default_rng(0)
    x = s.frames.astype(np.float32) + rng.normal(0, 12, s.frames.shape).astype(np.float32)
    return replace(s, frames=np.clip(x, 0, 255).astype(np.uint8))


def _draw(s: Source, paint: Callable) -> Source:
    from PIL import ImageDraw

    def fn(im):
        paint(ImageDraw.Draw(im), im.size)
        return im

    return _per_frame(s, fn)


def text(s: Source) -> Source:
    def paint(d, size):
        w, h = size
        d.rectangle([0, int(h * 0.8), w, h], fill=(0, 0, 0))
        d.text((int(w * 0.05), int(h * 0.84)), "EXCLUSIVE - WATCH THE FULL MOVIE NOW", fill=(255, 255, 0))

    return _draw(s, paint)


def logo(s: Source) -> Source:
    def paint(d, size):
        w, h = size
        x0, y0 = int(w * 0.75), int(h * 0.05)
        d.ellipse([x0, y0, x0 + int(w * 0.2), y0 + int(h * 0.2)], fill=(220, 30, 30), outline=(255, 255, 255))
        d.text((x0 + int(w * 0.04), y0 + int(h * 0.07)), "TV1", fill=(255, 255, 255))

    return _draw(s, paint)


def _resample_audio(a: np.ndarray | None, factor: float) -> np.ndarray | None:
    if a is None or len(a) == 0:
        return a
    idx = np.arange(0, len(a), factor)
    return np.interp(idx, np.arange(len(a)), a).astype(np.float32)


def speed(s: Source) -> Source:
    idx = np.round(np.arange(0, len(s.frames), 1.25)).astype(int)
    idx = idx[idx < len(s.frames)]
    return replace(s, frames=s.frames[idx], audio=_resample_audio(s.audio, 1.25))


def framerate(s: Source) -> Source:
    return replace(s, frames=s.frames[::2], fps=s.fps / 2)


def _cut(s: Source, start: float, stop: float) -> Source:
    a, b = int(start * s.fps), max(int(start * s.fps) + 1, int(stop * s.fps))
    audio = None if s.audio is None else s.audio[int(start * s.sample_rate) : int(stop * s.sample_rate)]
    return replace(s, frames=s.frames[a:b], audio=audio)


def trim(s: Source) -> Source:
    return _cut(s, s.seconds * 0.2, s.seconds * 0.8)


def segment(s: Source) -> Source:
    length = min(s.seconds, max(2.0, s.seconds * 0.4))
    start = max(0.0, (s.seconds - length) / 2)
    return _cut(s, start, start + length)


def audio_removed(s: Source) -> Source:
    return replace(s, audio=None)


def audio_replaced(s: Source) -> Source:
    n = int(s.seconds * s.sample_rate)
    t = np.arange(n) / s.sample_rate
    rng = np.random.default_rng(1)
    a = 0.3 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.standard_normal(n)
    return replace(s, audio=a.astype(np.float32))


def audio_pitch(s: Source) -> Source:
    a = _resample_audio(s.audio, 1.12)
    if a is not None and s.audio is not None:
        a = np.resize(a, len(s.audio))  # keep the duration: loop the shifted sound
    return replace(s, audio=a)


#: name -> transformation, in the documented order
SUITE: dict[str, Callable[[Source], Source]] = {
    f.__name__: f
    for f in (
        reencode, resize, crop, letterbox, hflip, brightness, grayscale, blur, noise, text, logo,
        speed, framerate, trim, segment, audio_removed, audio_replaced, audio_pitch,
    )
}  # fmt: skip
#: a smaller suite for ``--quick``: one of each family
QUICK = ("reencode", "resize", "crop", "letterbox", "hflip", "grayscale", "blur", "text", "logo", "speed", "segment", "audio_replaced")
