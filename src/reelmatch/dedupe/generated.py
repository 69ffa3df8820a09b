"""Generated videos for the copy benchmark: sources, distractors and hard negatives.

Everything is a pure function of a seed, written with PyAV
(``samples.media.write_video``), so the benchmark needs no download.

- :func:`scene_clip`: a "film": smooth textured backgrounds, moving shapes,
  a cut every 2-3 s (sources that get copies, and the unrelated videos AugLy
  overlays, blends or inserts).
- Hard negatives, which must never be grouped with anything but their own copies:
  :func:`talking_head` (different people in one framing: same set, same
  lower-third banner, same camera), :func:`set_moment` (one static set filmed at
  other moments: other passers-by, other light), :func:`colour_cards` (flat
  colour cards, SMPTE-like bars) and :func:`black_frames`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

W, H, FPS = 320, 180, 12


def _smooth_noise(rng, h: int, w: int, scale: int = 8) -> np.ndarray:
    from PIL import Image

    small = rng.random((max(2, h // scale), max(2, w // scale), 3)).astype(np.float32)
    img = Image.fromarray((small * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC)
    return np.asarray(img, np.float32) / 255.0


def _write(path: Path, seconds: float, frame_fn, audio=True) -> Path:
    from reelmatch.samples.media import write_video

    return write_video(path, seconds=seconds, width=W, height=H, fps=FPS, frames=frame_fn, audio=audio)


def _sound(seed: int):
    """A soundtrack of its own per seed: a random melody (a new note every 0.15-0.4 s, two octaves, the
    seed's timbre) over a beat and noise. Unrelated seeds sound unrelated, as two films' soundtracks do
    (a steady tone shared by every video would make any audio evidence meaningless)."""
    rng = np.random.default_rng([seed, 9])
    note = float(rng.uniform(0.15, 0.4))
    pitches = 110.0 * 2.0 ** (rng.integers(0, 25, 4096) / 12.0)  # A2..A4
    harmonics = rng.uniform(0.1, 0.8, 3)
    beat = float(rng.uniform(1.0, 3.0))
    noise = rng.uniform(-1, 1, 16000).astype(np.float32)

    def audio(t: np.ndarray) -> np.ndarray:
        k = (t / note).astype(np.int64)
        f = pitches[k % len(pitches)]
        phase = 2 * np.pi * f * (t - k * note)
        x = np.sin(phase) + sum(h * np.sin((n + 2) * phase) for n, h in enumerate(harmonics))
        env = np.exp(-3.0 * (t - k * note) / note) * (0.6 + 0.4 * np.exp(-5.0 * ((t * beat) % 1.0)))
        return (0.2 * env * x + 0.03 * noise[(t * 16000).astype(np.int64) % 16000]).astype(np.float32)

    return audio


def scene_clip(path: Path, seed: int, seconds: float = 10.0, audio=None) -> Path:
    """A generated film of ``seed``; ``audio`` (a samples function of time) replaces its own soundtrack."""
    rng = np.random.default_rng([seed, 1])
    n_scenes = int(seconds // 2) + 2
    cuts = np.cumsum(rng.uniform(2.0, 3.0, n_scenes))
    scenes = []
    for k in range(n_scenes):
        r = np.random.default_rng([seed, 2, k])
        bg = _smooth_noise(r, H, W, scale=int(r.integers(6, 30))) * r.uniform(0.4, 1.0, 3) * 255
        shapes = [(r.uniform(0.1, 0.9, 2), r.uniform(-0.25, 0.25, 2), r.uniform(0.06, 0.2), r.integers(0, 256, 3), int(r.integers(3)))
                  for _ in range(int(r.integers(2, 6)))]  # fmt: skip
        scenes.append((bg.astype(np.float32), shapes, r.uniform(-8, 8, 2)))
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    xx, yy = xx / W, yy / H

    def frame(i: int, t: float) -> np.ndarray:
        k = int(np.searchsorted(cuts, t, side="right"))
        bg, shapes, pan = scenes[min(k, n_scenes - 1)]
        t0 = 0.0 if k == 0 else float(cuts[k - 1])
        dt = t - t0
        img = np.roll(bg, (int(pan[0] * dt), int(pan[1] * dt)), axis=(0, 1)).copy()
        for c, v, r, col, kind in shapes:
            cx, cy = (c + v * dt) % 1.0
            dx, dy = (xx - cx) * W / H, yy - cy
            if kind == 0:
                m = dx * dx + dy * dy < r * r
            elif kind == 1:
                m = (np.abs(dx) < r) & (np.abs(dy) < r * 0.6)
            else:
                m = np.abs(np.sqrt(dx * dx + dy * dy) - r) < 0.02
            img[m] = col
        return np.clip(img, 0, 255).astype(np.uint8)

    return _write(path, seconds, frame, _sound(seed) if audio is None else audio)


def _set_background(seed: int) -> np.ndarray:
    """A room: wall gradient, a shelf, a window, a desk (one per ``seed``)."""
    r = np.random.default_rng([seed, 3])
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    wall = np.array(r.integers(60, 200, 3), np.float32)
    img = wall[None, None] * (0.8 + 0.2 * (xx / W))[..., None]
    img += _smooth_noise(r, H, W, 20) * 25
    sx = int(r.integers(10, 60))
    img[20:120, sx : sx + 60] = (90, 60, 40)
    for k in range(5):  # books
        img[25 + 18 * k : 38 + 18 * k, sx + 4 : sx + 56] = r.integers(40, 230, 3)
    wx = int(r.integers(220, 270))
    img[25:90, wx : wx + 40] = (170, 200, 230)
    img[135:, :] = (110, 80, 55)  # desk
    return img


def talking_head(path: Path, person: int, set_seed: int = 0, seconds: float = 8.0) -> Path:
    """A presenter behind a desk on one set; ``person`` changes who it is (face, hair, clothes, build)."""
    from PIL import Image, ImageDraw

    bg = _set_background(set_seed)
    r = np.random.default_rng([person, 4])
    skin = tuple(int(c) for c in r.choice([(240, 200, 170), (200, 150, 110), (140, 95, 65), (90, 60, 40), (225, 180, 140)]))
    hair = tuple(int(c) for c in r.integers(10, 160, 3))
    shirt = tuple(int(c) for c in r.integers(20, 240, 3))
    head_w, head_h = int(r.integers(34, 48)), int(r.integers(44, 58))
    shoulders = int(r.integers(50, 80))
    hair_kind = int(r.integers(3))
    glasses = bool(r.random() < 0.5)
    bob = float(r.uniform(1.0, 2.5))

    def frame(i: int, t: float) -> np.ndarray:
        im = Image.fromarray(bg.astype(np.uint8))
        d = ImageDraw.Draw(im)
        cx = W // 2 + int(3 * np.sin(bob * t))
        cy = 70 + int(2 * np.sin(2.1 * bob * t))
        d.rectangle([cx - shoulders, cy + head_h // 2 + 8, cx + shoulders, H], fill=shirt)
        d.rectangle([cx - 8, cy + head_h // 2 - 2, cx + 8, cy + head_h // 2 + 10], fill=skin)
        if hair_kind == 2:  # long hair behind the head
            d.ellipse([cx - head_w // 2 - 8, cy - head_h // 2 - 6, cx + head_w // 2 + 8, cy + head_h // 2 + 20], fill=hair)
        d.ellipse([cx - head_w // 2, cy - head_h // 2, cx + head_w // 2, cy + head_h // 2], fill=skin)
        if hair_kind in (0, 2):
            d.chord([cx - head_w // 2, cy - head_h // 2 - 4, cx + head_w // 2, cy + head_h // 3], 180, 360, fill=hair)
        for ex in (-head_w // 5, head_w // 5):
            d.ellipse([cx + ex - 3, cy - 6, cx + ex + 3, cy], fill=(30, 30, 30))
            if glasses:
                d.rectangle([cx + ex - 7, cy - 9, cx + ex + 7, cy + 3], outline=(20, 20, 20), width=2)
        mouth = 2 + int(5 * abs(np.sin(7.0 * t + person)))
        d.ellipse([cx - 8, cy + 12, cx + 8, cy + 12 + mouth], fill=(120, 40, 40))
        d.rectangle([0, H - 30, W, H - 8], fill=(20, 40, 120))  # the show's banner, the same for everyone
        d.text((10, H - 26), "NEWS 24  LIVE  |  MORNING EDITION", fill=(255, 255, 255))
        return np.asarray(im)

    return _write(path, seconds, frame, _sound(1000 + person))


def set_moment(path: Path, moment: int, set_seed: int = 1, seconds: float = 8.0) -> Path:
    """A static camera on one set; ``moment`` changes who walks by and the light (the same place, another time)."""
    from PIL import Image, ImageDraw

    bg = _set_background(set_seed)
    r = np.random.default_rng([moment, 5])
    light = float(r.uniform(0.75, 1.15))
    walkers = [(r.uniform(-0.3, 1.0), r.uniform(0.05, 0.2) * (1 if r.random() < 0.5 else -1), tuple(int(c) for c in r.integers(0, 256, 3)),
                int(r.integers(18, 40))) for _ in range(int(r.integers(1, 4)))]  # fmt: skip
    lamp = bool(r.random() < 0.5)

    def frame(i: int, t: float) -> np.ndarray:
        im = Image.fromarray(np.clip(bg * light, 0, 255).astype(np.uint8))
        d = ImageDraw.Draw(im)
        if lamp:
            d.polygon([(150, 0), (170, 0), (200, 60), (120, 60)], fill=(250, 240, 160))
        for x0, v, col, size in walkers:
            x = int(((x0 + v * t) % 1.3 - 0.15) * W)
            d.ellipse([x - size // 3, 60, x + size // 3, 60 + size // 2], fill=(220, 180, 150))
            d.rectangle([x - size // 2, 60 + size // 2, x + size // 2, 150], fill=col)
        return np.asarray(im)

    return _write(path, seconds, frame, _sound(2000 + moment))


def colour_cards(path: Path, seed: int, seconds: float = 6.0) -> Path:
    """Flat colour cards (a new colour every second) or, for odd seeds, static colour bars with a tone."""
    r = np.random.default_rng([seed, 6])
    cols = r.integers(0, 256, (int(seconds) + 2, 3)).astype(np.uint8)
    bars = np.zeros((H, W, 3), np.uint8)
    palette = r.permutation(np.array([[192, 192, 192], [192, 192, 0], [0, 192, 192], [0, 192, 0], [192, 0, 192], [192, 0, 0], [0, 0, 192]], np.uint8))
    for k in range(7):
        bars[: int(H * 0.7), k * W // 7 : (k + 1) * W // 7] = palette[k]
    bars[int(H * 0.7) :, :] = (16, 16, 16)
    bars[int(H * 0.75) : int(H * 0.95), int(W * 0.6) : int(W * 0.8)] = 235

    def frame(i: int, t: float) -> np.ndarray:
        if seed % 2:
            return bars
        return np.broadcast_to(cols[int(t)], (H, W, 3)).copy()

    tone = lambda t: (0.3 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)  # noqa: E731  # the line-up tone
    return _write(path, seconds, frame, tone)


def black_frames(path: Path, seed: int, seconds: float = 6.0) -> Path:
    """Black (seed 0), near-black with sensor noise (1), or black with a faint fading title (2+)."""
    from PIL import Image, ImageDraw

    r = np.random.default_rng([seed, 7])

    def frame(i: int, t: float) -> np.ndarray:
        if seed == 0:
            return np.zeros((H, W, 3), np.uint8)
        if seed == 1:
            return np.clip(r.normal(8, 2, (H, W, 3)), 0, 255).astype(np.uint8)
        im = Image.new("RGB", (W, H))
        level = int(40 * max(0.0, np.sin(np.pi * t / seconds)))
        ImageDraw.Draw(im).text((W // 3, H // 2), f"REEL {seed}", fill=(level, level, level))
        return np.asarray(im)

    return _write(path, seconds, frame, audio=False)
