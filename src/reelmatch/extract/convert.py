"""Decoded PyAV frames -> ``size x size`` RGB arrays through the geometry chain."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from reelmatch.extract.geometry import geometry_filters


def rotation_of(frame) -> int:
    """Display rotation of a decoded frame in degrees counter-clockwise (0/90/180/270)."""
    try:
        r = frame.rotation
    except Exception:  # noqa: BLE001 - older PyAV or broken side data
        return 0
    if r is None or not math.isfinite(r):
        return 0
    return int(round(r / 90.0)) % 4 * 90


class FrameConverter:
    """Runs decoded frames through the geometry chain (graphs cached per input shape)."""

    def __init__(self, geometry: str, size: int, sar: Fraction | None = None):
        self.geometry = geometry
        self.size = size
        self.sar = sar if sar and sar > 0 else Fraction(1, 1)
        self._graphs: dict = {}

    def __call__(self, frame) -> np.ndarray:
        rotation = rotation_of(frame)
        sar = self.sar
        key = (frame.width, frame.height, frame.format.name, rotation, sar)
        graph = self._graphs.get(key)
        if graph is None:
            graph = self._build(frame, rotation, sar)
            self._graphs[key] = graph
        g, src, sink = graph
        frame.pts = None  # filters here do not need time; avoids non-monotonic pts warnings
        src.push(frame)
        out = sink.pull()
        img = out.to_ndarray()
        if img.shape != (self.size, self.size, 3):  # pragma: no cover - internal invariant
            raise RuntimeError(f"geometry produced {img.shape}, expected {(self.size, self.size, 3)}")
        return img

    def _build(self, frame, rotation: int, sar: Fraction):
        import av  # noqa: F811 - heavy import kept local

        g = av.filter.Graph()
        g.threads = 1  # a few frames per item: slice threads only add CPU (parallelism is across items)
        src = g.add(
            "buffer",
            f"video_size={frame.width}x{frame.height}:pix_fmt={frame.format.name}:time_base=1/1000"
            f":pixel_aspect={sar.numerator}/{sar.denominator}",
        )
        prev = src
        for name, args in geometry_filters(self.geometry, self.size, frame.width, frame.height, sar, rotation):
            node = g.add(name, args) if args else g.add(name)
            prev.link_to(node)
            prev = node
        sink = g.add("buffersink")
        prev.link_to(sink)
        g.configure()
        return g, src, sink


def stream_sar(stream) -> Fraction:
    """Sample (pixel) aspect ratio of a video stream (1 when unknown or absurd)."""
    sar = None
    for get in (lambda: stream.sample_aspect_ratio, lambda: stream.codec_context.sample_aspect_ratio):
        try:
            sar = get()
        except Exception:  # noqa: BLE001
            sar = None
        if sar:
            break
    if not sar:
        return Fraction(1, 1)
    sar = Fraction(sar.numerator, sar.denominator)
    return sar if Fraction(1, 10) <= sar <= 10 else Fraction(1, 1)
