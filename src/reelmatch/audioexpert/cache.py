"""The audio-expert feature cache: one frozen aisfx embedding per item with sound.

``update_audio_expert_features(ws, config, clip_config=...)`` embeds the items
whose media is new or changed since the last run, and writes
``<workspace>/features/audio-aisfx-<fingerprint>/audio.npz`` atomically:

- ``ids`` str [N]: every item with local media that was looked at;
- ``keys`` str [N]: its media (sha256, else path, size and mtime): a changed file recomputes;
- ``status`` str [N]: ``ok``, ``missing`` (no audio stream, under 0.1 s, quieter
  than -80 dBFS) or ``failed`` (the file could not be read; ``reason`` says why);
- ``reason`` str [N]: one line for ``missing``/``failed``, empty for ``ok``;
- ``vectors`` float32 [N, 512]: L2-normalised embeddings (zeros unless ``ok``).

The fingerprint covers the encoder, its front-end and the clip window
(``ClipConfig.start``/``window``: the sound is taken over the window the clips
sample, so another window is another cache). Re-running embeds nothing that is
already there; failed items are retried only with ``retry_failed``. Results
are committed every ``commit_seconds``, so a killed run loses at most that.

The decoding (media layer, safety limits) runs in the engine's crash-isolating
workers (:func:`reelmatch.audioexpert.source.expert_input`): a hostile file
fails alone with a one-line reason. The CNN runs in this process.

:func:`load_audio_expert_features` is what the model reads: ``{item id: float32
[512]}`` for the ``ok`` items only; an item absent from it is the audio
modality's "missing".
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

from reelmatch.config import StageConfig, atomic_write_bytes, fingerprint, write_sidecar
from reelmatch.errors import InputError, ItemFailure

log = logging.getLogger(__name__)

VERSION = 1
FILE = "audio.npz"
ENCODERS = ("aisfx",)
OK, MISSING, FAILED = "ok", "missing", "failed"
#: modules a decoding worker needs
WORKER_MODULES = ("av", "scipy.fft", "reelmatch.extract.audio", "reelmatch.audioexpert.source",
                  "reelmatch.audioexpert.encoder")


@dataclass(frozen=True)
class AudioExpertConfig(StageConfig):
    """encoder: a frozen audio expert (``aisfx``); block_hop: spectrogram frames between its
    100-frame blocks (50 = aisfx's own 1 s hop; 100 halves the work); min_seconds /
    silence_dbfs: less sound than this, or quieter, is "missing"; batch_size: blocks per
    CNN call (speed only: not in the fingerprint); timeout: seconds per item for decoding."""

    encoder: str = "aisfx"
    block_hop: int = 50
    min_seconds: float = 0.1
    silence_dbfs: float = -80.0
    batch_size: int = 32
    timeout: float = 300.0

    def __post_init__(self):
        if self.encoder not in ENCODERS:
            raise InputError(f"unknown audio expert {self.encoder!r}: known experts are {', '.join(ENCODERS)}")
        if not (isinstance(self.block_hop, int) and 1 <= self.block_hop <= 100):
            raise self.invalid("block_hop", "must be a whole number of frames from 1 to 100")
        if self.batch_size < 1:
            raise self.invalid("batch_size", "must be at least 1")

    def fingerprint_omit(self) -> tuple[str, ...]:
        return ("batch_size", "timeout")

    def cache_fingerprint(self, clip_config) -> str:
        from reelmatch.audioexpert import encoder as e

        front = {"package": f"{e.NAME}=={e.PACKAGE_VERSION}", "sample_rate": e.SAMPLE_RATE, "n_fft": e.N_FFT,
                 "hop": e.HOP, "n_mels": e.N_MELS, "log_max": e.LOG_MAX, "block": e.BLOCK}
        window = {"start": float(clip_config.start), "window": float(clip_config.window)}
        return fingerprint({"config": self.fingerprint, "front_end": front, "window": window, "version": VERSION})


@dataclass(frozen=True)
class AudioExpertResult:
    path: Path
    items: int  # items with an embedding in the cache
    embedded: int  # embedded by this run
    missing: int  # items whose audio is missing (no stream, too short, silent)
    failed: int  # items whose file could not be read
    no_media: int  # catalogue items without local media (not looked at)
    seconds: float
    audio_seconds: float = 0.0  # sound embedded by this run
    failures: list = field(default_factory=list)  # [{"id", "title", "error"}] of this run

    def summary(self) -> str:
        rate = f", {self.embedded / self.seconds:.2f} clips/s" if self.embedded and self.seconds > 0 else ""
        return (f"{self.items} items with sound cached ({self.embedded} embedded now{rate}), "
                f"{self.missing} without usable audio, {self.failed} failed, {self.no_media} without media")


def audio_expert_cache_path(ws, config: AudioExpertConfig, clip_config) -> Path:
    return ws.dir("features") / f"audio-{config.encoder}-{config.cache_fingerprint(clip_config)}" / FILE


@dataclass
class _Table:
    """The cache file in memory: item id -> (key, status, reason, vector)."""

    rows: dict[str, tuple[str, str, str, np.ndarray | None]]

    @classmethod
    def read(cls, path: Path) -> "_Table":
        if not Path(path).exists():
            return cls({})
        with np.load(path, allow_pickle=False) as z:
            vectors = z["vectors"].astype(np.float32)
            return cls({str(i): (str(k), str(s), str(r), vectors[n] if s == OK else None)
                        for n, (i, k, s, r) in enumerate(zip(z["ids"], z["keys"], z["status"], z["reason"]))})

    def write(self, path: Path, dim: int) -> None:
        ids = sorted(self.rows)
        vectors = np.zeros((len(ids), dim), np.float32)
        for n, i in enumerate(ids):
            v = self.rows[i][3]
            if v is not None:
                vectors[n] = v
        buf = io.BytesIO()
        np.savez(buf, ids=np.array(ids, dtype=str), keys=np.array([self.rows[i][0] for i in ids], dtype=str),
                 status=np.array([self.rows[i][1] for i in ids], dtype=str),
                 reason=np.array([self.rows[i][2] for i in ids], dtype=str), vectors=vectors)
        atomic_write_bytes(path, buf.getvalue())

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows.values() if r[1] == status)


def read_audio_expert_cache(path: Path) -> dict[str, tuple[str, str, str, np.ndarray | None]]:
    """``{item id: (media key, status, reason, float32 [512] or None)}`` of a cache file (empty if none)."""
    return _Table.read(Path(path)).rows


def load_audio_expert_features(
    ws, config: AudioExpertConfig = AudioExpertConfig(), *, clip_config=None
) -> dict[str, np.ndarray]:
    """``{item id: float32 [512]}`` (unit norm) for every item with usable sound in the cache.

    ``clip_config``: the workspace's clip config (default: the one its clips were
    extracted with, :func:`reelmatch.dataset.store.resolve_clip_config`). Items
    without audio, with silent or too short audio, or whose file failed are absent.
    """
    if clip_config is None:
        from reelmatch.dataset.store import resolve_clip_config

        clip_config = resolve_clip_config(ws)
    rows = read_audio_expert_cache(audio_expert_cache_path(ws, config, clip_config))
    return {i: r[3] for i, r in rows.items() if r[1] == OK}


def media_key(item, path: Path) -> str:
    """What identifies an item's media: its sha256 when the catalogue has it, else path, size and mtime."""
    if item.sha256:
        return f"sha256:{item.sha256}"
    try:
        st = path.stat()
        return f"file:{path}:{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        return f"file:{path}"


def update_audio_expert_features(
    ws,
    config: AudioExpertConfig = AudioExpertConfig(),
    *,
    clip_config=None,
    engine=None,
    workers: int | None = None,
    retry_failed: bool = False,
    encoder=None,
    progress: Callable[[int, int, "str | None", "str | None"], None] | None = None,
    commit_seconds: float = 30.0,
) -> AudioExpertResult:
    """Embed the sound of new or changed items of ``ws`` into the cache (see the module doc).

    ``engine``: where the per-item decoding runs (default: the local process
    pool; ``workers=0`` decodes in this process). ``encoder``: an already loaded
    :class:`~reelmatch.audioexpert.encoder.AisfxEncoder` (else one is loaded only
    when there is something to do; without the package, a one-line ``InputError``
    saying what to install, before anything is decoded). ``progress(done, total, item_id, error)``
    after each item, as the stage runner's callback.
    """
    from reelmatch.audioexpert.encoder import DIM
    from reelmatch.audioexpert.source import expert_input
    from reelmatch.errors import NotFoundError, failure_from_exception
    from reelmatch.runner import stage_lock

    if clip_config is None:
        from reelmatch.dataset.store import resolve_clip_config

        clip_config = resolve_clip_config(ws)
    t0 = time.perf_counter()
    path = audio_expert_cache_path(ws, config, clip_config)
    with stage_lock(ws, f"features-audio-{config.encoder}"):
        table = _Table.read(path)
        todo: list[tuple[str, str]] = []  # (item id, media path)
        keys: dict[str, str] = {}
        titles: dict[str, str] = {}
        no_media = 0
        for item in ws.catalog.items():
            try:
                media = ws.media_file(item)
            except NotFoundError:
                no_media += 1
                continue
            key = media_key(item, media)
            keys[item.id], titles[item.id] = key, item.title
            old = table.rows.get(item.id)
            if old is not None and old[0] == key and (old[1] != FAILED or not retry_failed):
                continue
            todo.append((item.id, str(media)))
        # items gone from the catalogue (or whose media went away) leave the cache
        gone = [i for i in table.rows if i not in keys]
        for i in gone:
            del table.rows[i]

        def commit() -> None:
            table.write(path, DIM)
            write_sidecar(path, config, fingerprint_cache=config.cache_fingerprint(clip_config),
                          clip_window={"start": clip_config.start, "window": clip_config.window},
                          items=table.count(OK), missing=table.count(MISSING), failed=table.count(FAILED))

        embedded, audio_seconds, failures = 0, 0.0, []
        last_commit = time.monotonic()
        dirty = bool(gone)
        if todo:
            if encoder is None:  # first: a missing package stops here, before any decoding
                from reelmatch.audioexpert.encoder import create_aisfx_encoder

                encoder = create_aisfx_encoder(batch_size=config.batch_size)
            from reelmatch.runner import resolve_engine

            engine = resolve_engine(engine)
            fn = partial(expert_input, clip_config=clip_config, min_seconds=config.min_seconds,
                         silence_dbfs=config.silence_dbfs)
            fn.preload_modules = WORKER_MODULES  # imported once by the local engine's fork server
            for done, (task, result) in enumerate(
                engine.map(fn, todo, workers=workers, timeout=config.timeout), start=1
            ):
                item_id = task[0]
                error = None
                try:
                    if isinstance(result, ItemFailure):
                        raise result
                    if result.missing:
                        table.rows[item_id] = (keys[item_id], MISSING, result.reason or "no audio", None)
                    else:
                        v = encoder.embed_spectrogram(result.spec, block_hop=config.block_hop)
                        table.rows[item_id] = (keys[item_id], OK, "", v)
                        embedded += 1
                        audio_seconds += result.seconds
                except (ItemFailure, InputError, ValueError, RuntimeError) as e:
                    error = failure_from_exception(e).reason
                if error is not None:
                    table.rows[item_id] = (keys[item_id], FAILED, error[:500], None)
                    failures.append({"id": item_id, "title": titles.get(item_id), "error": error})
                    log.warning("audio expert: %s failed: %s", item_id, error)
                dirty = True
                if progress is not None:
                    progress(done, len(todo), item_id, error)
                if time.monotonic() - last_commit >= commit_seconds:
                    commit()
                    dirty, last_commit = False, time.monotonic()
        if dirty or not path.exists():
            commit()
    res = AudioExpertResult(path, table.count(OK), embedded, table.count(MISSING), table.count(FAILED), no_media,
                            time.perf_counter() - t0, audio_seconds, failures)
    log.info("audio expert features: %s", res.summary())
    return res
