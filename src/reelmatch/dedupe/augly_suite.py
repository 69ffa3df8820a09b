"""AugLy's video transformations as the copy-detection benchmark's edits.

AugLy (PyPI ``augly``, Meta) is the augmentation library that built the DISC21
and VSC22 copy-detection challenges. Its video functions drive the ``ffmpeg``
binary (through ``vidgear``/``ffmpeg-python``) and OpenCV. Each *family* below
draws its parameters from a seeded generator, so a (source, family, seed)
triple always makes the same copy; copies are cached on disk (``cache_dir``,
by default ``/tmp/reelmatch-augly``) so reruns of the benchmark are cheap.

Install: ``pip install 'reelmatch[bench]'`` (``make test`` does): ``augly==1.0.0``
without its ``[video]`` extra (which pins Pillow<9 and pulls librosa/torchaudio)
plus the video stack it uses, ``opencv-python-headless colorlog "vidgear<0.3"
ffmpeg-python python-magic`` (vidgear 0.3 renamed the WriteGear argument AugLy
1.0 passes), and the Debian packages ``ffmpeg libmagic1``.

AugLy's ``augly.video`` imports its audio package (librosa, torchaudio's
``sox_effects``, which current torchaudio no longer has) at import time even
though none of the video functions used here calls it; when that stack is
missing :func:`augly_video` registers ``augly.audio`` as a module whose every
function raises ``ImportError`` if called, so a wrong use fails loudly.

| family | AugLy call | parameters (drawn per seed) |
|---|---|---|
| overlay_bg | overlay_onto_background_video | the copy at 55-80 % size on another video |
| pip | overlay_onto_background_video | picture-in-picture: the copy at 35-50 % size |
| overlay_video | overlay | another video covering 25-40 % of the copy |
| blend | blend_videos | another video blended in at opacity 0.3-0.45 |
| emoji | overlay_emoji | an emoji, 15-30 % of the frame, anywhere |
| text | overlay_text | random text, 1-2 lines |
| pixelization | pixelization | ratio 0.2-0.4 |
| color_jitter | color_jitter | brightness +-0.25, contrast 0.6-1.6, saturation 0.3-2.5 |
| grayscale | grayscale | |
| blur | blur | sigma 1.5-4 |
| noise | add_noise | level 20-45 |
| encoding | encoding_quality | CRF 38-48 |
| crop | crop | keep 55-80 % of width and height, anywhere |
| pad | pad | 10-30 % bars of a random colour |
| rotate | rotate | 6-20 degrees either way |
| aspect | change_aspect_ratio | ratio 0.6-2.2 |
| resize | resize | 30-60 % of width/height (independently) |
| speed | change_video_speed | 0.6-1.6x |
| fps | fps | 5-10 frames per second |
| time_crop | time_crop | a 35-70 % window |
| loop | loop | played 2-3 times |
| color_frames | replace_with_color_frames | 25-40 % of the duration replaced by a flat colour |
| insert | insert_in_background | inside a longer unrelated video |
| hflip | hflip | mirror image |
| compound | 2-3 of the above | as VSC22's compound edits |
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import shutil
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reelmatch.errors import InputError

log = logging.getLogger(__name__)
DEFAULT_CACHE = Path("/tmp/reelmatch-augly")
#: bump when a family's parameters change: cached copies are then remade
SUITE_VERSION = 1


def _unavailable_module(name: str) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__path__ = []  # a package, so "from augly.audio import utils" resolves

    def __getattr__(attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)

        def unavailable(*_a, **_k):
            raise ImportError(f"{name}.{attr} needs AugLy's audio stack (librosa, torchaudio.sox_effects), not installed")

        return unavailable

    mod.__getattr__ = __getattr__
    return mod


def augly_video():
    """``augly.video`` (raises ``InputError`` with the install line when AugLy or ffmpeg is missing)."""
    if shutil.which("ffmpeg") is None:
        raise InputError("the AugLy suite needs the ffmpeg binary (Debian: apt-get install ffmpeg; 'make system-deps')")
    try:
        importlib.import_module("augly.audio")
    except ImportError:
        for n in ("augly.audio", "augly.audio.utils"):
            sys.modules.setdefault(n, _unavailable_module(n))
    try:
        return importlib.import_module("augly.video")
    except ImportError as e:
        raise InputError(
            f"the AugLy suite needs augly and its video stack ({e}); install: pip install 'reelmatch[bench]'"
        ) from e


@dataclass(frozen=True)
class Edit:
    """One AugLy call: ``fn(in_path, out_path, **kwargs)``; ``needs`` names a distractor video argument."""

    family: str
    fn: str
    kwargs: dict
    needs: str | None = None
    temporal: bool = False  # changes the timeline (localisation is not checked)


def _u(rng, a, b) -> float:
    return round(float(rng.uniform(a, b)), 3)


def _crop(rng):
    w, h = _u(rng, 0.55, 0.8), _u(rng, 0.55, 0.8)
    x, y = _u(rng, 0, 1 - w), _u(rng, 0, 1 - h)
    return {"left": x, "top": y, "right": round(x + w, 3), "bottom": round(y + h, 3)}


def _color(rng) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(0, 256, 3))


# family -> rng -> Edit
FAMILIES: dict[str, Callable[[np.random.Generator], Edit]] = {
    "overlay_bg": lambda r: Edit("overlay_bg", "overlay_onto_background_video",
                                 {"overlay_size": _u(r, 0.55, 0.8), "x_factor": _u(r, 0, 0.2), "y_factor": _u(r, 0, 0.2)}, "background_path"),
    "pip": lambda r: Edit("pip", "overlay_onto_background_video",
                          {"overlay_size": _u(r, 0.35, 0.5), "x_factor": _u(r, 0, 0.5), "y_factor": _u(r, 0, 0.5)}, "background_path"),
    "overlay_video": lambda r: Edit("overlay_video", "overlay",
                                    {"overlay_size": _u(r, 0.25, 0.4), "x_factor": _u(r, 0, 0.6), "y_factor": _u(r, 0, 0.6)}, "overlay_path"),
    "blend": lambda r: Edit("blend", "blend_videos", {"opacity": _u(r, 0.3, 0.45), "use_second_audio": False}, "overlay_path"),
    "emoji": lambda r: Edit("emoji", "overlay_emoji",
                            {"emoji_size": _u(r, 0.15, 0.3), "x_factor": _u(r, 0, 0.7), "y_factor": _u(r, 0, 0.7)}),
    "text": lambda r: Edit("text", "overlay_text", {"text_len": int(r.integers(8, 30))}),
    "pixelization": lambda r: Edit("pixelization", "pixelization", {"ratio": _u(r, 0.2, 0.4)}),
    "color_jitter": lambda r: Edit("color_jitter", "color_jitter", {"brightness_factor": _u(r, -0.25, 0.25),
                                   "contrast_factor": _u(r, 0.6, 1.6), "saturation_factor": _u(r, 0.3, 2.5)}),
    "grayscale": lambda r: Edit("grayscale", "grayscale", {}),
    "blur": lambda r: Edit("blur", "blur", {"sigma": _u(r, 1.5, 4.0)}),
    "noise": lambda r: Edit("noise", "add_noise", {"level": int(r.integers(20, 46))}),
    "encoding": lambda r: Edit("encoding", "encoding_quality", {"quality": int(r.integers(38, 49))}),
    "crop": lambda r: Edit("crop", "crop", _crop(r)),
    "pad": lambda r: Edit("pad", "pad", {"w_factor": _u(r, 0.1, 0.3), "h_factor": _u(r, 0.1, 0.3), "color": _color(r)}),
    "rotate": lambda r: Edit("rotate", "rotate", {"degrees": _u(r, 6, 20) * (1 if r.random() < 0.5 else -1)}),
    "aspect": lambda r: Edit("aspect", "change_aspect_ratio", {"ratio": _u(r, 0.6, 2.2)}),
    "resize": lambda r: Edit("resize", "resize", {"width_f": _u(r, 0.3, 0.6), "height_f": _u(r, 0.3, 0.6)}),
    "speed": lambda r: Edit("speed", "change_video_speed", {"factor": _u(r, 0.6, 1.6)}, temporal=True),
    "fps": lambda r: Edit("fps", "fps", {"fps": int(r.integers(5, 11))}),
    "time_crop": lambda r: Edit("time_crop", "time_crop", {"offset_factor": _u(r, 0, 0.3), "duration_factor": _u(r, 0.35, 0.7)},
                                temporal=True),
    "loop": lambda r: Edit("loop", "loop", {"num_loops": int(r.integers(1, 3))}, temporal=True),
    "color_frames": lambda r: Edit("color_frames", "replace_with_color_frames",
                                   {"offset_factor": _u(r, 0, 0.6), "duration_factor": _u(r, 0.25, 0.4), "color": _color(r)}),
    "insert": lambda r: Edit("insert", "insert_in_background", {"offset_factor": _u(r, 0.1, 0.9)}, "background_path", temporal=True),
    "hflip": lambda r: Edit("hflip", "hflip", {}),
}  # fmt: skip
SINGLE = tuple(FAMILIES)
#: families a compound edit draws from (2-3 of them, in a random order, as VSC22)
COMPOUNDABLE = ("crop", "pad", "rotate", "aspect", "resize", "blur", "noise", "encoding", "color_jitter", "grayscale",
                "emoji", "text", "pixelization", "hflip", "speed", "fps", "overlay_video", "blend", "overlay_bg")  # fmt: skip


def plan(family: str, seed: int) -> list[Edit]:
    """The edits of ``family`` ("compound" = 2-3 families) for ``seed``."""
    rng = np.random.default_rng([seed, 17])
    if family == "compound":
        n = int(rng.integers(2, 4))
        picks = rng.choice(len(COMPOUNDABLE), size=n, replace=False)
        return [FAMILIES[COMPOUNDABLE[i]](rng) for i in picks]
    if family not in FAMILIES:
        raise InputError(f"unknown AugLy family {family!r}; known: {', '.join(SINGLE)}, compound")
    return [FAMILIES[family](rng)]


def _file_key(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:20]


def _video_size(path: Path) -> tuple[int, int]:
    from reelmatch.media import open_media, video_stream

    with open_media(path) as c:
        s = video_stream(c)
        if s is None:
            raise ValueError(f"{path.name}: no video stream")
        return int(s.codec_context.width), int(s.codec_context.height)


def apply_edit(edit: Edit, src: Path, out: Path, distractor: Path | None) -> None:
    va = augly_video()
    kw = dict(edit.kwargs)
    if edit.fn == "resize":
        w, h = _video_size(src)
        kw = {"width": max(32, int(w * kw["width_f"]) // 2 * 2), "height": max(32, int(h * kw["height_f"]) // 2 * 2)}
    if edit.needs:
        if distractor is None:
            raise InputError(f"AugLy {edit.fn} needs a distractor video")
        kw[edit.needs] = str(distractor)
    getattr(va, edit.fn)(str(src), output_path=str(out), **kw)
    if not out.exists() or out.stat().st_size == 0:
        raise InputError(f"AugLy {edit.fn} wrote no file for {src}")


def make_copy(src: Path, family: str, seed: int, *, distractors: list[Path], cache_dir: Path = DEFAULT_CACHE) -> tuple[Path, list[Edit]]:
    """The AugLy copy of ``src`` for ``(family, seed)`` (cached); returns ``(path, edits)``.

    ``distractors``: unrelated videos that overlay/blend/picture-in-picture/insert
    families draw their second video from (never a catalogue item, so a copy is a
    copy of one source only).
    """
    src = Path(src)
    edits = plan(family, seed)
    key = hashlib.sha256(json.dumps([SUITE_VERSION, _file_key(src), family, seed,
                                     [_file_key(d) for d in distractors]]).encode()).hexdigest()[:20]  # fmt: skip
    cache_dir.mkdir(parents=True, exist_ok=True)
    out = cache_dir / f"{src.stem[:40]}__{family}__{seed}__{key}.mp4"
    if out.exists() and out.stat().st_size > 0:
        return out, edits
    rng = np.random.default_rng([seed, 23])
    cur = src
    tmp_paths = []
    try:
        for n, e in enumerate(edits):
            nxt = cache_dir / f".{key}.{n}.mp4"
            tmp_paths.append(nxt)
            d = distractors[int(rng.integers(len(distractors)))] if e.needs and distractors else None
            apply_edit(e, cur, nxt, d)
            cur = nxt
        cur.replace(out)
    finally:
        for p in tmp_paths:
            p.unlink(missing_ok=True)
    return out, edits
