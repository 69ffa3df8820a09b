"""Frames: seek-based sampling with PyAV, one reader per sampling strategy.

Decoding seeks to the keyframe before each sample instant and decodes forward
only to that instant (never the whole window); consecutive instants inside one
GOP share the decode. The readers share one seek/demux helper
(:class:`~reelmatch.extract.seek.StreamCursor`) and fall back on each other:

* :class:`~reelmatch.extract.planned_reader.PlannedReader` (``exact``
  sampling): packets are demuxed ahead of the decoder, so the frame taken for an
  instant is known from the packets' timestamps before anything is decoded; the
  decoder skips every non-reference frame except the ones taken and stops at
  the last one (exact);
* :class:`~reelmatch.extract.keyframe_reader.KeyframeReader` (``keyframe``
  sampling): the last keyframe shown before each instant, one frame decoded;
* :class:`~reelmatch.extract.decode_reader.DecodingReader`: the general
  decode-and-look path, for streams without usable timestamps and whatever the
  others cannot place.

The chosen frames then go through the geometry
(:mod:`reelmatch.extract.geometry`, applied by
:class:`~reelmatch.extract.convert.FrameConverter`).
"""

from __future__ import annotations

from reelmatch.extract.decode_reader import DecodingReader
from reelmatch.extract.keyframe_reader import KeyframeReader
from reelmatch.extract.planned_reader import PlannedReader
from reelmatch.extract.seek import StreamCursor

__all__ = ["DecodingReader", "KeyframeReader", "PlannedReader", "StreamCursor", "frame_reader"]


def frame_reader(container, stream, t0: float, *, instants=(), sampling: str = "exact",
                 plan_targets: bool = True, allow_skip: bool = True):
    """The reader for ``sampling`` (``"exact"`` or ``"keyframe"``) over ``stream``; ``t0`` is the media start (s).

    ``reader.frame_before(t)`` -> ``(time, frame)`` of the frame taken for
    instant ``t`` (seconds from the media start), or ``None``; ``reader.cursor``
    holds ``eof``, ``last_time``, ``frame_duration`` and the counters.
    ``instants``: the instants that will be asked for, ascending (lets one seek
    serve a run of them). ``plan_targets=False`` or ``allow_skip=False`` leave
    exact sampling to the general path (used by tests to compare the two).
    """
    reader = DecodingReader(StreamCursor(container, stream, t0), allow_skip=allow_skip)
    if plan_targets and allow_skip:
        reader = PlannedReader(reader, instants)
    if sampling == "keyframe":
        reader = KeyframeReader(reader)
    return reader
