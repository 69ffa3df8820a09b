"""Embedders: clips -> L2-normalised vectors (fused, visual, audio).

- :class:`ModelEmbedder`: the workspace's trained two-tower model
  (``encode_towers``), identified by its model fingerprint.
- :class:`BackboneEmbedder`: before any model is trained, the pretrained frame
  backbone alone: mean of its frame features over the valid frames (visual) and
  pooled log-mel statistics (audio), each L2-normalised, fused by weighted
  concatenation. Every catalogue gets recommendations from the first build.

An embedder has ``mode``, ``fingerprint`` (what made the vectors: vectors of
another fingerprint are never mixed with these), ``describe()`` (for sidecars)
and ``embed(clips) -> {"fused", "visual", "audio"}`` of float32 [B, d] arrays.

The modes are a registry: ``list_embedders()``, ``create_embedder(mode, **args)``;
:func:`embedder_for` rebuilds the embedder recorded in an embeddings' metadata
through it.
"""

from __future__ import annotations

import logging

import numpy as np

from reelmatch.config import fingerprint
from reelmatch.embed.config import EmbedConfig

log = logging.getLogger(__name__)


def l2_normalise(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows divided by their L2 norm (zero rows stay zero). float32 [n, d] -> float32 [n, d]."""
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.where(n > eps, x / np.maximum(n, eps), 0.0).astype(np.float32)


def audio_descriptor(spectrogram: np.ndarray, has_audio: bool) -> np.ndarray:
    """Pooled log-mel statistics of one clip: float32 [2 * bands], L2-normalised (zeros without audio).

    Per frequency band: mean over time and standard deviation over time, each
    minus its average over bands (the spectral shape and its dynamics, not the
    loudness; without centring every clip looks alike, cosines ~0.9). A recipe-style picture
    (uint8 [S, S, 3], low frequencies at the bottom) is read as grey rows = bands.
    """
    s = np.asarray(spectrogram)
    if s.ndim == 3:  # recipe picture
        s = s.astype(np.float32).mean(axis=2)[::-1] / 255.0
    s = s.astype(np.float32)
    if not has_audio or s.size == 0:
        return np.zeros(2 * s.shape[0], dtype=np.float32)
    if not np.isfinite(s).all():
        raise ValueError(f"spectrogram {s.shape} has NaN or infinite values")
    mean, std = s.mean(axis=1), s.std(axis=1)
    d = np.concatenate([mean - mean.mean(), std - std.mean()])[None, :]
    return l2_normalise(d)[0]


def fuse(visual: np.ndarray, audio: np.ndarray, audio_weight: float) -> np.ndarray:
    """``[sqrt(1-w) visual, sqrt(w) audio]`` renormalised: its dot product is the weighted mean of the towers'.

    visual float32 [n, Ev], audio float32 [n, Ea] (rows L2-normalised or zero) -> float32 [n, Ev + Ea].
    A clip without audio gets its visual direction alone.
    """
    return l2_normalise(np.concatenate([np.sqrt(1 - audio_weight) * visual, np.sqrt(audio_weight) * audio], axis=1))


class BackboneEmbedder:
    """The pretrained frame backbone alone (no training), plus an audio descriptor."""

    mode = "backbone"

    def __init__(self, backbone: str = "efficientnet_lite0", audio_weight: float = 0.25, *, pretrained: bool = True):
        from reelmatch.model.backbones import create_backbone, norm_fingerprint

        self.name = backbone
        self.pretrained = bool(pretrained)
        self.audio_weight = float(audio_weight)
        if pretrained:
            self.backbone = create_backbone(backbone, pretrained=True)
        else:  # random weights (tests): seeded, so the same name always gives the same vectors
            import torch

            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                self.backbone = create_backbone(backbone, pretrained=False)
        self.backbone.eval()
        doc = {"backbone": backbone, "pretrained": pretrained, "audio_weight": self.audio_weight, "audio": "logmel-stats-2"}
        norm = norm_fingerprint(backbone, self.backbone.norm)
        if norm is not None:  # vectors made with another normalisation than before it could be chosen
            doc["norm"] = norm
        self.fingerprint = "backbone-" + fingerprint(doc)

    def describe(self) -> dict:
        return {
            "mode": self.mode,
            "backbone": self.name,
            "pretrained": self.pretrained,
            "audio_weight": self.audio_weight,
            "note": "no trained model: pretrained backbone alone (mean-pooled frame features + log-mel statistics)",
        }

    def _frame_features(self, frames: np.ndarray) -> np.ndarray:
        """uint8 [M, S, S, 3] -> float32 [M, D]."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(frames))
        x = self.backbone.preprocess(x)
        with torch.inference_mode():
            return self.backbone(x).float().cpu().numpy()

    def embed(self, clips) -> dict[str, np.ndarray]:
        valid = [np.flatnonzero(c.mask) for c in clips]
        frames = np.concatenate([c.frames[v] for c, v in zip(clips, valid)])
        feats = self._frame_features(frames) if len(frames) else np.zeros((0, 1), np.float32)
        visual, start = [], 0
        for v in valid:
            part = feats[start : start + len(v)]
            start += len(v)
            visual.append(part.mean(axis=0) if len(part) else np.zeros(feats.shape[1], np.float32))
        visual = l2_normalise(np.stack(visual))
        audio = np.stack([audio_descriptor(c.spectrogram, c.has_audio) for c in clips])
        return {"fused": fuse(visual, audio, self.audio_weight), "visual": visual, "audio": audio}


class ModelEmbedder:
    """A trained two-tower checkpoint (``encode_towers``, towers L2-normalised).

    ``mode`` is ``"model"``, or ``"self-supervised"`` for a model trained without any
    labels (the cross-modal phase alone: an unlabelled catalogue's model).
    """

    mode = "model"

    def __init__(self, checkpoint_dir, clip_config=None):
        from reelmatch.model.checkpoint import load, model_fingerprint

        # with clip_config, a model trained on clips sampled another way is refused
        loaded = load(checkpoint_dir) if clip_config is None else load(checkpoint_dir, clip_config=clip_config)
        self.model = loaded[0] if isinstance(loaded, tuple) else loaded
        meta = loaded[1] if isinstance(loaded, tuple) else {}
        if meta.get("training") == "self-supervised":
            self.mode = "self-supervised"
        self.model.eval()
        self.checkpoint = str(checkpoint_dir)
        self.fingerprint = model_fingerprint(checkpoint_dir)

    def describe(self) -> dict:
        return {"mode": self.mode, "checkpoint": self.checkpoint}

    def embed(self, clips) -> dict[str, np.ndarray]:
        import torch

        from reelmatch.dataset.torch import collate

        batch = collate(clips)
        with torch.inference_mode():
            out = self.model.encode_towers(batch)
        res = {k: l2_normalise(out[k].float().cpu().numpy()) for k in ("fused", "visual", "audio")}
        no_audio = np.array([not c.has_audio for c in clips])
        res["audio"][no_audio] = 0.0  # no audio, no audio score
        return res


_UNSET = object()


def get_embedder(ws, config: EmbedConfig = EmbedConfig(), *, clip_config=_UNSET):
    """The embedder for ``ws``: its current trained model, else the pretrained backbone alone.

    ``clip_config``: the clips it will embed (a checkpoint made for other clips is
    refused); not given: the workspace's current clip config, if any.
    """
    if config.use_model:
        try:
            from reelmatch.model.checkpoint import current_checkpoint
        except ModuleNotFoundError as e:  # a build without training support: no trained model
            if e.name != "reelmatch.model.checkpoint":
                raise
            current_checkpoint = None
        ckpt = current_checkpoint(ws) if current_checkpoint is not None else None
        if ckpt is not None:
            if clip_config is _UNSET:
                from reelmatch.dataset.store import resolve_clip_config
                from reelmatch.errors import NotFoundError

                try:
                    clip_config = resolve_clip_config(ws)
                except NotFoundError:
                    clip_config = None
            return ModelEmbedder(ckpt, clip_config)
    log.info(
        "no trained model in %s: embedding with the pretrained %s backbone alone "
        "(mean-pooled frame features + log-mel statistics); train a model for genre-aware similarity",
        ws.root, config.backbone,
    )
    return BackboneEmbedder(config.backbone, config.audio_weight)


def embedder_for(ws, meta: dict):
    """The embedder that made embeddings with metadata ``meta``, to embed new files the same way.

    Raises ``StaleArtifactError`` when it cannot be rebuilt (its checkpoint is
    gone) or no longer gives the recorded fingerprint: run ``reelmatch embed``.
    """
    from pathlib import Path

    from reelmatch.errors import StaleArtifactError

    mode = meta.get("mode", "model")
    if mode == "backbone":
        emb = create_embedder(mode, meta.get("backbone", "efficientnet_lite0"), meta.get("audio_weight", 0.25),
                              pretrained=meta.get("pretrained", True))
    elif mode in ("model", "self-supervised"):
        ckpt = meta.get("checkpoint")
        if not ckpt or not Path(ckpt).exists():
            raise StaleArtifactError(f"the model that made the embeddings ({ckpt}) is gone: run 'reelmatch embed'")
        emb = create_embedder("model", ckpt)
    else:
        raise StaleArtifactError(f"the embeddings were made by an unknown embedder {mode!r}"
                                 f" (known: {', '.join(list_embedders())}): run 'reelmatch embed'")
    if emb.fingerprint != meta.get("model_fingerprint"):
        raise StaleArtifactError(
            f"the embeddings were made by {meta.get('model_fingerprint')} but that model now gives"
            f" {emb.fingerprint}: run 'reelmatch embed'"
        )
    return emb


_REGISTRY: dict[str, type] = {"backbone": BackboneEmbedder, "model": ModelEmbedder}  # "self-supervised": a ModelEmbedder


def list_embedders() -> list[str]:
    """Modes accepted by :func:`create_embedder`, sorted."""
    return sorted(_REGISTRY)


def create_embedder(mode: str, *args, **kwargs):
    """An embedder by mode: ``create_embedder("backbone", "tiny", pretrained=False)``,
    ``create_embedder("model", checkpoint_dir)`` (arguments as the class takes them)."""
    if mode not in _REGISTRY:
        from reelmatch.errors import InputError

        raise InputError(f"unknown embedder {mode!r}; known embedders: {', '.join(list_embedders())}")
    return _REGISTRY[mode](*args, **kwargs)
