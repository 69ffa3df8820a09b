"""The target-aware reader: know which packets are taken before decoding them.

Packets are demuxed ahead of the decoder, so the frame taken for an instant is
known from the packets' timestamps before anything is decoded: the decoder then
skips every non-reference frame except the ones taken, and stops at the last
one (exact). Instants it cannot place go to the general
:class:`~reelmatch.extract.decode_reader.DecodingReader`.
"""

from __future__ import annotations

import logging

from reelmatch.extract.decode_reader import DecodingReader
from reelmatch.extract.seek import EPS, MAX_REORDER, SEEK_GAP, NoTimestamp, seek_points

log = logging.getLogger(__name__)


class PlannedReader:
    """The last frame shown before each of ``instants`` (ascending; the ones the caller will ask for).

    One seek serves a run of instants with no keyframe between them. ``fallback``
    answers the instants this reader leaves (``planned_hits`` counts its own).
    """

    def __init__(self, fallback: DecodingReader, instants=()):
        self.cursor = fallback.cursor
        self.fallback = fallback
        self.general = fallback.general
        self.instants = sorted(float(t) for t in instants)
        #: instant -> (time, frame, at end of stream) found ahead of being asked
        self._planned: dict[float, tuple[float, object, bool]] = {}
        self._unplannable: set[float] = set()
        self.planned_hits = 0

    def frame_before(self, t: float):
        """``(time, frame)`` of the last frame shown before ``t``, or ``None`` when nothing decodes."""
        if t not in self._unplannable:
            if t not in self._planned:
                self._run_planned(t)
            got = self._planned.pop(t, None)
            if got is not None:
                self.planned_hits += 1
                ft, frame, eof = got
                self.cursor.eof = eof
                if eof:
                    self.cursor.last_time = ft
                return ft, frame
            self._unplannable.add(t)
        return self.fallback.frame_before(t)

    def _session(self, t: float) -> list[float]:
        """``t`` and the following expected instants one seek should serve (no keyframe between them)."""
        c = self.cursor
        run = [t]
        for u in (u for u in self.instants if u > t + EPS and u not in self._planned):
            if c.keyframes:
                if c.keyframe_between(run[-1], u):
                    break
            elif u - run[-1] > SEEK_GAP:
                break
            run.append(u)
        return run

    def _run_planned(self, t: float) -> None:
        """Decode, from one seek, exactly the frames taken for ``t`` and the instants after it in its run.

        Packets are demuxed ahead of the decoder (cheap) so that the frame taken
        for each instant, the packet with the largest presentation time before it,
        is known before it is decoded: every other packet is decoded with
        non-reference frames skipped (exact: frames that others reference are
        still decoded), and nothing after the last frame taken is decoded. An
        instant is settled once a packet's decoding time reaches it (no later
        packet can be presented before it), or at the end of the stream. Anything
        unusual (no timestamps, leading pictures of an open GOP, broken
        timestamps, a decode error on a frame taken) leaves the instant to the
        general path, which decodes and looks.
        """
        run = self._session(t)
        for start in seek_points(run[0]):
            if _Pass(self.cursor, run).run(start, self._planned) != "overshoot":
                break
        self._unplannable.update(u for u in run if u not in self._planned)
        self.fallback.reset()  # the general path starts from a fresh seek


class _Pass:
    """One seek and the packets after it, for a run of instants ``run``."""

    def __init__(self, cursor, run: list[float]):
        self.c = cursor
        self.cc = cursor.stream.codec_context
        self.run_ = run
        m = len(run)
        self.m = m
        self.best: list = [None] * m  # per instant: (pts, packet) presented last before it so far
        self.settled = 0  # instants whose frame is known
        self.shown_after = [0] * m  # per instant: packets seen that are shown at or after it
        self.seen: list[int] = []  # presentation timestamps of every packet
        self.queue: list = []  # demuxed, not yet decoded: [pts, packet]
        self.wanted: dict[int, float] = {}  # pts of frames taken -> time
        self.out: dict[int, object] = {}
        self.skipping = None

    def run(self, seek_to: float, planned: dict) -> str:
        """Fill ``planned[instant] = (time, frame, at end)``; ``"ok"``, ``"fail"`` or ``"overshoot"``."""
        import av

        c, cc, run, m = self.c, self.cc, self.run_, self.m
        if not c.seek(seek_to):
            return "fail"  # unseekable: the general path copes
        ended = [False] * m
        status, at_end = "ok", False
        try:
            status, at_end = self._demux()
        except NoTimestamp:
            status = "fail"
        except av.error.FFmpegError as e:
            c.decode_errors += 1
            log.debug("demux error during a planned pass: %s", e)
        if status != "ok":  # nothing is taken from this pass: drop what the decoder holds
            cc.flush_buffers()
            cc.skip_frame = "DEFAULT"
            return status
        if at_end:
            # every packet was seen: every instant is settled; past the last frame
            # the last frame is taken and the caller told the stream ended there
            c.stream_ended(self.seen)
            ended = [self.shown_after[i] == 0 for i in range(m)]
            self.settled = m
        # settled instants: decode what is left up to their last frame, then drain
        self._release(True)
        try:
            for f in cc.decode(None):
                c.frames_decoded += 1
                if f.pts in self.wanted:
                    self.out[f.pts] = f
        except av.error.FFmpegError as e:
            c.decode_errors += 1
            log.debug("decode error while draining: %s", e)
        cc.flush_buffers()
        cc.skip_frame = "DEFAULT"
        best, out, wanted = self.best, self.out, self.wanted
        for i in range(self.settled):
            if best[i] is not None and best[i][0] in out:
                planned[run[i]] = (wanted[best[i][0]], out[best[i][0]], ended[i])
        return status

    def _demux(self) -> tuple[str, bool]:
        """Demux until every instant is settled; ``(status, reached the end of the stream)``."""
        run, m, best, shown_after = self.run_, self.m, self.best, self.shown_after
        key_t = None
        for packet, pt, dt in self.c.timed_packets():
            if dt is not None and pt < dt - EPS:
                return "fail", False  # presented before it is decoded: broken timestamps
            if key_t is None:
                if not packet.is_keyframe:
                    return "fail", False
                if pt >= run[0] - EPS:
                    return "overshoot", False
                key_t = pt
            elif pt < key_t - EPS:
                return "fail", False  # leading pictures (open GOP): the general path decides
            for i in range(self.settled, m):
                if pt >= run[i] - EPS:
                    shown_after[i] += 1
            # settled: no later packet can be shown before the instant, because
            # decoding time reached it or (no decoding times, e.g. Matroska) more
            # frames shown after it were seen than a decoder may hold back
            while self.settled < m and ((dt is not None and dt >= run[self.settled] - EPS)
                                        or shown_after[self.settled] > MAX_REORDER):
                self.settled += 1
            if self.settled == m:
                return "ok", False
            for i in range(self.settled, m):
                if pt < run[i] - EPS and (best[i] is None or packet.pts > best[i][0]):
                    best[i] = (packet.pts, packet)
            self.queue.append([packet.pts, packet])
            self.seen.append(packet.pts)
            self._release(False)
        return "ok", True

    def _decode(self, packet, take: bool) -> None:
        import av

        mode = "DEFAULT" if take else "NONREF"
        if mode != self.skipping:
            self.cc.skip_frame = mode
            self.skipping = mode
        try:
            frames = self.cc.decode(packet)
        except av.error.FFmpegError as e:
            self.c.decode_errors += 1
            log.debug("decode error at packet %s: %s", getattr(packet, "pts", None), e)
            return
        for f in frames:
            self.c.frames_decoded += 1
            if f.pts in self.wanted:
                self.out[f.pts] = f

    def _is_best(self, pts, upto: int) -> bool:
        return any(b is not None and b[0] == pts for b in self.best[:upto])

    def _release(self, final: bool) -> None:
        """Decode from the head of the queue every packet whose role is known."""
        queue, settled = self.queue, self.settled
        while queue:
            pts, packet = queue[0]
            if self._is_best(pts, settled):
                self.wanted[pts] = self.c.time_of(pts)
                self._decode(packet, True)
            elif not final and self._is_best(pts, self.m):
                return  # may still be a frame taken: wait
            elif final and not any(self._is_best(q[0], settled) for q in queue[1:]):
                return  # no frame taken after this: nothing more to decode
            else:
                self._decode(packet, False)
            queue.pop(0)
