"""Embedders: clips -> L2-normalised vectors (fused, visual, audio).

- :class:`ModelEmbedder`: the workspace's trained model (``encode_towers``), identified by
  its model fingerprint; a model with plot text also embeds titles that have no clip.
- :class:`BackboneEmbedder`: before any model is trained, the pretrained frame
  backbone alone: mean of its frame features over the valid frames (visual) and
  pooled log-mel statistics (audio), each L2-normalised, fused by weighted
  concatenation. Every catalogue gets recommendations from the first build.

An embedder has ``mode``, ``fingerprint`` (what made the vectors: vectors of
another fingerprint are never mixed with these), ``describe()`` (for sidecars)
and ``embed(clips) -> {"fused", "visual", "audio"}`` of float32 [B, d] arrays (a model
embedder also gives ``"text"`` float32 [B, Et] and ``"has_text"``, ``"has_visual"`` bool [B]).

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
    """A trained checkpoint (``encode_towers``, towers L2-normalised).

    ``mode`` is ``"model"``, or ``"self-supervised"`` for a model trained without any
    labels (the cross-modal phase alone: an unlabelled catalogue's model). A model
    with the text modality reads the plots' sentence embeddings from ``text_cache``
    (the workspace's text feature file, :func:`reelmatch.text.cache.text_cache_path`)
    by clip id; :meth:`embed_text_only` embeds titles that have a plot but no clip.
    """

    mode = "model"

    def __init__(self, checkpoint_dir, clip_config=None, *, text_cache=None, audio_cache=None):
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
        self.text_cache = None if text_cache is None else str(text_cache)
        self._text = None
        self.audio_cache = None if audio_cache is None else str(audio_cache)  # a frozen audio expert's features
        self._audio = None
        self._expert = None
        self.clip_config = clip_config
        if clip_config is None and meta.get("clip_config"):
            from reelmatch.dataset.clip import ClipConfig

            self.clip_config = ClipConfig.from_dict(meta["clip_config"])

    @property
    def has_text(self) -> bool:
        return self.model.config.text is not None

    @property
    def text_vectors(self) -> dict:
        """``{item id: float32 [Dt]}`` of the plots in ``text_cache`` (read once)."""
        if self._text is None:
            from pathlib import Path

            from reelmatch.text.cache import read_text_features

            ids, _, vecs = read_text_features(Path(self.text_cache)) if self.text_cache else ([], [], None)
            self._text = {i: vecs[k] for k, i in enumerate(ids)}
        return self._text

    @property
    def audio_expert(self) -> str | None:
        """The frozen audio expert whose features the model's audio tower reads (None: the spectrogram ConvNet)."""
        enc = self.model.config.audio_encoder
        return None if enc == "convnet" else enc

    @property
    def audio_vectors(self) -> dict:
        """``{item id: float32 [Da]}`` of the items with usable sound in ``audio_cache`` (read once)."""
        if self._audio is None:
            from pathlib import Path

            from reelmatch.audioexpert.cache import OK, read_audio_expert_cache

            rows = read_audio_expert_cache(Path(self.audio_cache)) if self.audio_cache else {}
            self._audio = {i: r[3] for i, r in rows.items() if r[1] == OK}
        return self._audio

    def expert_vector(self, path, clip_config=None) -> np.ndarray | None:
        """The audio expert's vector of the file ``path`` over the clip window (None: no usable sound);
        for files outside the catalogue (queries, uploads) and for parts of an item (a scene's
        ``clip_config``, whose window is the scene)."""
        from reelmatch.audioexpert.cache import AudioExpertConfig
        from reelmatch.audioexpert.source import expert_input

        cfg = AudioExpertConfig(encoder=self.audio_expert)
        if self._expert is None:
            from reelmatch.audioexpert.encoder import create_aisfx_encoder

            self._expert = create_aisfx_encoder()
        inp = expert_input(("query", str(path)), clip_config=clip_config or self.clip_config, min_seconds=cfg.min_seconds,
                           silence_dbfs=cfg.silence_dbfs)
        return None if inp.missing else self._expert.embed_spectrogram(inp.spec, block_hop=cfg.block_hop)

    def describe(self) -> dict:
        return {"mode": self.mode, "checkpoint": self.checkpoint}

    def _with_audio(self, batch: dict, sources: dict | None = None) -> dict:
        if self.audio_expert is not None:
            from reelmatch.model.config import AUDIO_ENCODERS
            from reelmatch.model.modalities import attach_vectors

            lookup = self.audio_vectors
            if sources:
                # a source is a media path, or (path, clip config) for a part of a file (a scene)
                lookup = {**lookup, **{i: self.expert_vector(*(p if isinstance(p, tuple) else (p,)))
                                       for i, p in sources.items()}}
                lookup = {i: v for i, v in lookup.items() if v is not None}
            attach_vectors(batch, "audio_features", "has_audio", lookup, AUDIO_ENCODERS[self.audio_expert])
        return batch

    def _with_text(self, batch: dict, plots_of: dict | None = None) -> dict:
        if self.has_text:
            from reelmatch.model.modalities import attach_vectors

            lookup = self.text_vectors
            if plots_of:
                lookup = {**lookup, **{c: lookup[i] for c, i in plots_of.items() if i in lookup}}
            attach_vectors(batch, "text", "has_text", lookup, self.model.config.text_dim)
        return batch

    def _encode(self, batch: dict) -> dict[str, np.ndarray]:
        import torch

        with torch.inference_mode():
            out = self.model.encode_towers(batch)
        res = {k: l2_normalise(out[k].float().cpu().numpy()) for k in ("fused", "visual", "audio")}
        n = len(res["fused"])
        res["text"] = (l2_normalise(out["text"].float().cpu().numpy()) if "text" in out
                       else np.zeros((n, 0), np.float32))
        for name in ("visual", "text"):
            has = out.get(f"has_{name}")
            res[f"has_{name}"] = (np.zeros(n, bool) if name == "text" else np.ones(n, bool)) if has is None \
                else has.cpu().numpy().astype(bool)
        return res

    def embed(self, clips, *, sources: dict | None = None, plots_of: dict | None = None) -> dict[str, np.ndarray]:
        """``sources``: ``{clip id: media path}`` of clips that are not catalogue items (a query file), for
        a model with a frozen audio expert (its features of catalogue items come from the cache).
        ``plots_of``: ``{clip id: item id}`` for clips that are parts of an item (its scenes): they read
        that item's plot."""
        from reelmatch.dataset.torch import collate

        batch = self._with_audio(self._with_text(collate(clips), plots_of), sources)
        res = self._encode(batch)
        no_audio = ~batch["has_audio"].numpy().astype(bool)
        res["audio"][no_audio] = 0.0  # no audio, no audio score
        return res

    def embed_text_only(self, ids) -> dict[str, np.ndarray]:
        """Vectors of titles with a plot and no clip (``has_visual`` False): the text tower and the fusion
        with the frames and the sound missing. Ids without a cached plot raise ``ValueError``."""
        import torch

        if not self.has_text:
            raise ValueError("the model has no text modality: an item without a clip cannot be embedded")
        missing = [i for i in ids if i not in self.text_vectors]
        if missing:
            raise ValueError(f"no plot text cached for {missing[0]!r}: it has neither a clip nor a plot")
        n, cfg = len(ids), self.model.config
        batch = {"features": torch.zeros(n, 1, self.model.backbone.feature_dim), "mask": torch.zeros(n, 1, dtype=torch.bool),
                 "has_audio": torch.zeros(n, dtype=torch.bool), "ids": list(ids)}
        if cfg.audio_encoder == "convnet":
            batch["spectrogram"] = (torch.zeros(n, 32, 32, 3, dtype=torch.uint8) if cfg.spectrogram == "recipe"
                                    else torch.zeros(n, 64, 32))
        else:
            from reelmatch.model.config import AUDIO_ENCODERS

            batch["audio_features"] = torch.zeros(n, AUDIO_ENCODERS[cfg.audio_encoder])
        res = self._encode(self._with_text(batch))
        res["visual"][:] = 0.0
        res["audio"][:] = 0.0
        res["has_visual"][:] = False
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
            return ModelEmbedder(ckpt, clip_config, text_cache=text_cache_for(ws, ckpt),
                                 audio_cache=audio_cache_for(ws, ckpt, clip_config))
    log.info(
        "no trained model in %s: embedding with the pretrained %s backbone alone "
        "(mean-pooled frame features + log-mel statistics); train a model for genre-aware similarity",
        ws.root, config.backbone,
    )
    return BackboneEmbedder(config.backbone, config.audio_weight)


def text_cache_for(ws, checkpoint_dir):
    """The text feature file of the model's text encoder, brought up to date with the catalogue's plots
    (None for a model without text)."""
    import json
    from pathlib import Path

    text = json.loads((Path(checkpoint_dir) / "config.json").read_text()).get("model", {}).get("text")
    if not text or ws is None:  # (no workspace: no catalogue, no plots)
        return None
    from reelmatch.text.cache import TextFeaturesConfig, update_text_features

    return update_text_features(ws, TextFeaturesConfig(encoder=text)).path


def audio_cache_for(ws, checkpoint_dir, clip_config=None):
    """The audio expert's feature file for a model whose audio tower reads one, brought up to date with the
    catalogue's media (None for the spectrogram ConvNet)."""
    import json
    from pathlib import Path

    doc = json.loads((Path(checkpoint_dir) / "config.json").read_text())
    enc = doc.get("model", {}).get("audio_encoder", "convnet")
    if enc == "convnet" or ws is None:
        return None
    from reelmatch.audioexpert.cache import AudioExpertConfig, update_audio_expert_features

    if clip_config is None and doc.get("clip_config"):
        from reelmatch.dataset.clip import ClipConfig

        clip_config = ClipConfig.from_dict(doc["clip_config"])
    return update_audio_expert_features(ws, AudioExpertConfig(encoder=enc), clip_config=clip_config).path


def embedder_for(ws, meta: dict, *, text_cache=None):
    """The embedder that made embeddings with metadata ``meta``, to embed new files the same way.

    ``text_cache``: the plots' feature file to read (a worker without the workspace
    is handed the path its driver brought up to date; default: the workspace's,
    updated, or none without a workspace).
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
        emb = create_embedder("model", ckpt, text_cache=text_cache if text_cache is not None else text_cache_for(ws, ckpt),
                              audio_cache=audio_cache_for(ws, ckpt, None))
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
