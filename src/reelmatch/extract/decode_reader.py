"""The general reader: decode forward from a seek and look at each frame's time.

Works for every stream (no timestamps on packets, broken timestamps, open
GOPs); the other readers fall back to it for the instants they cannot place.
"""

from __future__ import annotations

import logging

from reelmatch.errors import InputError
from reelmatch.extract.seek import EPS, MAX_DECODE_ERRORS, SEEK_BACKOFF, SEEK_GAP, StreamCursor

log = logging.getLogger(__name__)

#: frames presented more than this before a sample instant are decoded with
#: non-reference frames skipped (they cannot be the frame taken): 4 frame
#: durations of the stream's nominal rate, within these bounds (s)
SKIP_MARGIN = (0.05, 0.5)


class DecodingReader:
    """Takes, for each instant ``t``, the last frame shown before ``t`` by decoding and looking.

    Decodes forward from the keyframe before ``t``; uses the stream's index (when
    the container has one) to know whether the next instant is reachable without
    a new seek. ``allow_skip``: frames well before ``t`` are decoded with
    non-reference frames skipped (exact: a gap longer than the margin is decoded
    again without skipping).
    """

    def __init__(self, cursor: StreamCursor, *, allow_skip: bool = True):
        self.cursor = cursor
        self.allow_skip = allow_skip
        self.general = self  # the end of every fallback chain
        stream = cursor.stream
        rate = stream.average_rate or stream.guessed_rate
        nominal = 4.0 / float(rate) if rate and float(rate) > 0 else SKIP_MARGIN[1]
        self.skip_margin = min(max(nominal, SKIP_MARGIN[0]), SKIP_MARGIN[1])
        #: packets presented before this time may skip non-reference frames
        self.skip_before = None
        self.reset()

    def reset(self) -> None:
        """Forget the decode position: the next instant starts from a fresh seek."""
        self._frames = None  # generator of (time, frame)
        self._pos = None  # time of the last frame decoded
        self._prev = None  # (time, frame) last frame decoded (not yet consumed)

    def frame_before(self, t: float):
        """``(time, frame)`` of the last frame shown before ``t``, or ``None`` when nothing decodes."""
        self.skip_before = t - self.skip_margin if self.allow_skip else None
        got = self._frame_before(t)
        if got is not None and self.skip_before is not None and got[0] < self.skip_before:
            # a gap longer than the margin before t: the frame taken may have been
            # skipped; decode this instant again without skipping
            self.skip_before = None
            self._decode_from(t)
            got = self._frame_before(t)
        self.skip_before = None
        return got

    # ------------------------------------------------------------------ decode
    def _decode_from(self, t: float) -> None:
        c = self.cursor
        if not c.seek(t):  # unseekable: decode from the start
            try:
                c.container.seek(0, backward=True)
            except Exception:  # noqa: BLE001
                pass
        self._frames = self._iter_frames()
        self._prev = None
        c.eof = False

    def _iter_frames(self):
        import av

        c = self.cursor
        tbf, t0 = c.tbf, c.t0
        last_t = None
        cc = c.stream.codec_context
        skipping = False
        for packet in c.packets():
            if self.skip_before is not None:
                # frames well before the instant cannot be the one taken: the decoder may
                # drop those no other frame references (exact: references are decoded)
                skip = packet.pts is not None and packet.pts * tbf - t0 < self.skip_before
                if skip != skipping:
                    cc.skip_frame = "NONREF" if skip else "DEFAULT"
                    skipping = skip
            elif skipping:
                cc.skip_frame = "DEFAULT"
                skipping = False
            try:
                frames = packet.decode()
            except av.error.FFmpegError as e:
                c.decode_errors += 1
                log.debug("decode error at packet %s: %s", packet.pts, e)
                if c.decode_errors > MAX_DECODE_ERRORS * 10:
                    raise InputError(f"too many decode errors ({c.decode_errors}), last: {e}") from e
                continue
            for f in frames:
                c.frames_decoded += 1
                if f.pts is not None:
                    ft = f.pts * tbf - t0
                elif last_t is not None and c.frame_duration:
                    ft = last_t + c.frame_duration
                else:
                    continue
                if last_t is not None and ft > last_t and (c.frame_duration is None or ft - last_t < c.frame_duration):
                    c.frame_duration = ft - last_t
                last_t = ft
                yield ft, f

    def _next(self):
        try:
            return next(self._frames)
        except StopIteration:
            self.cursor.eof = True
            return None

    def _frame_before(self, t: float):
        if self._frames is None or self._needs_seek(t):
            self._decode_from(t)
        overshoot_retries = 0
        while True:
            nxt = self._next()
            if nxt is None:
                if self._prev is not None:
                    self.cursor.last_time = self._prev[0]
                    # keep it: a later instant past the end also maps to None via the caller's end check
                    return self._prev
                return None
            ft, frame = nxt
            self._pos = ft
            if ft < t - EPS:
                self._prev = nxt
                continue
            if self._prev is None:
                # the seek landed after t (imprecise index): go back further
                if overshoot_retries <= len(SEEK_BACKOFF) and t > 0:
                    overshoot_retries += 1
                    back = (*SEEK_BACKOFF, t)[overshoot_retries - 1]
                    self._decode_from(max(t - back, 0.0))
                    continue
                # nothing precedes t: the first frame is the one shown at t
                self._prev = nxt
                return nxt
            chosen = self._prev
            self._prev = nxt
            return chosen

    def _needs_seek(self, t: float) -> bool:
        c = self.cursor
        if c.eof or self._pos is None:
            return True
        if self._prev is not None and self._prev[0] >= t:
            return True
        if self._pos >= t:
            return True
        if c.keyframes:
            # a keyframe between here and t: seeking there is cheaper than decoding on
            return c.keyframe_between(self._pos, t)
        return t - self._pos > SEEK_GAP
