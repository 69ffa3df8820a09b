"""Frames: seek-based sampling with PyAV and the two frame geometries.

Decoding seeks to the keyframe before each sample instant and decodes forward
only to that instant (never the whole window); consecutive instants inside one
GOP share the decode. Packets are demuxed ahead of the decoder, so the frame
taken for an instant is known from the packets' timestamps before anything is
decoded: the decoder then skips every non-reference frame except the ones
taken, and stops at the last one (exact; the general decode-and-look path
remains for streams without usable timestamps). Geometry runs through libavfilter on the few chosen frames:

* ``recipe``: ``scale=560:-1,crop=224:224`` exactly as the recipe's ffmpeg call
  (display rotation applied first, as the ffmpeg CLI does; sample aspect ratio
  ignored, as ``scale=560:-1`` does). For other sizes the scale width is
  ``2.5 * size``.
* ``fit`` (default): rotation and sample aspect ratio applied, then the short
  side scaled to ``size`` and the centre cropped to a square. Beyond 2:1
  (ultra-wide, tall strips) a square crop would lose more than half the picture,
  so the crop keeps the central half of the long side and is letterboxed (black
  bars) into the square. Tiny videos are scaled up. Works for every shape.
"""

from __future__ import annotations

import logging
import math
from fractions import Fraction

import numpy as np

from reelmatch.errors import InputError

log = logging.getLogger(__name__)

#: largest declared frame (pixels) we agree to decode: 8K UHD is 33 Mpx
MAX_PIXELS = 40_000_000
#: longest side we agree to decode
MAX_SIDE = 16384
#: decode errors tolerated per sample instant before giving up on the file
MAX_DECODE_ERRORS = 32
#: frames presented more than this before a sample instant are decoded with
#: non-reference frames skipped (they cannot be the frame taken): 4 frame
#: durations of the stream's nominal rate, within these bounds (s)
SKIP_MARGIN = (0.05, 0.5)
#: without a keyframe index, keep decoding forward (instead of seeking) when the
#: next instant is at most this far ahead (s)
SEEK_GAP = 2.0
#: most frames a decoder may hold back for reordering (the H.264/HEVC picture buffer)
MAX_REORDER = 16
#: when the keyframe found for an instant is shown after it, seek this much further back (s), then to 0
SEEK_BACKOFF = (2.0, 10.0)
#: the fit geometry never crops away more than 1 - 1/FIT_MAX_ASPECT of the long side
FIT_MAX_ASPECT = 2.0


def check_frame_size(width: int, height: int, where: str = "video stream") -> None:
    """Reject absurd frame sizes before anything is allocated."""
    if not width or not height or width <= 0 or height <= 0:
        raise InputError(f"{where} declares no frame size ({width}x{height})")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise InputError(
            f"{where} declares a {width}x{height} frame, larger than the {MAX_PIXELS // 1_000_000} Mpx limit"
        )


def rotation_of(frame) -> int:
    """Display rotation of a decoded frame in degrees counter-clockwise (0/90/180/270)."""
    try:
        r = frame.rotation
    except Exception:  # noqa: BLE001 - older PyAV or broken side data
        return 0
    if r is None or not math.isfinite(r):
        return 0
    return int(round(r / 90.0)) % 4 * 90


def _rotation_filters(rotation: int) -> list[tuple[str, str]]:
    # rotation is counter-clockwise (av_display_rotation_get); the ffmpeg CLI
    # turns 90 into transpose=cclock, 270 (= -90) into transpose=clock
    if rotation == 90:
        return [("transpose", "cclock")]
    if rotation == 180:
        return [("hflip", ""), ("vflip", "")]
    if rotation == 270:
        return [("transpose", "clock")]
    return []


def fit_box(width: int, height: int, size: int, max_loss: float = FIT_MAX_ASPECT):
    """Geometry of the fit mode for a display frame of ``width x height``.

    Returns ``(scaled_w, scaled_h, crop_w, crop_h)``: scale to ``scaled``, take the
    centred ``crop`` region, pad it (centred, black) to ``size x size``. The crop
    is square while that keeps at least ``1/max_loss`` of the long side (aspect
    up to 2:1); beyond, it keeps exactly that fraction and is letterboxed, so no
    video loses more than half its picture and the geometry varies continuously.
    """
    aspect = width / height
    long_ratio = max(aspect, 1 / aspect)
    crop_ratio = max(1.0, long_ratio / max_loss)  # long side : short side of the kept region
    short = max(int(round(size / crop_ratio)), 1)
    if aspect >= 1:
        crop_w, crop_h = size, short
        scale = crop_h / height
    else:
        crop_w, crop_h = short, size
        scale = crop_w / width
    scaled_w = max(int(round(width * scale)), crop_w)
    scaled_h = max(int(round(height * scale)), crop_h)
    return scaled_w, scaled_h, crop_w, crop_h


def geometry_filters(geometry: str, size: int, width: int, height: int, sar: Fraction, rotation: int):
    """The libavfilter chain ``[(name, args)]`` turning a decoded frame into ``size x size`` RGB."""
    chain = _rotation_filters(rotation)
    if rotation in (90, 270):
        width, height = height, width
        sar = 1 / sar if sar else sar
    if geometry == "recipe":
        sw = int(round(size * 2.5))
        chain += [("scale", f"{sw}:-1"), ("crop", f"{size}:{size}")]
    else:
        dw = width * float(sar) if sar and sar > 0 else float(width)
        scaled_w, scaled_h, crop_w, crop_h = fit_box(max(int(round(dw)), 1), height, size)
        chain += [("scale", f"{scaled_w}:{scaled_h}:flags=area"), ("setsar", "1")]
        if (scaled_w, scaled_h) != (crop_w, crop_h):
            chain.append(("crop", f"{crop_w}:{crop_h}:exact=1"))
        if (crop_w, crop_h) != (size, size):
            chain.append(("pad", f"{size}:{size}:(ow-iw)/2:(oh-ih)/2:black"))
    chain.append(("format", "rgb24"))
    return chain


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


def seek_points(t: float):
    """Where to seek for instant ``t``: ``t``, then further back (``SEEK_BACKOFF``), then 0."""
    for back in (0.0, *SEEK_BACKOFF):
        yield max(t - back, 0.0)
        if t - back <= 0.0:
            return
    yield 0.0


class _NoTimestamp(Exception):
    """A packet without a presentation time: only the general path can place it."""


class SeekingReader:
    """Takes, for each instant ``t``, the last frame shown before ``t`` (seconds from the media start).

    Decodes forward from the keyframe before ``t``; uses the stream's index (when
    the container has one) to know whether the next instant is reachable without
    a new seek.
    """

    def __init__(self, container, stream, t0: float, *, allow_skip: bool = True, instants=(), plan_targets: bool = True,
                 keyframes_only: bool = False):
        self.container = container
        self.stream = stream
        self.t0 = t0
        self.tb = stream.time_base
        self._tbf = float(stream.time_base)  # float: Fraction arithmetic per packet is slow
        self.keyframes = _keyframe_times(stream, t0)
        self._frames = None  # generator of (time, frame)
        self._pos = None  # time of the last frame decoded
        self._prev = None  # (time, frame) last frame decoded (not yet consumed)
        self.decode_errors = 0
        self.eof = False
        self.last_time = None  # time of the last frame seen at end of stream
        self.frame_duration = None
        self.frames_decoded = 0
        self.seeks = 0
        #: packets presented before this time may skip non-reference frames
        self.skip_before = None
        rate = stream.average_rate or stream.guessed_rate
        nominal = 4.0 / float(rate) if rate and float(rate) > 0 else SKIP_MARGIN[1]
        self.skip_margin = min(max(nominal, SKIP_MARGIN[0]), SKIP_MARGIN[1])
        self.allow_skip = allow_skip
        #: the instants the caller will ask for (ascending): lets one seek serve a run of them
        self.instants = sorted(float(t) for t in instants)
        self.plan_targets = plan_targets and allow_skip
        #: take the last *keyframe* shown before each instant (one frame decoded per instant)
        self.keyframes_only = keyframes_only
        #: instant -> (time, frame, at end of stream) found by the target-aware path
        self._planned: dict[float, tuple[float, object, bool]] = {}
        self._unplannable: set[float] = set()
        #: instants answered by the target-aware path / by the general path
        self.planned_hits = 0

    # ------------------------------------------------------------------ decode
    def _seek(self, t: float) -> bool:
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

    def _timed_packets(self):
        """``(packet, pt, dt)`` from the demuxer's position until the end of the stream.

        ``pt``/``dt``: presentation/decoding time in seconds from the media start
        (``dt`` None without DTS). Raises :class:`_NoTimestamp` at a packet without PTS.
        """
        tbf, t0 = self._tbf, self.t0
        for packet in self.container.demux(self.stream):
            if packet.pts is None:
                if packet.size == 0:
                    return  # the flush packet at the end of the stream
                raise _NoTimestamp
            yield packet, packet.pts * tbf - t0, (packet.dts * tbf - t0 if packet.dts is not None else None)

    def _stream_ended(self, shown: list[int]) -> None:
        """The stream ended after packets shown at ``shown`` (PTS): its frame duration and last frame time."""
        shown = sorted(shown)
        steps = [b - a for a, b in zip(shown, shown[1:]) if b > a]
        if steps:
            self.frame_duration = min(steps) * self._tbf
        self.last_time = shown[-1] * self._tbf - self.t0

    def _decode_from(self, t: float):
        if not self._seek(t):  # unseekable: decode from the start
            try:
                self.container.seek(0, backward=True)
            except Exception:  # noqa: BLE001
                pass
        self._frames = self._iter_frames()
        self._prev = None
        self.eof = False

    def _iter_frames(self):
        import av

        last_t = None
        cc = self.stream.codec_context
        skipping = False
        for packet in self.container.demux(self.stream):
            if self.skip_before is not None:
                # frames well before the instant cannot be the one taken: the decoder may
                # drop those no other frame references (exact: references are decoded)
                skip = packet.pts is not None and packet.pts * self._tbf - self.t0 < self.skip_before
                if skip != skipping:
                    cc.skip_frame = "NONREF" if skip else "DEFAULT"
                    skipping = skip
            elif skipping:
                cc.skip_frame = "DEFAULT"
                skipping = False
            try:
                frames = packet.decode()
            except av.error.FFmpegError as e:
                self.decode_errors += 1
                log.debug("decode error at packet %s: %s", packet.pts, e)
                if self.decode_errors > MAX_DECODE_ERRORS * 10:
                    raise InputError(f"too many decode errors ({self.decode_errors}), last: {e}") from e
                continue
            for f in frames:
                self.frames_decoded += 1
                if f.pts is not None:
                    t = f.pts * self._tbf - self.t0
                elif last_t is not None and self.frame_duration:
                    t = last_t + self.frame_duration
                else:
                    continue
                if last_t is not None and t > last_t and (self.frame_duration is None or t - last_t < self.frame_duration):
                    self.frame_duration = t - last_t
                last_t = t
                yield t, f

    def _next(self):
        try:
            return next(self._frames)
        except StopIteration:
            self.eof = True
            return None

    def frame_before(self, t: float):
        """``(time, frame)`` of the last frame shown before ``t``, or ``None`` past the end.

        With ``keyframes_only``, the last keyframe shown before ``t`` (the general
        path's frame when the stream's keyframes cannot be used).
        """
        if self.keyframes_only:
            got = self._keyframe_before(t)
            if got is not None:
                return got
        if self.plan_targets and t not in self._unplannable:
            if t not in self._planned:
                self._run_planned(t)
            got = self._planned.pop(t, None)
            if got is not None:
                self.planned_hits += 1
                ft, frame, self.eof = got
                if self.eof:
                    self.last_time = ft
                return ft, frame
            self._unplannable.add(t)
        margin = self.skip_margin
        self.skip_before = t - margin if self.allow_skip else None
        got = self._frame_before(t)
        if got is not None and self.skip_before is not None and got[0] < self.skip_before:
            # a gap longer than the margin before t: the frame taken may have been
            # skipped; decode this instant again without skipping
            self.skip_before = None
            self._decode_from(t)
            got = self._frame_before(t)
        self.skip_before = None
        return got

    def _frame_before(self, t: float):
        if self._frames is None or self._needs_seek(t):
            self._decode_from(t)
        overshoot_retries = 0
        while True:
            nxt = self._next()
            if nxt is None:
                if self._prev is not None:
                    self.last_time = self._prev[0]
                    chosen = self._prev
                    # keep it: a later instant past the end also maps to None via the caller's end check
                    return chosen
                return None
            ft, frame = nxt
            self._pos = ft
            if ft < t - 1e-9:
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

    # ------------------------------------------------- target-aware decoding
    def _session(self, t: float) -> list[float]:
        """``t`` and the following expected instants one seek should serve (no keyframe between them)."""
        import bisect

        run = [t]
        later = [u for u in self.instants if u > t + 1e-9 and u not in self._planned]
        for u in later:
            prev = run[-1]
            if self.keyframes:
                i = bisect.bisect_right(self.keyframes, u) - 1
                if i >= 0 and self.keyframes[i] > prev + 1e-9:
                    break
            elif u - prev > SEEK_GAP:
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
            if self._planned_pass(run, start) != "overshoot":
                break
        self._unplannable.update(u for u in run if u not in self._planned)
        # the general path starts from a fresh seek
        self._frames = None
        self._prev = None
        self._pos = None

    def _planned_pass(self, run: list[float], seek_to: float) -> str:
        import av

        tbf, t0 = self._tbf, self.t0
        cc = self.stream.codec_context
        if not self._seek(seek_to):
            return "fail"  # unseekable: the general path copes
        m = len(run)
        best: list = [None] * m  # per instant: (pts, packet) presented last before it so far
        settled = 0  # instants whose frame is known
        shown_after = [0] * m  # per instant: packets seen that are shown at or after it
        seen: list[int] = []  # presentation timestamps of every packet
        ended = [False] * m
        queue: list = []  # demuxed, not yet decoded: [pts, packet]
        wanted: dict[int, float] = {}  # pts of frames taken -> time
        out: dict[int, object] = {}
        key_t = None
        status = "ok"
        skipping = None

        def decode(packet, take: bool) -> None:
            nonlocal skipping
            mode = "DEFAULT" if take else "NONREF"
            if mode != skipping:
                cc.skip_frame = mode
                skipping = mode
            try:
                frames = cc.decode(packet)
            except av.error.FFmpegError as e:
                self.decode_errors += 1
                log.debug("decode error at packet %s: %s", getattr(packet, "pts", None), e)
                return
            for f in frames:
                self.frames_decoded += 1
                if f.pts in wanted:
                    out[f.pts] = f

        def is_best(pts, upto) -> bool:
            return any(b is not None and b[0] == pts for b in best[:upto])

        def release(final: bool) -> None:
            # decode from the head of the queue every packet whose role is known
            while queue:
                pts, packet = queue[0]
                if is_best(pts, settled):
                    wanted[pts] = pts * tbf - t0
                    decode(packet, True)
                elif not final and is_best(pts, m):
                    return  # may still be a frame taken: wait
                elif final and not any(is_best(q[0], settled) for q in queue[1:]):
                    return  # no frame taken after this: nothing more to decode
                else:
                    decode(packet, False)
                queue.pop(0)

        at_end = False
        try:
            for packet, pt, dt in self._timed_packets():
                if dt is not None and pt < dt - 1e-9:
                    status = "fail"  # presented before it is decoded: broken timestamps
                    break
                if key_t is None:
                    if not packet.is_keyframe:
                        status = "fail"
                        break
                    if pt >= run[0] - 1e-9:
                        status = "overshoot"
                        break
                    key_t = pt
                elif pt < key_t - 1e-9:
                    status = "fail"  # leading pictures (open GOP): the general path decides
                    break
                for i in range(settled, m):
                    if pt >= run[i] - 1e-9:
                        shown_after[i] += 1
                # settled: no later packet can be shown before the instant, because
                # decoding time reached it or (no decoding times, e.g. Matroska) more
                # frames shown after it were seen than a decoder may hold back
                while settled < m and ((dt is not None and dt >= run[settled] - 1e-9)
                                       or shown_after[settled] > MAX_REORDER):
                    settled += 1
                if settled == m:
                    break
                for i in range(settled, m):
                    if pt < run[i] - 1e-9 and (best[i] is None or packet.pts > best[i][0]):
                        best[i] = (packet.pts, packet)
                queue.append([packet.pts, packet])
                seen.append(packet.pts)
                release(False)
            else:
                at_end = True
        except _NoTimestamp:
            status = "fail"
        except av.error.FFmpegError as e:
            self.decode_errors += 1
            log.debug("demux error during a planned pass: %s", e)
        if status != "ok":  # nothing is taken from this pass: drop what the decoder holds
            cc.flush_buffers()
            cc.skip_frame = "DEFAULT"
            return status
        if at_end:
            # every packet was seen: every instant is settled; past the last frame
            # the last frame is taken and the caller told the stream ended there
            self._stream_ended(seen)
            ended = [shown_after[i] == 0 for i in range(m)]
            settled = m
        # settled instants: decode what is left up to their last frame, then drain
        release(True)
        try:
            for f in cc.decode(None):
                self.frames_decoded += 1
                if f.pts in wanted:
                    out[f.pts] = f
        except av.error.FFmpegError as e:
            self.decode_errors += 1
            log.debug("decode error while draining: %s", e)
        cc.flush_buffers()
        cc.skip_frame = "DEFAULT"
        for i in range(settled):
            if best[i] is not None and best[i][0] in out:
                self._planned[run[i]] = (wanted[best[i][0]], out[best[i][0]], ended[i])
        return status

    # ------------------------------------------------------ keyframe sampling
    def _keyframe_before(self, t: float):
        """``(time, frame)`` of the last keyframe shown before ``t``; decodes that frame only.

        Packets are demuxed (not decoded) from the keyframe before ``t`` until no
        later packet can be shown before ``t``; ``eof`` tells whether the stream
        ended before ``t``. ``None`` when the keyframes cannot be used (no
        timestamps, a keyframe that does not decode).
        """
        self._frames = self._prev = self._pos = None  # the general path, if needed, starts from a seek
        for seek_to in seek_points(t):
            got = self._keyframe_pass(t, seek_to)
            if got != "overshoot":
                break
        return None if got in ("fail", "overshoot") else got

    def _keyframe_pass(self, t: float, seek_to: float):
        import av

        tbf, t0 = self._tbf, self.t0
        cc = self.stream.codec_context
        if not self._seek(seek_to):
            return "fail"
        key = None  # (pts, packet): last keyframe shown before t
        first_key = None
        shown_after = 0
        seen: list[int] = []
        at_end = False
        try:
            for packet, pt, dt in self._timed_packets():
                seen.append(packet.pts)
                if packet.is_keyframe:
                    if first_key is None:
                        first_key = (packet.pts, packet)
                    if pt < t - 1e-9 and (key is None or packet.pts > key[0]):
                        key = (packet.pts, packet)
                if pt >= t - 1e-9:
                    shown_after += 1
                if (dt is not None and dt >= t - 1e-9) or shown_after > MAX_REORDER:
                    break
            else:
                at_end = True
        except _NoTimestamp:
            return "fail"
        except av.error.FFmpegError as e:
            self.decode_errors += 1
            log.debug("demux error during a keyframe pass: %s", e)
            return "fail"
        if key is None:
            if first_key is None:
                return "fail"
            if seek_to > 0.0:
                return "overshoot"
            key = first_key  # nothing is shown before t: the first keyframe, as the exact rule takes the first frame
        self.eof = at_end and shown_after == 0
        if self.eof:
            self._stream_ended(seen)
        cc.skip_frame = "DEFAULT"
        frames = []
        try:
            frames = list(cc.decode(key[1])) + list(cc.decode(None))
        except av.error.FFmpegError as e:
            self.decode_errors += 1
            log.debug("keyframe at %s does not decode: %s", key[0], e)
        cc.flush_buffers()
        self.frames_decoded += len(frames)
        for f in frames:
            if f.pts == key[0]:
                return key[0] * tbf - t0, f
        self.eof = False
        return "fail"

    def _needs_seek(self, t: float) -> bool:
        if self.eof:
            return True
        if self._pos is None:
            return True
        if self._prev is not None and self._prev[0] >= t:
            return True
        if self._pos >= t:
            return True
        if self.keyframes:
            # a keyframe between here and t: seeking there is cheaper than decoding on
            import bisect

            i = bisect.bisect_right(self.keyframes, t) - 1
            return i >= 0 and self.keyframes[i] > self._pos + 1e-9
        return t - self._pos > SEEK_GAP


def _keyframe_times(stream, t0: float) -> list[float]:
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
