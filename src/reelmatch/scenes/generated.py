"""Generated long videos with known scene boundaries (tests and ``benchmarks/scenes.py``).

A "movie" is a run of scenes, each drawn and voiced in one demo genre's style
(:mod:`reelmatch.samples.corpus`, with the style's own internal cuts turned off so
each scene is one shot), joined by hard cuts or by fades through black
(``fade`` seconds out, then in). The true boundary of a fade is its middle, the
darkest frame. ``write_movie`` returns the scenes as ``(start, end, genre)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class PlannedScene:
    start: float
    end: float
    genre: str
    fade_in: bool  # the boundary at ``start`` is a fade through black (else a hard cut)


def plan_movie(seconds: float, *, seed: int = 0, genres=None, min_scene: float = 2.0, max_scene: float = 9.0,
               fades: float = 0.4) -> list[PlannedScene]:
    """Scenes of a ``seconds``-long movie: random lengths, consecutive scenes of different genres,
    a fraction ``fades`` of boundaries being fades through black."""
    from reelmatch.samples.corpus import GENRES

    rng = np.random.default_rng(seed)
    names = list(genres or GENRES)
    out, t, prev = [], 0.0, None
    while t < seconds - 1e-6:
        length = float(rng.uniform(min_scene, max_scene))
        end = min(seconds, t + length)
        if seconds - end < min_scene:
            end = seconds
        g = str(rng.choice([n for n in names if n != prev] or names))
        out.append(PlannedScene(round(t, 3), round(end, 3), g, bool(out) and bool(rng.random() < fades)))
        t, prev = end, g
    return out


def write_movie(path, seconds: float = 60.0, *, size: int = 96, fps: int = 24, seed: int = 0, fade: float = 0.5,
                genres=None, fades: float = 0.4, audio: bool = True, genre_look: float = 1.0) -> list[PlannedScene]:
    """Write the movie of :func:`plan_movie` to ``path``; returns its scenes (the ground truth).

    ``genre_look`` (0..1): how much of each scene's look is its genre's (the demo corpus draws
    its trailers with 0.5: the rest of the look is a random genre's, motion and sound stay the genre's).
    """
    from reelmatch.samples.corpus import GENRES, _Item, _Painter, _Sound
    from reelmatch.samples.media import write_video

    plan = plan_movie(seconds, seed=seed, genres=genres, fades=fades)
    painters, sounds = [], []
    for j, sc in enumerate(plan):
        item = _Item(j, (sc.genre,), (sc.genre,), "trailer", True, int(seed * 100_003 + j))
        p = _Painter(item, size, 10.0, genre_look)
        p.cut = [1e9]  # one shot per scene: the boundaries are ours
        painters.append(p)
        sounds.append(_Sound(item))
    starts = np.array([s.start for s in plan])
    assert set(g for s in plan for g in [s.genre]) <= set(GENRES)

    def scene_at(t):
        return int(np.searchsorted(starts, t, side="right") - 1)

    def frame(i, t):
        j = scene_at(t)
        img = painters[j](i, t).astype(np.float32)
        sc = plan[j]
        gain = 1.0
        if sc.fade_in and t - sc.start < fade:  # fading in from black
            gain = min(gain, (t - sc.start) / fade)
        nxt = plan[j + 1] if j + 1 < len(plan) else None
        if nxt is not None and nxt.fade_in and sc.end - t <= fade:  # fading out to black
            gain = min(gain, max(sc.end - t - 1.0 / fps, 0.0) / fade)
        return np.clip(img * gain, 0, 255).astype(np.uint8)

    def sound(t):
        out = np.zeros(len(t), np.float32)
        idx = np.searchsorted(starts, t, side="right") - 1
        for j in np.unique(idx):
            m = idx == j
            out[m] = sounds[j](t[m])
        return out

    write_video(Path(path), seconds=seconds, width=size, height=size, fps=fps, frames=frame,
                audio=sound if audio else False)
    return plan


def true_boundaries(plan) -> list[float]:
    """The boundaries between scenes (a fade's is its middle: where the scene starts)."""
    return [s.start for s in plan[1:]]
