"""The plot-text feature cache: one frozen sentence embedding per item with a plot.

``update_text_features(ws, config)`` encodes the plots of catalogue items whose
text is new or changed since the last run, and writes
``<workspace>/features/text-<encoder>-<fingerprint>/text.npz`` atomically:

- ``ids`` str [N]: item ids that have a plot;
- ``digest`` str [N]: sha1 of the text that was encoded (a changed plot recomputes; so does a changed
  title for an encoder that reads it, :func:`reelmatch.text.encoder.item_text`);
- ``vectors`` float16 [N, D]: L2-normalised sentence embeddings.

An item without a usable plot (none, empty, no letters: see
:func:`reelmatch.text.encoder.plot_text`) is not in the cache: for the model
that is the text modality's "missing". A sidecar ``text.npz.json`` records the
config, counts and versions. Re-running on an unchanged catalogue encodes nothing.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from reelmatch.config import atomic_write_bytes, fingerprint, write_sidecar
from reelmatch.text.encoder import item_text, text_encoder_spec

log = logging.getLogger(__name__)

VERSION = 1
FILE = "text.npz"


@dataclass(frozen=True)
class TextFeaturesConfig:
    """encoder: a name from ``list_text_encoders()``; max_tokens: plots are cut there (None: the encoder's limit);
    batch_size: rows per encoder forward pass (None: the encoder's default, :meth:`TextEncoder.encode`)."""

    encoder: str = "minilm"
    max_tokens: int | None = None
    batch_size: int | None = None

    def cache_fingerprint(self) -> str:
        spec = text_encoder_spec(self.encoder)
        return fingerprint({"encoder": self.encoder, "dim": spec.dim,
                            "max_tokens": self.max_tokens or spec.max_tokens, "version": VERSION})


@dataclass(frozen=True)
class TextFeaturesResult:
    path: Path
    items: int  # items with a plot in the cache
    encoded: int  # encoded by this run
    missing: int  # catalogue items without a usable plot
    truncated: int  # plots of this run cut to max_tokens
    seconds: float

    def summary(self) -> str:
        rate = f", {self.encoded / self.seconds:.0f} plots/s" if self.encoded and self.seconds > 0 else ""
        cut = f", {self.truncated} cut to the token limit" if self.truncated else ""
        return f"{self.items} plots cached ({self.encoded} encoded now{rate}{cut}), {self.missing} items without a plot"


def text_cache_path(ws, config: TextFeaturesConfig) -> Path:
    return ws.dir("features") / f"text-{config.encoder}-{config.cache_fingerprint()}" / FILE


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()


def read_text_features(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """``(ids, digests, vectors float32 [N, D])`` of a cache file (empty if there is none)."""
    path = Path(path)
    if not path.exists():
        return [], [], np.zeros((0, 0), dtype=np.float32)
    with np.load(path, allow_pickle=False) as z:
        return [str(x) for x in z["ids"]], [str(x) for x in z["digest"]], z["vectors"].astype(np.float32)


def load_text_features(ws, config: TextFeaturesConfig = TextFeaturesConfig()) -> dict[str, np.ndarray]:
    """``{item id: float32 [D]}`` for every cached plot."""
    ids, _, vectors = read_text_features(text_cache_path(ws, config))
    return {i: vectors[k] for k, i in enumerate(ids)}


def update_text_features(
    ws,
    config: TextFeaturesConfig = TextFeaturesConfig(),
    *,
    encoder=None,
    progress: Callable[[int, int], None] | None = None,
) -> TextFeaturesResult:
    """Encode new or changed plots of ``ws``'s catalogue into the cache (see the module doc).

    ``encoder``: an already loaded :class:`~reelmatch.text.encoder.TextEncoder`
    (else it is created from ``config`` only when there is something to encode).
    ``progress(done, total)`` is called after each batch.
    """
    t0 = time.perf_counter()
    path = text_cache_path(ws, config)
    old_ids, old_digests, old_vectors = read_text_features(path)
    old = {i: (d, k) for k, (i, d) in enumerate(zip(old_ids, old_digests))}
    wanted: list[tuple[str, str, str]] = []  # (id, digest, text)
    missing = 0
    spec = text_encoder_spec(config.encoder)
    for item in ws.catalog.items():
        text = item_text(item.title, item.plot, spec)
        if text is None:
            missing += 1
            continue
        wanted.append((item.id, _digest(text), text))
    todo = [(i, d, t) for i, d, t in wanted if old.get(i, (None,))[0] != d]
    new_vectors: dict[str, np.ndarray] = {}
    truncated = 0
    if todo:
        if encoder is None:
            from reelmatch.text.encoder import create_text_encoder

            encoder = create_text_encoder(config.encoder, max_tokens=config.max_tokens)
        step = 256  # plots per encode() call (a progress step)
        for start in range(0, len(todo), step):
            chunk = todo[start : start + step]
            vecs = encoder.encode([t for _, _, t in chunk], batch_size=config.batch_size)
            truncated += encoder.truncated
            for (i, _, _), v in zip(chunk, vecs):
                new_vectors[i] = v
            if progress is not None:
                progress(min(start + step, len(todo)), len(todo))
    dim = spec.dim
    ids = [i for i, _, _ in wanted]
    vectors = np.zeros((len(ids), dim), dtype=np.float16)
    for k, (i, _, _) in enumerate(wanted):
        vectors[k] = new_vectors[i] if i in new_vectors else old_vectors[old[i][1]]
    if todo or ids != old_ids:
        buf = io.BytesIO()
        np.savez(buf, ids=np.array(ids, dtype=str), digest=np.array([d for _, d, _ in wanted], dtype=str),
                 vectors=vectors)  # fmt: skip
        atomic_write_bytes(path, buf.getvalue())
        write_sidecar(path, config, fingerprint_cache=config.cache_fingerprint(), items=len(ids), missing=missing)
    res = TextFeaturesResult(path, len(ids), len(todo), missing, truncated, time.perf_counter() - t0)
    log.info("text features: %s", res.summary())
    return res
