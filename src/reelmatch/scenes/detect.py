"""Scene boundaries with PySceneDetect, over frames decoded by the project's media layer.

PySceneDetect's detectors are fed frames we decode ourselves (:func:`reelmatch.media.open_media`,
its probing limits, frame-size checks and ``max_pixels``): the library never opens a file.
By default PySceneDetect's ``AdaptiveDetector`` runs over them (a frame's HSV
content change against the rolling average of its neighbours: cuts and quick
fades, not flicker or fast motion); ``ContentDetector`` (the change between
consecutive frames) instead or as well, and ``ThresholdDetector`` (fades through
black, cut in the middle of the dark stretch), are options. Their cuts are
merged (:func:`scenes_from_cuts`) into scenes covering the whole video.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from reelmatch.errors import InputError, one_line
from reelmatch.scenes.config import ScenesConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scene:
    """One scene: ``start`` and ``end`` in seconds from the media start."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


def scenes_from_cuts(cuts, duration: float, min_scene: float = 0.0) -> list[Scene]:
    """Scenes covering ``[0, duration]`` split at ``cuts`` (seconds, any order, duplicates allowed).

    A cut closer than ``min_scene`` to the previous kept boundary (or to either end)
    is dropped. >>> scenes_from_cuts([5.0, 2.0, 2.1], 8.0, 0.5)  # -> [0-2], [2-5], [5-8]
    """
    if duration is None or not np.isfinite(duration) or duration <= 0:
        raise InputError(f"a video of duration {duration!r} has no scenes")
    bounds = [0.0]
    for c in sorted(float(c) for c in cuts):
        if c - bounds[-1] >= max(min_scene, 1e-6) and duration - c >= max(min_scene, 1e-6):
            bounds.append(c)
    bounds.append(float(duration))
    return [Scene(round(a, 3), round(b, 3)) for a, b in zip(bounds[:-1], bounds[1:])]


def boundary_f1(found, truth, tolerance: float = 0.5) -> dict:
    """Precision, recall and F1 of boundary times ``found`` against ``truth`` (seconds), one-to-one
    matching within ``tolerance`` (greedy by distance)."""
    found, truth = sorted(map(float, found)), sorted(map(float, truth))
    pairs = sorted((abs(f - t), i, j) for i, f in enumerate(found) for j, t in enumerate(truth)
                   if abs(f - t) <= tolerance)
    used_f, used_t, tp = set(), set(), 0
    for _, i, j in pairs:
        if i not in used_f and j not in used_t:
            used_f.add(i)
            used_t.add(j)
            tp += 1
    p = tp / len(found) if found else 1.0
    r = tp / len(truth) if truth else 1.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "tp": tp,
            "found": len(found), "truth": len(truth)}


def detect_cuts(path, config: ScenesConfig = ScenesConfig()) -> tuple[list[float], float]:
    """Cut times (seconds from the media start) and the duration of the video ``path``.

    Raises :class:`InputError` (one line naming the file) when it cannot be decoded.
    """
    import av

    from reelmatch import media

    try:
        from scenedetect.common import FrameTimecode, Timecode
        from scenedetect.detectors import AdaptiveDetector, ContentDetector, ThresholdDetector
    except ImportError as e:  # pragma: no cover - the scenes extra, or OpenCV's system libraries
        raise InputError(f"scene detection needs PySceneDetect and OpenCV ({one_line(e)}): pip install"
                         " 'reelmatch[scenes]' (and, on Debian, apt-get install libgl1 libglib2.0-0)") from e

    path = Path(path)
    name = path.name
    with media.open_media(path) as container:
        stream = media.decodable_video(container, name, thread_type="AUTO")
        t0 = media.start_time(container)
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        fps = Fraction(rate)
        min_len = max(1, int(round(config.min_scene * float(fps))))  # frames (PySceneDetect's unit)
        detectors = []
        if "adaptive" in config.detector:
            detectors.append(AdaptiveDetector(adaptive_threshold=config.adaptive_threshold, window_width=config.window,
                                              min_scene_len=min_len))
        if "content" in config.detector:
            detectors.append(ContentDetector(threshold=config.threshold, min_scene_len=min_len))
        if config.fade_threshold > 0:
            detectors.append(ThresholdDetector(threshold=config.fade_threshold, min_scene_len=min_len))
        cuts: list[float] = []
        step = 1.0 / config.max_fps if config.max_fps else 0.0
        last_t = None
        tb = stream.time_base
        last_tc = None
        n = 0
        try:
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                t = float(frame.pts * tb) - t0
                if step and last_t is not None and t - last_t < step - 1e-6:
                    continue
                last_t = t
                media.check_frame_size(frame.width, frame.height, f"{name}: decoded frame")
                w = min(config.width, frame.width) if config.width else frame.width  # never upscaled
                h = max(2, int(round(frame.height * w / frame.width / 2)) * 2)
                img = frame.to_ndarray(format="bgr24", width=w, height=h)
                # pts counted from the media start, so cut times need no offset
                tc = FrameTimecode(Timecode(max(int(frame.pts - round(t0 / tb)), 0), Fraction(tb)), fps=fps)
                for det in detectors:
                    cuts.extend(c.seconds for c in det.process_frame(tc, img))
                last_tc, n = tc, n + 1
        except av.error.FFmpegError as e:
            if n == 0:
                raise InputError(f"{name}: decoding failed ({one_line(e)})") from e
            log.warning("%s: decoding stopped at %.1f s (%s): scenes up to there", name, last_t or 0.0, one_line(e))
        if last_tc is None:
            raise InputError(f"{name}: no decodable video frame")
        for det in detectors:
            cuts.extend(c.seconds for c in det.post_process(last_tc))
        duration = media.duration(container, stream, from_start=True)
        end = (last_t or 0.0) + 1.0 / float(fps)
        if duration is None or duration > end + 2.0:  # the headers lie: trust what decoded
            duration = end
    return cuts, float(duration)


def detect_scenes(path, config: ScenesConfig = ScenesConfig()) -> list[Scene]:
    """Scenes of the video ``path`` (:func:`detect_cuts` then :func:`scenes_from_cuts`)."""
    cuts, duration = detect_cuts(path, config)
    return scenes_from_cuts(cuts, duration, config.min_scene)
