"""Which instants of a video a clip samples (pure functions, no decoding).

The recipe ran ``ffmpeg -ss START -t WINDOW -vf ...,fps=1/INTERVAL``. FFmpeg's
``fps`` filter rounds each frame's time (relative to START) to the nearest output
tick and emits, for tick ``n``, the *last* frame that rounds to ``n``: the last
frame shown before ``START + INTERVAL * (n + 0.5)``. Tick ``n`` exists only if
the window (clipped to the end of the video) reaches ``INTERVAL * (n + 0.5)``.
Both geometries use this rule, so a clip's frames are the recipe's frames.

Deviation from the recipe, on purpose: a video too short to reach the first tick
(shorter than START + INTERVAL/2) would give the recipe an all-padding clip. We
instead restart the window at 0 if the video ends before START, and take one
frame in the middle of what remains if still no tick fits.
"""

from __future__ import annotations

from dataclasses import dataclass

from reelmatch.extract.config import ClipConfig

#: tolerance for float time comparisons (s)
EPS = 1e-6


@dataclass(frozen=True)
class SamplePlan:
    """start: window start used (s, relative to the media start);
    end: window end (s; ``None`` when the duration is unknown);
    targets: for each sampled frame ``n``, the instant ``t`` such that the frame
    taken is the last one shown strictly before ``t``."""

    start: float
    end: float | None
    targets: tuple[float, ...]


def effective_start(config: ClipConfig, duration: float | None) -> float:
    """``config.start``, or 0 when the video ends before it."""
    if duration is not None and duration <= config.start + EPS:
        return 0.0
    return float(config.start)


def tick_fits(n: int, start: float, end: float | None, interval: float) -> bool:
    """True if tick ``n`` of the fps filter is emitted for a window [start, end)."""
    if end is None:
        return True
    return (end - start) >= interval * (n + 0.5) - EPS


def plan_samples(config: ClipConfig, duration: float | None) -> SamplePlan:
    """The sampling plan of a video of ``duration`` seconds (``None``: unknown).

    >>> plan_samples(ClipConfig(), 150.0).targets[:2]
    (11.0, 23.0)
    """
    start = effective_start(config, duration)
    end = None if duration is None else min(start + config.window, duration)
    if end is None:
        end_window = start + config.window
    else:
        end_window = end
    targets = tuple(
        start + config.interval * (n + 0.5)
        for n in range(config.num_frames)
        if tick_fits(n, start, end_window, config.interval)
    )
    if not targets and end is not None and end > start:
        targets = (start + (end - start) / 2.0,)
    return SamplePlan(start=start, end=end, targets=targets)
