"""The seek/demux helper the frame readers share: one stream of one open container.

A :class:`StreamCursor` seeks (to the keyframe before an instant, flushing the
decoder), demuxes packets with their times in seconds from the media start, and
keeps what every reader learns about the stream (its end, its frame duration)
and the counters a clip reports (frames decoded, seeks, decode errors). The
readers (:mod:`reelmatch.extract.decode_reader`,
:mod:`~reelmatch.extract.planned_reader`, :mod:`~reelmatch.extract.keyframe_reader`)
hold only their own strategy's state.
"""

from __future__ import annotations

import bisect
import logging

log = logging.getLogger(__name__)

#: decode errors tolerated per sample instant before giving up on the file
MAX_DECODE_ERRORS = 32
#: most frames a decoder may hold back for reordering (the H.264/HEVC picture buffer)
MAX_REORDER = 16
#: when the keyframe found for an instant is shown after it, seek this much further back (s), then to 0
SEEK_BACKOFF = (2.0, 10.0)
#: without a keyframe index, keep decoding forward (instead of seeking) when the
#: next instant is at most this far ahead (s)
SEEK_GAP = 2.0
#: tolerance of time comparisons (s)
EPS = 1e-9


class NoTimestamp(Exception):
    """A packet without a presentation time: only the decode-and-look reader can place it."""


def seek_points(t: float):
    """Where to seek for instant ``t``: ``t``, then further back (``SEEK_BACKOFF``), then 0."""
    for back in (0.0, *SEEK_BACKOFF):
        yield max(t - back, 0.0)
        if t - back <= 0.0:
            return
    yield 0.0


def keyframe_times(stream, t0: float) -> list[float]:
    """Sorted keyframe times from the container index ([] when there is none)."""
    try:
        entries = stream.index_entries
    except Exception:  # noqa: BLE001
        return []
    if not entries or len(entries) < 2:
        return []
    tbf = float(stream.time_base)
    out = []
    for e in entries:
        try:
            if e.is_keyframe:
                out.append(e.timestamp * tbf - t0)
        except Exception:  # noqa: BLE001
            return []
    out.sort()
    return out


class StreamCursor:
    """Seeks and demuxes ``stream`` of ``container``; ``t0`` is the media start (s).

    Shared facts: ``eof`` (the last answer was taken at the end of the stream),
    ``last_time`` (time of the last frame, once the end was seen),
    ``frame_duration`` (shortest step between frames seen); counters
    ``frames_decoded``, ``seeks``, ``decode_errors``.
    """

    def __init__(self, container, stream, t0: float):
        self.container = container
        self.stream = stream
        self.t0 = t0
        self.tb = stream.time_base
        self.tbf = float(stream.time_base)  # float: Fraction arithmetic per packet is slow
        self.keyframes = keyframe_times(stream, t0)
        self.eof = False
        self.last_time = None
        self.frame_duration = None
        self.frames_decoded = 0
        self.seeks = 0
        self.decode_errors = 0

    @property
    def stats(self) -> dict:
        return {"frames_decoded": self.frames_decoded, "seeks": self.seeks, "decode_errors": self.decode_errors}

    def seek(self, t: float) -> bool:
        """Seek to the keyframe before ``t`` and flush the decoder; False if the stream cannot seek."""
        self.seeks += 1
        target = int((t + self.t0) / self.tb) if t > 0 else int(self.t0 / self.tb)
        try:
            self.container.seek(max(target, 0), stream=self.stream, backward=True, any_frame=False)
            ok = True
        except Exception as e:  # noqa: BLE001 - unseekable
            log.debug("seek to %.3f failed: %s", t, e)
            ok = False
        if self.stream.codec_context.is_open:
            self.stream.codec_context.flush_buffers()
        return ok

    def packets(self):
        """Packets from the demuxer's position until the end of the stream (the flush packet included)."""
        return self.container.demux(self.stream)

    def timed_packets(self):
        """``(packet, pt, dt)`` from the demuxer's position until the end of the stream.

        ``pt``/``dt``: presentation/decoding time in seconds from the media start
        (``dt`` None without DTS). Raises :class:`NoTimestamp` at a packet without PTS.
        """
        tbf, t0 = self.tbf, self.t0
        for packet in self.container.demux(self.stream):
            if packet.pts is None:
                if packet.size == 0:
                    return  # the flush packet at the end of the stream
                raise NoTimestamp
            yield packet, packet.pts * tbf - t0, (packet.dts * tbf - t0 if packet.dts is not None else None)

    def time_of(self, pts: int) -> float:
        """Seconds from the media start of a presentation timestamp."""
        return pts * self.tbf - self.t0

    def stream_ended(self, shown: list[int]) -> None:
        """The stream ended after packets shown at ``shown`` (PTS): its frame duration and last frame time."""
        shown = sorted(shown)
        steps = [b - a for a, b in zip(shown, shown[1:]) if b > a]
        if steps:
            self.frame_duration = min(steps) * self.tbf
        self.last_time = shown[-1] * self.tbf - self.t0

    def keyframe_between(self, after: float, t: float) -> bool:
        """Whether the index has a keyframe after ``after`` at or before ``t`` (False without an index)."""
        i = bisect.bisect_right(self.keyframes, t) - 1
        return i >= 0 and self.keyframes[i] > after + EPS
