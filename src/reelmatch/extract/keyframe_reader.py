"""The keyframe reader: the last *keyframe* shown before each instant, one frame decoded per instant.

Instants whose keyframes cannot be used (no timestamps, a keyframe that does not
decode) go to ``fallback`` (the exact reader), so they get the exact frame. So
does an instant whose last keyframe the previous instant already took (a GOP
longer than the interval): two instants never collapse onto one frame while the
stream has another frame before the later instant.
"""

from __future__ import annotations

import logging

from reelmatch.extract.seek import EPS, MAX_REORDER, NoTimestamp, seek_points

log = logging.getLogger(__name__)


class KeyframeReader:
    """``frame_before(t)``: ``(time, frame)`` of the last keyframe shown before ``t``."""

    def __init__(self, fallback):
        self.cursor = fallback.cursor
        self.fallback = fallback
        self.general = fallback.general
        self._last_key = None  # pts of the keyframe the previous instant took
        #: instants that took their exact frame because their keyframe was already taken
        self.collapsed = 0

    def frame_before(self, t: float):
        got = self._keyframe_before(t)
        if got == "taken":
            self.collapsed += 1
            got = None
        return got if got is not None else self.fallback.frame_before(t)

    def _keyframe_before(self, t: float):
        """``(time, frame)`` of the last keyframe shown before ``t``; decodes that frame only.

        Packets are demuxed (not decoded) from the keyframe before ``t`` until no
        later packet can be shown before ``t``; ``eof`` tells whether the stream
        ended before ``t``. ``None`` when the keyframes cannot be used.
        """
        self.fallback.general.reset()  # the general path, if needed, starts from a seek
        for seek_to in seek_points(t):
            got = self._pass(t, seek_to)
            if got != "overshoot":
                break
        return None if got in ("fail", "overshoot") else got

    def _pass(self, t: float, seek_to: float):
        import av

        c = self.cursor
        cc = c.stream.codec_context
        if not c.seek(seek_to):
            return "fail"
        key = None  # (pts, packet): last keyframe shown before t
        first_key = None
        shown_after = 0
        seen: list[int] = []
        at_end = False
        try:
            for packet, pt, dt in c.timed_packets():
                seen.append(packet.pts)
                if packet.is_keyframe:
                    if first_key is None:
                        first_key = (packet.pts, packet)
                    if pt < t - EPS and (key is None or packet.pts > key[0]):
                        key = (packet.pts, packet)
                if pt >= t - EPS:
                    shown_after += 1
                if (dt is not None and dt >= t - EPS) or shown_after > MAX_REORDER:
                    break
            else:
                at_end = True
        except NoTimestamp:
            return "fail"
        except av.error.FFmpegError as e:
            c.decode_errors += 1
            log.debug("demux error during a keyframe pass: %s", e)
            return "fail"
        if key is None:
            if first_key is None:
                return "fail"
            if seek_to > 0.0:
                return "overshoot"
            key = first_key  # nothing is shown before t: the first keyframe, as the exact rule takes the first frame
        if key[0] == self._last_key:  # the previous instant has this keyframe: take the exact frame
            return "taken"
        c.eof = at_end and shown_after == 0
        if c.eof:
            c.stream_ended(seen)
        cc.skip_frame = "DEFAULT"
        frames = []
        try:
            frames = list(cc.decode(key[1])) + list(cc.decode(None))
        except av.error.FFmpegError as e:
            c.decode_errors += 1
            log.debug("keyframe at %s does not decode: %s", key[0], e)
        cc.flush_buffers()
        c.frames_decoded += len(frames)
        for f in frames:
            if f.pts == key[0]:
                self._last_key = key[0]
                return c.time_of(key[0]), f
        c.eof = False
        return "fail"

