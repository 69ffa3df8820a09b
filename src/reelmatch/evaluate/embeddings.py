"""Vectors of the held-out clips for each system evaluate compares.

All of them go through the embedders of :mod:`reelmatch.embed.embedder`, the
same code that makes the served vectors:

- trained model: ``ModelEmbedder`` (fused, and each tower alone);
- ``pretrained_mean``: ``BackboneEmbedder``'s visual part, i.e. the
  ImageNet-pretrained frame features mean-pooled over the real frames;
- ``untrained``: the checkpoint's architecture with its trainable layers at
  initialisation (pretrained backbone kept), through ``encode_towers``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from reelmatch.errors import NotFoundError

log = logging.getLogger(__name__)


def current_model_info(ws) -> dict | None:
    """``{"path", "fingerprint", "backbone", ...}`` of the workspace's current model, None if none."""
    from reelmatch.model.checkpoint import current_checkpoint, model_fingerprint

    ckpt = current_checkpoint(ws)
    if ckpt is None:
        return None
    info = {"path": str(ckpt), "fingerprint": model_fingerprint(ckpt)}
    cfg = _checkpoint_config(ckpt)
    for key in ("backbone", "pooling", "embed_dim", "training"):  # training: only models with a cross-modal phase
        if key in cfg:
            info[key] = cfg[key]
    return info


def _checkpoint_config(ckpt) -> dict:
    import json

    p = Path(ckpt) / "config.json"
    try:
        doc = json.loads(p.read_text())
    except (OSError, ValueError):
        return {}
    model = doc.get("model") if isinstance(doc.get("model"), dict) else {}
    return {**doc, **model}


def _batched(ws, ids, batch_size: int, embed_fn, clip_config=None) -> dict[str, np.ndarray]:
    from reelmatch.dataset.store import ClipStore

    store = ClipStore(ws, clip_config)
    parts: dict[str, list[np.ndarray]] = {}
    try:
        for start in range(0, len(ids), batch_size):
            clips = [store.get(i) for i in ids[start : start + batch_size]]
            for k, v in embed_fn(clips).items():
                parts.setdefault(k, []).append(np.asarray(v, dtype=np.float32))
    finally:
        store.close()
    return {k: np.concatenate(v) for k, v in parts.items()}


def model_towers(ws, ids: list[str], *, batch_size: int = 16, clip_config=None) -> dict[str, np.ndarray]:
    """``{"fused", "visual", "audio", "text"}`` float32 [N, d] of the current trained model (``text``
    [N, 0] for a model without text) and ``has_visual``/``has_text``."""
    from reelmatch.embed.embedder import ModelEmbedder, audio_cache_for, text_cache_for
    from reelmatch.model.checkpoint import current_checkpoint

    ckpt = current_checkpoint(ws)
    if ckpt is None:
        raise NotFoundError("no trained model: run 'reelmatch train'")
    embedder = ModelEmbedder(ckpt, text_cache=text_cache_for(ws, ckpt),
                             audio_cache=audio_cache_for(ws, ckpt, clip_config))
    return _batched(ws, ids, batch_size, embedder.embed, clip_config)


def pretrained_mean(ws, ids: list[str], *, batch_size: int = 16, clip_config=None) -> np.ndarray:
    """float32 [N, D]: the pretrained backbone's frame features, mean-pooled, L2-normalised."""
    from reelmatch.embed.embedder import BackboneEmbedder

    info = current_model_info(ws) or {}
    backbone = info.get("backbone") or "efficientnet_lite0"
    embedder = BackboneEmbedder(backbone, pretrained=True)
    return _batched(ws, ids, batch_size, embedder.embed, clip_config)["visual"]


def untrained_towers(ws, ids: list[str], *, batch_size: int = 16, seed: int = 0,
                     clip_config=None) -> dict[str, np.ndarray]:
    """Towers of the current checkpoint's architecture at initialisation.

    The backbone keeps its pretrained weights (when the checkpoint's config
    says pretrained); pooling, audio ConvNet and projections are freshly
    initialised with ``seed``. The model is written as a checkpoint under
    ``<ws>/tmp`` and embedded by the same ``ModelEmbedder`` as the trained one.
    """
    import shutil

    import torch

    from reelmatch.embed.embedder import ModelEmbedder, audio_cache_for, text_cache_for
    from reelmatch.model.checkpoint import current_checkpoint, read_config, save
    from reelmatch.model.config import ModelConfig
    from reelmatch.model.two_tower import TwoTower

    ckpt = current_checkpoint(ws)
    if ckpt is None:
        raise NotFoundError("no trained model: run 'reelmatch train'")
    meta = read_config(ckpt)
    config = ModelConfig.from_dict(meta["model"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TwoTower(config)
    tmp = ws.dir("tmp") / f"untrained-{config.fingerprint}-{seed}"
    try:
        save(model.eval(), tmp, {k: v for k, v in meta.items() if k not in ("model", "format")})
        embedder = ModelEmbedder(tmp, text_cache=text_cache_for(ws, tmp), audio_cache=audio_cache_for(ws, tmp, clip_config))
        return _batched(ws, ids, batch_size, embedder.embed, clip_config)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def training_log(ws) -> Path | None:
    """The CSV training log of the current model (Lightning ``metrics.csv``), None if none."""
    from reelmatch.model.checkpoint import current_checkpoint

    ckpt = current_checkpoint(ws)
    if ckpt is None:
        return None
    ckpt = Path(ckpt)
    for root in (ckpt, ckpt.parent):
        found = sorted(root.rglob("*.csv"), key=lambda p: p.stat().st_mtime)
        if found:
            return found[-1]
    return None
