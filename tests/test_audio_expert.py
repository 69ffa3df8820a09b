"""The aisfx audio expert: real weights (shipped in the PyPI wheel), real generated media, the per-item cache."""

from __future__ import annotations

import numpy as np
import pytest

from reelmatch.errors import InputError

pytest.importorskip("aisfx", reason="the audio expert aisfx is not installed (pip install --no-deps aisfx==0.1.2)")

from reelmatch.audioexpert import AudioExpertConfig, load_audio_expert_features, update_audio_expert_features  # noqa: E402
from reelmatch.audioexpert.cache import audio_expert_cache_path, read_audio_expert_cache  # noqa: E402
from reelmatch.audioexpert.encoder import (  # noqa: E402
    BLOCK, DIM, N_MELS, SAMPLE_RATE, aisfx_logmel, create_aisfx_encoder, spectrogram_blocks,
)
from reelmatch.extract.config import ClipConfig  # noqa: E402

CLIP = ClipConfig(start=0.0, window=2.0, num_frames=2, interval=1.0, size=32, n_mels=32, spec_frames=32)


def noise(amplitude=0.3, seed=0):
    def audio(t):
        rng = np.random.default_rng(seed + int(round(t[0] * 1000)))  # a pure function of the instants
        return (amplitude * rng.uniform(-1, 1, len(t))).astype(np.float32)

    return audio


def chirp(amplitude=0.3):
    def audio(t):
        gate = np.sign(np.sin(2 * np.pi * 3 * t))
        return (amplitude * gate * np.sin(2 * np.pi * (300 + 900 * t) * t)).astype(np.float32)

    return audio


@pytest.fixture(scope="module")
def encoder():
    return create_aisfx_encoder()


@pytest.fixture(scope="module")
def films(tmp_path_factory):
    """name -> path: 2 s 32x32 videos; two carry the same tone (different picture and container)."""
    from reelmatch.samples.media import moving_box_frames, tone, write_video

    d = tmp_path_factory.mktemp("aisfx")
    spec = {
        "tone a.mp4": (tone(440), (230, 40, 40)),
        "tone b.mkv": (tone(440), (40, 40, 230)),
        "noise.mp4": (noise(), (40, 230, 40)),
        "chirp.mp4": (chirp(), (200, 200, 40)),
        "silent track.mp4": ((lambda t: np.zeros(len(t), np.float32)), (90, 90, 90)),
        "no audio.mp4": (False, (10, 10, 10)),
    }
    return {name: write_video(d / name, seconds=2.0, width=32, height=32, fps=5, sample_rate=22050,
                              frames=moving_box_frames(32, 32, color=color), audio=audio)
            for name, (audio, color) in spec.items()}


def test_front_end_shapes_and_range():
    t = np.arange(SAMPLE_RATE * 3) / SAMPLE_RATE
    spec = aisfx_logmel(0.01 * np.sin(2 * np.pi * 440 * t))
    assert spec.shape == (1 + len(t) // 1024, N_MELS) and spec.dtype == np.float32
    assert spec.min() >= 0 and 0.8 < spec.max() < 1.05  # peak-normalised: the level does not matter
    np.testing.assert_allclose(spec, aisfx_logmel(0.5 * np.sin(2 * np.pi * 440 * t)), atol=1e-4)
    assert aisfx_logmel(np.zeros(SAMPLE_RATE)).max() == 0
    blocks = spectrogram_blocks(spec)  # 130 frames: blocks at 0 only (a partial block is dropped, as aisfx does)
    assert blocks.shape == (1, BLOCK, N_MELS)
    assert spectrogram_blocks(np.ones((250, N_MELS), np.float32)).shape == (4, BLOCK, N_MELS)  # 0, 50, 100, 150
    short = spectrogram_blocks(np.ones((30, N_MELS), np.float32))
    assert short.shape == (1, BLOCK, N_MELS) and short[0, 30:].max() == 0


def reference_logmel(y):
    """The front-end the slow obvious way: frame by frame, filters written out (Essentia's/librosa's recipe)."""
    y = np.asarray(y, np.float64) / np.max(np.abs(y))
    y = np.pad(y, (1024, 1024))
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(2048) / 2048)  # periodic Hann
    freqs = np.arange(1025) * SAMPLE_RATE / 2048
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731 - HTK
    edges = 700 * (10 ** (np.linspace(0, mel(SAMPLE_RATE / 2), N_MELS + 2) / 2595) - 1)
    filters = np.zeros((N_MELS, 1025))
    for m in range(N_MELS):
        lo, mid, hi = edges[m : m + 3]
        filters[m] = np.maximum(0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))
        filters[m] /= filters[m].sum()
    out = []
    for start in range(0, len(y) - 2048 + 1, 1024):
        power = np.abs(np.fft.rfft(y[start : start + 2048] * window)) ** 2
        out.append(np.log10(filters @ power * 1e4 + 1) / 9.457798957824707)
    return np.array(out)


def test_front_end_matches_a_slow_reference():
    t = np.arange(int(SAMPLE_RATE * 0.8)) / SAMPLE_RATE
    y = 0.2 * np.sin(2 * np.pi * 440 * t) + 0.05 * np.random.default_rng(3).standard_normal(len(t))
    fast, slow = aisfx_logmel(y), reference_logmel(y)
    assert fast.shape == slow.shape, (fast.shape, slow.shape)
    np.testing.assert_allclose(fast, slow, atol=2e-4)


def test_embeddings_unit_norm_deterministic_and_sound_dependent(encoder):
    t = np.arange(int(SAMPLE_RATE * 1.5)) / SAMPLE_RATE
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    hiss = np.random.default_rng(1).uniform(-0.3, 0.3, len(t))
    a, b, c = encoder.embed(tone), encoder.embed(tone), encoder.embed(hiss)
    assert a.shape == (DIM,) and a.dtype == np.float32
    assert abs(np.linalg.norm(a) - 1) < 1e-5 and abs(np.linalg.norm(c) - 1) < 1e-5
    np.testing.assert_array_equal(a, b)
    assert a @ c < 0.9, a @ c
    assert encoder.embed(0.05 * tone) @ a > 0.999  # peak-normalised front-end


def test_cache_of_real_media(ws, films, encoder):
    from reelmatch.ingest import add_paths

    rep = add_paths(ws, list(films.values()))
    assert not rep.errors, rep.errors
    ids = {it.title: it.id for it in ws.catalog.items()}
    cfg = AudioExpertConfig()
    r = update_audio_expert_features(ws, cfg, clip_config=CLIP, encoder=encoder, workers=0)
    assert (r.embedded, r.items, r.missing, r.failed) == (4, 4, 2, 0), r
    feats = load_audio_expert_features(ws, cfg, clip_config=CLIP)
    assert set(feats) == {ids["tone a"], ids["tone b"], ids["noise"], ids["chirp"]}  # silent / no audio: missing
    for v in feats.values():
        assert v.shape == (DIM,) and v.dtype == np.float32 and abs(np.linalg.norm(v) - 1) < 1e-5
    same = feats[ids["tone a"]] @ feats[ids["tone b"]]  # same sound, other picture, container and codec
    assert same > 0.97, same  # 0.98: AAC priming shifts the samples by a few ms
    for other in ("noise", "chirp"):
        assert feats[ids["tone a"]] @ feats[ids[other]] < same - 0.05
    rows = read_audio_expert_cache(audio_expert_cache_path(ws, cfg, CLIP))
    assert rows[ids["no audio"]][1:3] == ("missing", "no audio stream")
    assert rows[ids["silent track"]][1] == "missing" and "silent" in rows[ids["silent track"]][2]

    # incremental: nothing to do, and the encoder is not even needed
    again = update_audio_expert_features(ws, cfg, clip_config=CLIP, encoder=None, workers=0)
    assert (again.embedded, again.items, again.missing) == (0, 4, 2)
    # another clip window is another cache
    assert load_audio_expert_features(ws, cfg, clip_config=ClipConfig(start=0.0, window=1.0)) == {}


def test_a_broken_file_fails_alone(ws, films, encoder, tmp_path):
    import shutil

    from reelmatch.ingest import add_paths

    broken = shutil.copy(films["noise.mp4"], tmp_path / "broken.mp4")
    add_paths(ws, [films["tone a.mp4"], broken])
    data = open(broken, "rb").read()
    open(broken, "wb").write(data[: len(data) // 3])  # moov atom gone after it was catalogued
    r = update_audio_expert_features(ws, AudioExpertConfig(), clip_config=CLIP, encoder=encoder, workers=0)
    assert (r.embedded, r.failed) == (1, 1), r
    (f,) = r.failures
    assert "broken.mp4" in f["error"] and "\n" not in f["error"]
    # failed items are retried only on request
    assert update_audio_expert_features(ws, AudioExpertConfig(), clip_config=CLIP, encoder=encoder,
                                        workers=0).embedded == 0
    again = update_audio_expert_features(ws, AudioExpertConfig(), clip_config=CLIP, encoder=encoder, workers=0,
                                         retry_failed=True)
    assert again.failed == 1 and len(again.failures) == 1
    # a new item is the only one computed
    add_paths(ws, [films["chirp.mp4"]])
    new = update_audio_expert_features(ws, AudioExpertConfig(), clip_config=CLIP, encoder=encoder, workers=0)
    assert (new.embedded, new.items, new.failed) == (1, 2, 1), new


def test_process_pool_decoding_matches_inline(ws, films, encoder):
    from reelmatch.ingest import add_paths

    add_paths(ws, [films["chirp.mp4"], films["no audio.mp4"]])
    r = update_audio_expert_features(ws, AudioExpertConfig(), clip_config=CLIP, encoder=encoder, workers=1)
    assert (r.embedded, r.missing) == (1, 1), r
    (v,) = load_audio_expert_features(ws, clip_config=CLIP).values()
    from reelmatch.audioexpert.source import expert_input

    ref = encoder.embed_spectrogram(expert_input(("x", films["chirp.mp4"]), clip_config=CLIP).spec)
    np.testing.assert_allclose(v, ref, atol=1e-6)


def test_missing_package_is_one_line(monkeypatch):
    import sys

    from reelmatch.audioexpert import encoder as enc

    monkeypatch.setitem(sys.modules, "aisfx", None)
    monkeypatch.setitem(sys.modules, "aisfx.inference", None)
    expected = r"install aisfx: pip install --no-deps aisfx==0.1.2 \(audio modality, encoder aisfx"
    with pytest.raises(InputError, match=expected):
        enc.create_aisfx_encoder()


def test_missing_package_stops_before_decoding(ws, films, monkeypatch):
    import sys

    from reelmatch.ingest import add_paths

    add_paths(ws, [films["tone a.mp4"]])
    monkeypatch.setitem(sys.modules, "aisfx", None)
    monkeypatch.setitem(sys.modules, "aisfx.inference", None)
    with pytest.raises(InputError, match="install aisfx"):
        update_audio_expert_features(ws, clip_config=CLIP, workers=0)
    assert not audio_expert_cache_path(ws, AudioExpertConfig(), CLIP).exists()


def test_unknown_expert_and_bad_config():
    with pytest.raises(InputError, match="known experts are aisfx"):
        AudioExpertConfig(encoder="vggish")
    with pytest.raises(InputError, match="block_hop"):
        AudioExpertConfig(block_hop=0)
    assert AudioExpertConfig(batch_size=4).cache_fingerprint(CLIP) == AudioExpertConfig().cache_fingerprint(CLIP)
    assert AudioExpertConfig(block_hop=100).cache_fingerprint(CLIP) != AudioExpertConfig().cache_fingerprint(CLIP)


def test_cli_features_audio_encoder(cli, tmp_path, films):
    w = tmp_path / "ws"
    cli("-w", w, "init", check=True)
    cli("-w", w, "add", films["tone a.mp4"], films["no audio.mp4"], check=True)
    cli("-w", w, "extract", "--start", "0", "--window", "2", "--frames", "2", "--interval", "1", "--workers", "0",
        "--no-progress", check=True)
    plain = cli("-w", w, "features", "--backbone", "tiny", "--no-progress", check=True)
    assert "audio features" not in plain.stderr and not list((w / "features").glob("audio-*"))
    r = cli("-w", w, "features", "--backbone", "tiny", "--audio-encoder", "aisfx", "--no-progress", check=True)
    assert "audio features (aisfx): 1 items with sound cached (1 embedded now" in r.stderr, r.stderr
    assert "1 without usable audio, 0 failed" in r.stderr
    again = cli("-w", w, "features", "--backbone", "tiny", "--audio-encoder", "aisfx", "--no-progress", check=True)
    assert "(0 embedded now)" in again.stderr, again.stderr
    from reelmatch.workspace import Workspace

    with Workspace(w) as ws:
        assert len(load_audio_expert_features(ws)) == 1  # the clip config resolved from the workspace


def test_hostile_media_give_a_spectrogram_missing_or_one_line_error(hostile):
    from reelmatch.audioexpert.source import expert_input

    for name, (path, _) in hostile.items():
        try:
            r = expert_input((name, path), clip_config=CLIP)
        except InputError as e:
            assert "\n" not in str(e) and path.name in str(e), (name, str(e))
            continue
        assert r.missing or (r.spec.ndim == 2 and r.spec.shape[1] == N_MELS and np.isfinite(r.spec).all()), name
