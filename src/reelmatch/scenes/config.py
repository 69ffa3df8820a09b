"""The ``scenes`` stage config (one frozen dataclass, written next to its artifacts)."""

from __future__ import annotations

from dataclasses import dataclass

from reelmatch.config import StageConfig


DETECTORS = ("adaptive", "content", "adaptive+content")


@dataclass(frozen=True)
class ScenesConfig(StageConfig):
    """How scene boundaries are found and scenes embedded.

    detector:       ``"adaptive"`` (default): PySceneDetect's ``AdaptiveDetector`` (a frame's content
                    change against the rolling average of its ``window`` neighbours each side:
                    cuts and quick fades, not flicker or fast motion); ``"content"``: its
                    ``ContentDetector`` (the change between consecutive frames, above ``threshold``);
                    ``"adaptive+content"``: both (cuts of either).
    threshold:      the ``ContentDetector`` threshold (PySceneDetect's default 27).
    adaptive_threshold, window: the ``AdaptiveDetector`` ratio threshold and window in frames
                    (PySceneDetect's defaults are 3.0 and 2; 2.0 and 4 were chosen on generated
                    movies of other seeds than the benchmark's, see docs/scenes.md).
    fade_threshold: also run ``ThresholdDetector`` (fades through black: a frame whose mean
                    intensity is below this level is "black"; its default is 12). Off (0) by
                    default: ``ContentDetector`` already finds 0.5 s fades, and dark flickering
                    scenes (the horror style) fire the threshold detector again and again
                    (see docs/scenes.md for the figures with and without it).
    min_scene:      shortest scene in seconds (cuts closer than this are merged).
    width:          frames are scaled to this width before detection (speed; 0 = as decoded).
    max_fps:        frames analysed per second at most (0 = every frame); decoding still reads all.
    frames:         frames sampled per scene for its embedding (0 = the clip config's K).
    kind:           which items get scenes: ``trailer`` (movies, default), ``ad`` or ``all``.
    """

    detector: str = "adaptive"
    threshold: float = 27.0
    adaptive_threshold: float = 2.0
    window: int = 4
    fade_threshold: float = 0.0
    min_scene: float = 0.6
    width: int = 160
    max_fps: float = 0.0
    frames: int = 0
    kind: str = "trailer"

    def __post_init__(self):
        for name, ok, why in (("detector", self.detector in DETECTORS, f"must be one of {', '.join(DETECTORS)}"),
                              ("threshold", self.threshold > 0, "must be > 0"),
                              ("adaptive_threshold", self.adaptive_threshold > 0, "must be > 0"),
                              ("window", isinstance(self.window, int) and self.window >= 1, "must be a whole number >= 1"),
                              ("fade_threshold", 0 <= self.fade_threshold < 255, "must be in [0, 255)"),
                              ("min_scene", self.min_scene >= 0, "must be >= 0 seconds"),
                              ("width", self.width == 0 or self.width >= 16, "must be 0 or at least 16 pixels"),
                              ("max_fps", self.max_fps >= 0, "must be >= 0"),
                              ("frames", self.frames >= 0, "must be >= 0"),
                              ("kind", self.kind in ("trailer", "ad", "all"), "must be trailer, ad or all")):
            if not ok:
                raise self.invalid(name, why)
