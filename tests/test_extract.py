"""extract_clip on real generated media: sampling rule, geometry, audio, hostile inputs."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from reelmatch.dataset.clip import Clip
from reelmatch.errors import InputError
from reelmatch.extract import ClipConfig, extract_clip
from reelmatch.extract.timestamps import plan_samples
from reelmatch.samples.media import tone, write_video

from media_cases import counter_frames, encode

# small clips: 4 frames 0.5 s apart from t=0.2 (targets 0.45, 0.95, 1.45, 1.95)
SMALL = ClipConfig(start=0.2, window=2.0, num_frames=4, interval=0.5, size=32, n_mels=16, spec_frames=24, sampling="exact")
HAVE_FFMPEG = shutil.which("ffmpeg") is not None


def reference_frames(path, config):
    """Slow obvious reference: decode every frame, take the last one shown before each target."""
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        t0 = c.start_time / 1e6 if c.start_time is not None else 0.0
        decoded = [(float(f.pts * s.time_base) - t0, f.to_ndarray(format="gray")) for f in c.decode(s)]
        dur = c.duration / 1e6
    plan = plan_samples(config, dur)
    out = []
    for t in plan.targets:
        before = [d for d in decoded if d[0] < t - 1e-9]
        if before:
            out.append(before[-1])
    return out


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("extract_media")
    m = {}
    m["basic"] = write_video(d / "basic.mp4", seconds=2.4, fps=10, frames=counter_frames(64, 64), audio=tone(1000))
    m["silent"] = write_video(d / "silent.mkv", seconds=2.4, fps=10, audio=False)
    m["bframes"] = encode(d / "bframes.mp4", [i / 25 for i in range(60)], gop=12)
    # variable frame rate: irregular gaps, including a 0.6 s still
    vfr_times = [0.0, 0.04, 0.1, 0.13, 0.3, 0.9, 0.95, 1.0, 1.22, 1.5, 1.52, 1.9, 2.0, 2.3, 2.35]
    m["vfr"] = encode(d / "vfr.mkv", vfr_times, gop=5)
    # open GOP: B-frames after an I-frame in decoding order are shown before it
    m["opengop"] = encode(d / "opengop.mp4", [i / 25 for i in range(60)], gop=12, x264_params="open-gop=1:b-pyramid=normal")
    return m


def test_clip_contract_and_recipe_sampling_rule(media):
    clip = extract_clip(media["basic"], SMALL, item_id="x1", title="Basic Movie")
    assert isinstance(clip, Clip) and clip.id == "x1"
    assert clip.frames.shape == (4, 32, 32, 3) and clip.frames.dtype == np.uint8
    assert clip.mask.tolist() == [True, True, True, True]
    # 10 fps: the last frame before 0.45, 0.95, 1.45, 1.95 is at 0.4, 0.9, 1.4, 1.9
    np.testing.assert_allclose(clip.timestamps, [0.4, 0.9, 1.4, 1.9], atol=1e-4)
    assert clip.timestamps.dtype == np.float32
    assert clip.spectrogram.shape == (16, 24) and clip.spectrogram.dtype == np.float32
    assert clip.has_audio and clip.spectrogram.max() > 0.5
    assert clip.split in ("train", "val", "test") and clip.meta["width"] == 64 and clip.meta["title"] == "Basic Movie"


@pytest.mark.parametrize("name,config", [
    ("bframes", ClipConfig(start=0.1, window=2.3, num_frames=6, interval=0.37, size=32, sampling="exact")),   # dense: one GOP, continue decoding
    ("bframes", ClipConfig(start=0.0, window=2.4, num_frames=3, interval=0.8, size=32, sampling="exact")),    # sparse: seek + skip non-ref frames
    ("vfr", ClipConfig(start=0.0, window=2.4, num_frames=8, interval=0.3, size=32, sampling="exact")),        # variable frame rate, a 0.6 s gap
    # keyframes (every 12 frames at 25 fps) exactly at the instants 0.48 and 1.44: the frame taken is the one before
    ("bframes", ClipConfig(start=0.0, window=2.4, num_frames=2, interval=0.96, size=32, sampling="exact")),
    ("opengop", ClipConfig(start=0.0, window=2.4, num_frames=3, interval=0.8, size=32, sampling="exact")),
    ("opengop", ClipConfig(start=0.1, window=2.3, num_frames=6, interval=0.37, size=32, sampling="exact")),
])
def test_frames_match_slow_full_decode_reference(media, name, config):
    clip = extract_clip(media[name], config)
    ref = reference_frames(media[name], config)
    assert clip.num_valid == len(ref) > 0
    for n, (t, grey) in enumerate(ref):
        assert clip.timestamps[n] == pytest.approx(t, abs=1e-4)
        # the left half carries the frame number as a grey level
        assert abs(int(clip.frames[n, :, :8].mean()) - int(grey[:, :16].mean())) <= 3
    assert np.isnan(clip.timestamps[~clip.mask]).all() and not clip.frames[~clip.mask].any()


@pytest.mark.parametrize("name", ["bframes", "vfr", "opengop"])
def test_target_aware_decoding_takes_the_same_frames_as_the_general_path(media, name):
    """The reader's two paths: frames taken known before decoding (fewer frames decoded) vs decode-and-look."""
    import av

    from reelmatch.extract.video import frame_reader

    with av.open(str(media[name])) as c:
        duration = c.duration / 1e6
    configs = [ClipConfig(start=s, window=2.4, num_frames=k, interval=i, size=32, sampling="exact")
               for s, k, i in [(0.0, 3, 0.8), (0.1, 6, 0.37), (0.0, 2, 0.96), (0.3, 12, 0.17), (0.0, 5, 0.5)]]
    for config in configs:
        targets = plan_samples(config, duration).targets
        got = {}
        for planned in (True, False):
            with av.open(str(media[name])) as c:
                reader = frame_reader(c, c.streams.video[0], 0.0, instants=targets, plan_targets=planned)
                frames = [reader.frame_before(t) for t in targets]
                got[planned] = ([(round(t, 6), f.to_ndarray(format="gray")) for t, f in frames], reader)
        (fast, rp), (slow, rs) = got[True], got[False]
        assert [t for t, _ in fast] == [t for t, _ in slow], (name, config)
        for (_, a), (_, b) in zip(fast, slow):
            assert np.array_equal(a, b)
        if name != "opengop":  # open GOPs are left to the general path
            assert rp.planned_hits == len(targets) and not hasattr(rs, "planned_hits")
            assert rp.cursor.frames_decoded <= rs.cursor.frames_decoded


def reference_keyframes(path, config):
    """Slow obvious reference: decode every frame, take the last *keyframe* shown before each target,
    or the last frame before it when the previous target took that keyframe (no two collapse)."""
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        decoded = [(float(f.pts * s.time_base), f.to_ndarray(format="gray"), f.key_frame) for f in c.decode(s)]
        dur = c.duration / 1e6
    out, last_key = [], None
    for t in plan_samples(config, dur).targets:
        key = [d for d in decoded if d[2] and d[0] < t - 1e-9][-1]
        if key[0] == last_key:
            key = [d for d in decoded if d[0] < t - 1e-9][-1]
        else:
            last_key = key[0]
        out.append(key[:2])
    return out


@pytest.mark.parametrize("name,config", [
    ("bframes", ClipConfig(start=0.0, window=2.4, num_frames=4, interval=0.55, size=32, sampling="keyframe")),
    # instants on keyframes (0.48, 1.44): the keyframe before is taken, not the one at the instant
    ("bframes", ClipConfig(start=0.0, window=2.4, num_frames=2, interval=0.96, size=32, sampling="keyframe")),
    ("vfr", ClipConfig(start=0.0, window=2.4, num_frames=8, interval=0.3, size=32, sampling="keyframe")),
])
def test_keyframe_sampling_takes_the_last_keyframe_before_each_instant(media, name, config):
    clip = extract_clip(media[name], config, threads=1)
    ref = reference_keyframes(media[name], config)
    assert clip.num_valid == len(ref) > 0
    for n, (t, grey) in enumerate(ref):
        assert clip.timestamps[n] == pytest.approx(t, abs=1e-4)
        assert abs(int(clip.frames[n, :, :8].mean()) - int(grey[:, :16].mean())) <= 3
    # one frame decoded per instant (unless its keyframe was taken already), fewer than exact sampling decodes
    exact = extract_clip(media[name], ClipConfig(**{**config.__dict__, "sampling": "exact"}), threads=1)
    for n in range(1, clip.num_valid):  # two instants share a frame only when no other frame is before the later one
        if clip.timestamps[n] == clip.timestamps[n - 1]:
            assert exact.timestamps[n] == clip.timestamps[n]
    keys_taken = len({t for t, _ in ref if any(abs(t - k) < 1e-4 for k in _keyframe_times(media[name]))})
    if keys_taken == clip.num_valid:
        assert clip.meta["frames_decoded"] == clip.num_valid < exact.meta["frames_decoded"]


def _keyframe_times(path):
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [float(f.pts * s.time_base) for f in c.decode(s) if f.key_frame]


def test_long_gop_instants_never_collapse_onto_one_keyframe(tmp_path):
    """One keyframe for the whole video: each instant after the first takes its exact frame instead."""
    path = encode(tmp_path / "onegop.mp4", [i / 25 for i in range(75)], gop=300)
    assert len(_keyframe_times(path)) == 1
    config = ClipConfig(start=0.0, window=3.0, num_frames=5, interval=0.6, size=32)
    assert config.sampling == "keyframe"  # the default
    clip = extract_clip(path, config, threads=1)
    exact = extract_clip(path, ClipConfig(**{**config.__dict__, "sampling": "exact"}), threads=1)
    assert clip.num_valid == 5 and len(set(clip.timestamps.tolist())) == 5
    assert clip.timestamps[0] == pytest.approx(0.0)
    np.testing.assert_allclose(clip.timestamps[1:], exact.timestamps[1:], atol=1e-6)
    assert np.array_equal(clip.frames[1:], exact.frames[1:])


def test_keyframe_sampling_pads_short_videos_like_exact_sampling(media):
    cfg = ClipConfig(start=0, window=10, num_frames=8, interval=0.5, size=32)
    for name in ("basic", "bframes"):
        exact = extract_clip(media[name], cfg)
        keys = extract_clip(media[name], ClipConfig(**{**cfg.__dict__, "sampling": "keyframe"}))
        assert keys.mask.tolist() == exact.mask.tolist() and keys.num_valid > 1
        assert (keys.timestamps[keys.mask] <= exact.timestamps[exact.mask] + 1e-6).all()


def test_auto_frame_quality_depends_on_the_frame_size_and_is_recorded(tmp_path):
    """The default quality is chosen by frame size; records and the config keep what was used."""
    from reelmatch.dataset.clip import AUTO_QUALITY, auto_quality
    from reelmatch.dataset.store import clip_from_members, clip_members

    assert ClipConfig().frame_quality == "auto"
    sizes = [8, 32, 64, 65, 96, 160, 224, 448]
    qualities = [ClipConfig(size=s).quality for s in sizes]
    assert qualities == [auto_quality(s) for s in sizes]
    assert qualities == sorted(qualities, reverse=True)  # never lower for smaller frames
    assert ClipConfig(size=64).quality == AUTO_QUALITY[0][1] > ClipConfig(size=224).quality
    assert ClipConfig(size=64, frame_quality=90).quality == 90
    # "auto" is fingerprinted as the quality it stands for (its records are those), and survives a round trip
    assert ClipConfig().fingerprint == ClipConfig(frame_quality=96).fingerprint
    assert ClipConfig(size=64).fingerprint == ClipConfig(size=64, frame_quality=100).fingerprint
    assert ClipConfig(size=64).fingerprint != ClipConfig(size=64, frame_quality=96).fingerprint
    assert ClipConfig(frame_codec="raw").fingerprint == ClipConfig(frame_codec="raw", frame_quality=50).fingerprint
    assert ClipConfig.from_dict(ClipConfig(size=64).to_dict()) == ClipConfig(size=64)
    # a record keeps the quality it was written at; a higher one loses less of a small frame
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:64]
    base = np.stack([(xx * 4) % 256, (yy * 4) % 256, ((xx + yy) * 2) % 256], -1).astype(np.int16)
    frames = np.clip(base[None] + rng.integers(-30, 30, (3, 64, 64, 3)), 0, 255).astype(np.uint8)
    cfg = ClipConfig(num_frames=3, size=64, n_mels=8, spec_frames=12)
    clip = Clip(id="a", frames=frames, mask=np.ones(3, bool), timestamps=np.arange(3, dtype=np.float32),
                spectrogram=np.zeros((8, 12), np.float32), has_audio=False)
    errors = {}
    for q in ("auto", 90):
        members = clip_members(clip, replace(cfg, frame_quality=q))
        doc = json.loads(members["json"])
        assert doc["frame_quality"] == (cfg.quality if q == "auto" else 90)
        errors[q] = np.abs(clip_from_members(members).frames.astype(int) - frames).mean()
    assert errors["auto"] < errors[90]


def test_clip_config_fingerprints_do_not_drift():
    """Clip stores are found by fingerprint: a new field at its default must not move existing ones."""
    # what was the default before keyframe sampling and JPEG frames became it
    old_default = ClipConfig(sampling="exact", frame_codec="raw", stft_hop=0.25, resample_filter_size=32)
    assert old_default.fingerprint == "1b271965e4418cd6"
    assert replace(old_default, frame_quality=50).fingerprint == "1b271965e4418cd6"
    assert ClipConfig.recipe().fingerprint == "0e4d122e50180b02"
    before = {"stft_hop": 0.25, "resample_filter_size": 32, "spectrogram_codec": "float16"}  # before session 9
    assert ClipConfig(frame_quality=95, **before).fingerprint == "36e26996a6f6ff09"  # the q95 stores keep theirs
    assert ClipConfig(frame_quality=96, **before).fingerprint == "a0e082ad69cbad49"  # and the q96 ones (sessions 7-10)
    fps = {ClipConfig().fingerprint, ClipConfig(stft_hop=0.25).fingerprint, ClipConfig(resample_filter_size=32).fingerprint,
           ClipConfig(spectrogram_codec="float16").fingerprint}
    assert len(fps) == 4 and "a0e082ad69cbad49" not in fps  # each log-mel change is recorded
    assert ClipConfig.recipe(**before).fingerprint == ClipConfig.recipe().fingerprint  # no log-mel there
    assert ClipConfig(frame_quality=80).fingerprint != ClipConfig().fingerprint
    # a stored config from before the fields existed reads as what made it
    old = {k: v for k, v in ClipConfig.recipe().to_dict().items()
           if k not in ("sampling", "frame_codec", "frame_quality", "stft_hop", "resample_filter_size",
                        "spectrogram_codec")}
    assert ClipConfig.from_dict({**old, "geometry": "fit", "spectrogram": "logmel"}).fingerprint == "1b271965e4418cd6"
    with pytest.raises(InputError, match="frame_codec"):
        ClipConfig(frame_codec="png")
    for bad in (0, 101, "best", True, 96.0):
        with pytest.raises(InputError, match="frame_quality"):
            ClipConfig(frame_quality=bad)
    with pytest.raises(InputError, match="sampling"):
        ClipConfig(sampling="nearest")
    with pytest.raises(InputError, match="stft_hop"):
        ClipConfig(stft_hop=0)
    with pytest.raises(InputError, match="resample_filter_size"):
        ClipConfig(resample_filter_size=0)


def test_short_video_is_sampled_as_far_as_it_goes_and_padded(media):
    clip = extract_clip(media["basic"], ClipConfig())  # 2.4 s video, recipe timing (5 s start, 12 s apart)
    assert clip.mask.tolist() == [True] + [False] * 9
    assert 0.0 <= clip.timestamps[0] <= 2.4 and np.isnan(clip.timestamps[1:]).all()
    assert not clip.frames[1:].any() and clip.frames[0].any()


def test_no_audio_stream_gives_zeros_and_has_audio_false(media):
    for cfg in (SMALL, ClipConfig.recipe(start=0.2, window=2.0, num_frames=4, interval=0.5, size=32)):
        clip = extract_clip(media["silent"], cfg)
        assert clip.has_audio is False and clip.num_valid == 4
        assert clip.spectrogram.shape == cfg.spectrogram_shape() and not clip.spectrogram.any()


def _stereo_audio_file(path, seconds=3.0, rate=48000):
    """An AAC stereo file (no video): two different tones, a chirp on the right."""
    import av

    from reelmatch.media import open_output

    with open_output(path) as out:
        a = out.add_stream("aac", rate=rate)
        a.layout = "stereo"
        pts = 0
        for start in range(0, int(seconds * rate), 1024):
            t = np.arange(start, start + 1024) / rate
            left = 0.4 * np.sin(2 * np.pi * 440 * t)
            right = 0.3 * np.sin(2 * np.pi * (1000 + 500 * t) * t)
            frame = av.AudioFrame.from_ndarray(np.stack([left, right]).astype(np.float32), format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = rate, pts
            pts += 1024
            for pkt in a.encode(frame):
                out.mux(pkt)
        for pkt in a.encode():
            out.mux(pkt)
    return path


def test_decode_mono_is_frame_by_frame_resampling(tmp_path):
    """The one-graph downmix/resample gives the samples of av.AudioResampler fed frame by frame (slow reference)."""
    import av

    from reelmatch import media
    from reelmatch.extract.audio import decode_mono, iter_audio_frames

    path = _stereo_audio_file(tmp_path / "stereo.mp4")
    for start, end in ((0.0, None), (0.7, 2.2), (1.0, 9.0)):
        with media.open_media(path) as c:
            t0 = media.start_time(c)
            y, first = decode_mono(c, media.audio_stream(c), t0, start, end, 16000)
        with media.open_media(path) as c:
            s = media.audio_stream(c)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
            chunks, ref_first = [], None
            for t, frame in iter_audio_frames(c, s, t0, start, end):
                ref_first = t if ref_first is None else ref_first
                frame.pts = None
                chunks += [o.to_ndarray().reshape(-1) for o in resampler.resample(frame)]
            chunks += [o.to_ndarray().reshape(-1) for o in resampler.resample(None)]
        ref = np.concatenate(chunks)
        skip = int(round((start - ref_first) * 16000))
        ref = ref[max(skip, 0):]
        if end is not None:
            ref = ref[: int(round((end - max(ref_first, start)) * 16000))]
        assert first == pytest.approx(max(ref_first, start))
        assert y.dtype == np.float32 and np.array_equal(y, ref), (start, end, len(y), len(ref))
        assert abs(len(y) - (min(end or 3.0, 3.0) - start) * 16000) < 2048  # the window, not a chunk of it


def test_rfft_rows_is_scipy_rfft():
    from scipy import fft

    from reelmatch.extract import rfft

    x = np.random.default_rng(0).standard_normal((37, 1024)).astype(np.float32)
    got = rfft.rfft_rows(x)
    assert got.dtype == np.complex64 and np.array_equal(got, fft.rfft(x, axis=1))
    assert rfft._pocketfft is not None  # loaded on its own: the worker does not pay for scipy.fft
    with pytest.raises(ValueError, match="float32"):
        rfft.rfft_rows(x.astype(np.float64))


@pytest.mark.parametrize("hop", [256, 512, 100])
def test_chunked_mel_power_is_the_whole_array_expression(hop):
    """The log-mel's chunked STFT gives the values of the obvious whole-array one (slow reference)."""
    from reelmatch.extract import audio

    rng = np.random.default_rng(1)
    for n in (300, 1024, 16000 * 3 + 123, audio.STFT_ROWS * hop + 5000):
        y = (0.3 * rng.standard_normal(n)).astype(np.float32)
        fb = audio.mel_filterbank(16000, 1024, 64)
        ref = fb @ audio.power_spectrogram(y, 1024, hop)
        got = audio.mel_power(y, 1024, hop, fb)
        assert got.shape == ref.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-9 * ref.max())


def test_stft_hop_halves_the_stft_and_keeps_the_log_mel_close(tmp_path):
    from reelmatch.extract.audio import logmel, stft_params

    assert stft_params(16000) == (1024, 256) and stft_params(16000, 0.5) == (1024, 512)
    t = np.arange(16000 * 20) / 16000
    y = (0.3 * np.sin(2 * np.pi * (300 + 40 * t) * t) * (0.6 + 0.4 * np.sin(t))).astype(np.float32)
    fine, coarse = logmel(y, 16000, 64, 128), logmel(y, 16000, 64, 128, hop=0.5)
    assert coarse.shape == fine.shape and np.abs(coarse - fine).max() < 0.05
    p = write_video(tmp_path / "tone.mp4", seconds=2, audio=tone(1000, 0.5), sample_rate=16000)
    a = extract_clip(p, SMALL)
    b = extract_clip(p, ClipConfig(**{**SMALL.__dict__, "stft_hop": 0.25}))
    assert not np.array_equal(a.spectrogram, b.spectrogram) and np.abs(a.spectrogram - b.spectrogram).max() < 0.1


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".avi"])
def test_audio_demux_with_the_video_discarded_gives_the_same_samples(tmp_path, monkeypatch, suffix):
    import contextlib

    from reelmatch import media
    from reelmatch.extract import audio

    p = write_video(tmp_path / f"av{suffix}", seconds=3, fps=10, frames=counter_frames(64, 64), audio=tone(700))
    got = []
    for discard in (True, False):
        if not discard:
            monkeypatch.setattr(audio, "only_stream", lambda c, s: contextlib.nullcontext())
        with media.open_media(p) as c:
            got.append(audio.decode_mono(c, media.audio_stream(c), media.start_time(c), 0.4, 2.6, 16000))
    assert len(got[0][0]) > 16000 and got[0][1] == got[1][1] and np.array_equal(got[0][0], got[1][0])


def test_shorter_resampling_filter_gives_nearly_the_same_audio(tmp_path):
    from reelmatch import media
    from reelmatch.extract.audio import decode_mono, logmel

    path = _stereo_audio_file(tmp_path / "stereo.mp4")
    got = {}
    for size in (32, 16):
        with media.open_media(path) as c:
            got[size] = decode_mono(c, media.audio_stream(c), media.start_time(c), 0.2, 2.5, 16000, filter_size=size)
    (a, fa), (b, fb) = got[32], got[16]
    assert fa == fb and len(a) == len(b) and not np.array_equal(a, b)
    assert np.abs(a - b).max() < 0.02 * np.abs(a).max()
    assert np.abs(logmel(a, 16000, 32, 64) - logmel(b, 16000, 32, 64)).max() < 0.05


def test_logmel_matches_tone_frequency(tmp_path):
    from reelmatch.extract.audio import hz_to_mel

    p = write_video(tmp_path / "tone.mp4", seconds=2, audio=tone(2000, 0.5), sample_rate=16000)
    clip = extract_clip(p, SMALL)
    band = int(np.argmax(clip.spectrogram.mean(axis=1)))
    mels = np.linspace(0, hz_to_mel(8000), 16 + 2)
    assert mels[band] <= hz_to_mel(2000) <= mels[band + 2]
    assert clip.meta["audio_seconds"] == pytest.approx(1.8, abs=0.05)


# ----------------------------------------------------------- geometry
def marker_frames(width, height):
    def frame(i, t):
        img = np.full((height, width, 3), 90, np.uint8)
        img[: max(height // 4, 1), : max(width // 4, 1)] = (255, 0, 0)  # red top-left
        return img

    return frame


def red_centroid(img):
    red = (img[..., 0] > 180) & (img[..., 1] < 80) & (img[..., 2] < 80)
    ys, xs = np.nonzero(red)
    return (ys.mean() / img.shape[0], xs.mean() / img.shape[1]) if len(ys) else None


@pytest.mark.parametrize("rotate,corner", [(None, (0, 0)), (90, (1, 0)), (-90, (0, 1)), (180, (1, 1))])
def test_rotation_metadata_is_honoured(tmp_path, rotate, corner):
    p = write_video(tmp_path / f"rot{rotate}.mp4", seconds=1, width=64, height=48, frames=marker_frames(64, 48),
                    rotate=rotate, audio=False)
    clip = extract_clip(p, ClipConfig(start=0, window=1, num_frames=1, interval=1, size=32))
    cy, cx = red_centroid(clip.frames[0])
    assert (round(cy), round(cx)) == corner
    assert clip.meta["rotation"] == (rotate or 0) % 360


@pytest.mark.parametrize("w,h", [(36, 64), (64, 64), (128, 32), (32, 128), (16, 16)])
def test_fit_geometry_works_for_every_shape(tmp_path, w, h):
    p = write_video(tmp_path / f"g{w}x{h}.mp4", seconds=0.5, width=w, height=h,
                    frames=lambda i, t: np.full((h, w, 3), 200, np.uint8), audio=False)
    clip = extract_clip(p, ClipConfig(start=0, window=1, num_frames=1, interval=1, size=32))
    img = clip.frames[0].astype(int)
    filled = (img.mean(axis=2) > 100)
    if max(w, h) / min(w, h) <= 2:
        assert filled.all()  # square crop, no bars
    else:
        # beyond 2:1: the central half of the long side, letterboxed
        frac = filled.mean()
        assert 0.45 < frac < 0.55
        if w > h:
            assert not filled[0].any() and filled[16].all()
        else:
            assert not filled[:, 0].any() and filled[:, 16].all()


def test_recipe_geometry_is_scale_560_then_centre_crop(tmp_path):
    p = write_video(tmp_path / "wide.mp4", seconds=0.5, width=320, height=180,
                    frames=lambda i, t: np.tile(np.linspace(0, 255, 320, dtype=np.uint8)[None, :, None], (180, 1, 3)),
                    audio=False)
    clip = extract_clip(p, ClipConfig.recipe(start=0, window=1, num_frames=1, interval=1))
    row = clip.frames[0, 112, :, 0].astype(float)
    # columns 168..392 of a 560-wide gradient: grey 76..179
    assert row[0] == pytest.approx(255 * 168 / 560, abs=4) and row[-1] == pytest.approx(255 * 391 / 560, abs=4)


# ----------------------------------------------------------- hostile inputs
@pytest.mark.parametrize("sampling", ["exact", "keyframe"])
def test_every_hostile_input_ends_as_a_clip_or_a_one_line_reason(hostile, sampling):
    cfg = ClipConfig(start=0.0, window=2.0, num_frames=3, interval=0.5, size=32, n_mels=16, spec_frames=16,
                     sampling=sampling)
    for name, (path, expect) in hostile.items():
        try:
            clip = extract_clip(path, cfg, item_id=name)
        except InputError as e:
            msg = str(e)
            assert expect in ("fail", "either"), f"{name} failed: {msg}"
            assert "\n" not in msg and 0 < len(msg) < 300 and path.name in msg, f"{name}: {msg!r}"
            continue
        assert expect in ("clip", "either"), f"{name} should have failed"
        assert clip.num_valid >= 1 and clip.frames.shape == (3, 32, 32, 3), name
        assert np.all(np.isfinite(clip.timestamps[clip.mask])), name
    assert not (Path.cwd() / "PWNED").exists()


def test_hostile_reasons_are_specific(hostile):
    cfg = ClipConfig(start=0.0, window=2.0, num_frames=3, interval=0.5, size=32)

    def reason(name):
        with pytest.raises(InputError) as ei:
            extract_clip(hostile[name][0], cfg)
        return str(ei.value)

    assert "empty file" in reason("zero-byte")
    assert "audio-only" in reason("audio-only")
    assert "16000x16000" in reason("absurd-size") and "limit" in reason("absurd-size")
    assert "not a readable media file" in reason("non-video")
    clip = extract_clip(hostile["multi-audio"][0], cfg)
    assert clip.has_audio and clip.meta["audio_streams"] == 2
    clip = extract_clip(hostile["4000x3000"][0], cfg)
    assert clip.meta["width"] == 4000 and clip.num_valid == 1 and clip.mask.tolist() == [True, False, False]


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        extract_clip(tmp_path / "nope.mp4", SMALL)
    with pytest.raises(InputError, match="not a regular file"):
        extract_clip(tmp_path, SMALL)


# ----------------------------------------------------------- against the real ffmpeg
@pytest.mark.skipif(not HAVE_FFMPEG, reason="the ffmpeg binary is not installed")
def test_recipe_mode_reproduces_ffmpeg(tmp_path):
    """The recipe's two ffmpeg calls vs recipe mode on one file: same frames, same picture."""
    import subprocess

    rng = np.random.default_rng(1)

    def music(t):
        chirp = np.sin(2 * np.pi * (300 + 150 * t) * t) * (0.2 + 0.2 * np.sin(t))
        return (chirp + 0.05 * rng.standard_normal(len(t))).astype(np.float32)

    p = write_video(tmp_path / "trailer clip.mp4", seconds=20, width=320, height=180, fps=8, audio=music,
                    sample_rate=22050, rotate=None)
    cfg = ClipConfig.recipe()
    clip = extract_clip(p, cfg)
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", "5", "-t", "125", "-i", str(p), "-vf", "scale=560:-1,crop=224:224,fps=1/12",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"], capture_output=True, check=True).stdout
    ref = np.frombuffer(raw, np.uint8).reshape(-1, 224, 224, 3)
    assert clip.num_valid == len(ref) == 1
    assert psnr(clip.frames[0], ref[0]) >= 30
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", "5", "-t", "125", "-i", str(p), "-lavfi", "showspectrumpic=s=224x224:legend=0",
         "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"], capture_output=True, check=True).stdout
    pic = np.frombuffer(raw, np.uint8).reshape(224, 224, 3)
    assert clip.spectrogram.dtype == np.uint8 and psnr(clip.spectrogram, pic) >= 30


def psnr(a, b) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


# ----------------------------------------------------------- the stage over a workspace
def test_run_extract_hostile_batch_completes_and_resumes(ws, hostile):
    from reelmatch.catalog import Item
    from reelmatch.dataset.store import ClipStore
    from reelmatch.extract import run_extract

    for i, (name, (path, _)) in enumerate(hostile.items()):
        ws.catalog.upsert(Item(id=f"h{i:02d}", title=name, media_path=str(path)))
    ws.catalog.upsert(Item(id="gone", title="gone", media_path=str(path.parent / "deleted.mp4")))
    ws.catalog.upsert(Item(id="url", title="not downloaded", source="https://example.org/x"))
    cfg = ClipConfig(start=0.0, window=2.0, num_frames=3, interval=0.5, size=32, n_mels=16, spec_frames=16)
    seen = []
    s = run_extract(ws, cfg, workers=2, timeout=60, progress=lambda d, t, i, e: seen.append((d, t, i, e)))
    n = len(hostile) + 1
    assert s["total"] == n and s["done"] + s["failed"] == n and s["skipped_no_media"] == 1
    assert [d for d, *_ in seen] == list(range(1, n + 1))
    store = ClipStore(ws)
    assert store.config == cfg and len(store) == s["done"]
    by_title = {ws.catalog.get(f["id"]).title: f["error"] for f in s["failures"]}
    for name, (path, expect) in hostile.items():
        if expect == "clip":
            assert name not in by_title, (name, by_title.get(name))
        elif expect == "fail":
            assert name in by_title, name
    assert "cannot read" in by_title["gone"]
    for err in by_title.values():
        assert "\n" not in err and len(err) < 300
    status = ws.status()
    assert status["stages"]["extract"] == {"done": s["done"], "failed": s["failed"], "pending": 1}
    clip = store.get("h%02d" % list(hostile).index("one-frame"))
    assert clip.num_valid == 1 and clip.split in ("train", "val", "test")
    # a second run redoes nothing; --retry-failed retries only the failures
    again = run_extract(ws, cfg, workers=2, timeout=60)
    assert again["total"] == 0 and again["already_done"] == s["done"]
    retry = run_extract(ws, cfg, workers=2, timeout=60, retry_failed=True)
    assert retry["total"] == s["failed"] and retry["done"] == 0
    assert ws.catalog.stage_of("gone", "extract")["attempts"] == 2
    assert ws.catalog.stage_of("h%02d" % list(hostile).index("16x16"), "extract")["attempts"] == 1


@pytest.mark.parametrize("config", [SMALL, ClipConfig.recipe(start=0.1, window=2.3, num_frames=6, interval=0.37, size=32)])
def test_result_does_not_depend_on_threads(media, config):
    one = extract_clip(media["bframes"], config, threads=1)
    for threads, decoder_threads in ((2, None), (5, 1), (1, 3), (2, 2)):
        other = extract_clip(media["bframes"], config, threads=threads, decoder_threads=decoder_threads)
        assert np.array_equal(one.frames, other.frames) and np.array_equal(one.mask, other.mask)
        assert np.array_equal(one.timestamps, other.timestamps, equal_nan=True)
        assert np.array_equal(one.spectrogram, other.spectrogram) and one.has_audio == other.has_audio
    short = extract_clip(media["basic"], ClipConfig(start=0, window=10, num_frames=8, interval=0.5, size=32), threads=4)
    assert short.mask.tolist() == [True] * 5 + [False] * 3  # 2.4 s: ticks at 0.25..2.25 s, then the end
