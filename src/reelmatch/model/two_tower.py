"""The multi-tower model: frames (backbone + temporal pooling), audio, plot text; fused with a presence mask.

The towers are the modalities of :mod:`reelmatch.model.modalities`; which ones a
model has is its config (``ModelConfig.modalities``). Batch dicts (see
:func:`reelmatch.dataset.torch.collate` and :func:`reelmatch.model.modalities.attach_vectors`):

- ``frames`` uint8 [B, K, S, S, 3] *or* ``features`` float [B, K, D] (cached backbone output);
  ``mask`` bool [B, K] (an item without a clip, a plot-only title, has no real frame);
- ``spectrogram`` float [B, n_mels, T] or uint8 [B, S, S, 3] (``audio_encoder="convnet"``), or
  ``audio_features`` float [B, Da] (a frozen audio expert); ``has_audio`` bool [B];
- ``text`` float [B, Dt] (frozen sentence embeddings of the plot), ``has_text`` bool [B] (text models).

Outputs, each [B, embed_dim] and L2-normalised by :meth:`TwoTower.encode_towers` (``text``: [B, embed_dim +
num_genres] when the text tower has its genre head, see :func:`reelmatch.model.text.text_embedding`):
``visual``, ``audio``, ``text`` (each tower alone) and ``fused``. A missing modality
enters the fusion as its learned "missing" vector (``no_audio``, ``no_text``,
``no_visual``), or is masked out of the transformer fusion; in training,
``modality_dropout`` hides modalities of some items so that these cases are learned.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from reelmatch.model.audio import AudioConvNet
from reelmatch.model.backbones import create_backbone
from reelmatch.model.config import AUDIO_ENCODERS, ModelConfig
from reelmatch.model.pooling import POOLING_CLASSES
from reelmatch.model.text import TextTower, text_embedding


class AudioExpertHead(nn.Module):
    """The trainable head over a frozen audio expert's embedding: float [B, in_dim] -> [B, out_dim]."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float = 0.1):
        super().__init__()
        self.in_dim = in_dim
        self.net = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, out_dim), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(out_dim, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"audio expert features must be [B, {self.in_dim}], got {tuple(x.shape)}")
        return self.net(x.float())


class TokenFusion(nn.Module):
    """A small transformer over modality tokens: the K frame tokens, one audio token, one text token
    and a learned summary token, with a key-padding mask for what is missing; the summary token's
    output -> the fused embedding."""

    def __init__(self, hidden: int, audio_dim: int, text: bool, embed_dim: int, dropout: float,
                 layers: int = 2, heads: int = 4, max_frames: int = 256):
        super().__init__()
        self.cls = nn.Parameter(torch.zeros(1, 1, hidden))
        self.frame_pos = nn.Parameter(torch.zeros(max_frames, hidden))
        self.types = nn.Parameter(torch.zeros(3, hidden))  # frame, audio, text
        self.audio_in = nn.Linear(audio_dim, hidden)
        self.text = text
        layer = nn.TransformerEncoderLayer(hidden, heads, 2 * hidden, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, embed_dim))
        nn.init.normal_(self.cls, std=0.02)
        nn.init.normal_(self.frame_pos, std=0.02)
        nn.init.normal_(self.types, std=0.02)

    def forward(self, frames, frame_mask, audio, has_audio, text=None, has_text=None):
        """frames [B, K, H] + bool [B, K]; audio [B, A] + bool [B]; text [B, H] + bool [B] -> [B, E]."""
        b, k, _ = frames.shape
        if k > self.frame_pos.shape[0]:
            raise ValueError(f"transformer fusion supports at most {self.frame_pos.shape[0]} frames, got {k}")
        tokens = [self.cls.expand(b, 1, -1), frames + self.frame_pos[:k] + self.types[0],
                  (self.audio_in(audio) + self.types[1]).unsqueeze(1)]
        present = [torch.ones(b, 1, dtype=torch.bool, device=frames.device), frame_mask, has_audio.unsqueeze(1)]
        if self.text:
            tokens.append((text + self.types[2]).unsqueeze(1))
            present.append(has_text.unsqueeze(1))
        x = self.encoder(torch.cat(tokens, dim=1), src_key_padding_mask=~torch.cat(present, dim=1))
        return self.out(x[:, 0])


class TwoTower(nn.Module):
    def __init__(self, config: ModelConfig = ModelConfig(), *, backbone_weights=None):
        super().__init__()
        self.config = config
        self.backbone = create_backbone(config.backbone, pretrained=config.pretrained, weights=backbone_weights,
                                        norm=config.frame_norm)
        d, h, a = self.backbone.feature_dim, config.hidden, config.audio_dim
        self.frame_proj = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, h), nn.ReLU(), nn.Dropout(config.dropout))
        self.pool = POOLING_CLASSES[config.pooling](h)
        expert_dim = AUDIO_ENCODERS[config.audio_encoder]
        self.audio = AudioConvNet(a, config.spectrogram) if expert_dim is None else AudioExpertHead(expert_dim, a, config.dropout)
        self.no_audio = nn.Parameter(torch.zeros(a))
        self.visual_head = nn.Linear(h, config.embed_dim)
        self.audio_head = nn.Linear(a, config.embed_dim)
        has_text = config.text is not None
        if has_text:  # (models without text keep exactly the parameters they always had)
            # the genre head (fit by fit_text_genres before training) only where its share is > 0
            self.text_tower = TextTower(config.text_dim, h,
                                        num_genres=config.num_genres if config.text_genre_weight > 0 else 0,
                                        centre=config.text_genre_centre)
            self.no_text = nn.Parameter(torch.zeros(h))
            self.text_head = nn.Linear(h, config.embed_dim)
            self.no_visual = nn.Parameter(torch.zeros(h))  # a plot-only title: no frames
        if config.fusion == "transformer":
            self.fuse = TokenFusion(h, a, has_text, config.embed_dim, config.dropout)
        else:
            self.fuse = nn.Sequential(
                nn.Linear(h + a + (h if has_text else 0), h), nn.ReLU(), nn.Dropout(config.dropout),
                nn.Linear(h, config.embed_dim)
            )
        self.classifier = nn.Linear(config.embed_dim, config.num_genres) if config.num_genres else None
        self.unlocked_groups = -1  # all trainable until lock()
        self.lock(0)

    # ---- progressive unfreezing -------------------------------------------------------------
    def lock(self, unlocked_groups: int = 0) -> "TwoTower":
        """Freeze the backbone except its last ``unlocked_groups`` groups (idempotent).

        Frozen groups also keep their batch-norm statistics (they stay in eval mode).
        ``unlocked_groups >= backbone.num_groups`` trains the whole backbone.
        """
        groups = self.backbone.groups()
        n = max(0, min(int(unlocked_groups), len(groups)))
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        for g in groups[len(groups) - n :]:
            for p in g.parameters():
                p.requires_grad_(True)
        self.unlocked_groups = n
        self.train(self.training)
        return self

    @property
    def backbone_frozen(self) -> bool:
        return self.unlocked_groups == 0

    def train(self, mode: bool = True) -> "TwoTower":
        super().train(mode)
        if mode:
            groups = self.backbone.groups()
            if self.unlocked_groups <= 0:
                self.backbone.eval()
            else:
                for g in groups[: len(groups) - self.unlocked_groups]:
                    g.eval()
        return self

    # ---- towers -------------------------------------------------------------------------------
    def frame_features(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """uint8 [B, K, S, S, 3] + bool [B, K] -> float32 [B, K, D] (backbone on real frames only)."""
        if frames.ndim != 5:
            raise ValueError(f"frames must be [B, K, S, S, 3], got {tuple(frames.shape)}")
        b, k = frames.shape[:2]
        mask = mask.to(torch.bool)
        feats = torch.zeros(b, k, self.backbone.feature_dim, device=self.no_audio.device)
        if mask.any():
            x = self.backbone.preprocess(frames[mask])
            with torch.set_grad_enabled(torch.is_grad_enabled() and not self.backbone_frozen):
                f = self.backbone(x)
            feats = feats.to(f.dtype).index_put((mask,), f)
        return feats

    def _dropout(self, has_visual, has_audio, has_text):
        """Training: hide each present modality of an item with probability ``modality_dropout``; the
        frames only where the item keeps another modality (an item never loses all of them)."""
        p = self.config.modality_dropout
        pt = p if self.config.text_dropout is None else self.config.text_dropout
        if not self.training or (p <= 0 and (has_text is None or pt <= 0)):
            return has_visual, has_audio, has_text
        dev = has_audio.device
        has_audio = has_audio & (torch.rand(has_audio.shape, device=dev) >= p)  # the first draw, as before text
        if has_text is None:
            return has_visual, has_audio, has_text
        has_text = has_text & (torch.rand(has_text.shape, device=dev) >= pt)
        hide_visual = (torch.rand(has_visual.shape, device=dev) < p) & (has_audio | has_text)
        return has_visual & ~hide_visual, has_audio, has_text

    def forward(self, batch: dict) -> dict:
        """Unnormalised ``visual``, ``audio``, ``text`` (text models), ``fused`` [B, E], ``logits`` [B, G]
        (if a head) and the presence masks ``has_visual``, ``has_audio``, ``has_text`` bool [B]."""
        mask = batch["mask"].to(torch.bool)
        feats = batch["features"] if "features" in batch else self.frame_features(batch["frames"], mask)
        frames_h = self.frame_proj(feats.float())
        vh = self.pool(frames_h, mask)
        has_visual = mask.any(dim=1)
        has_audio = batch["has_audio"].to(torch.bool)
        text_model = self.config.text is not None
        has_text = None
        if text_model:
            has_text = batch["has_text"].to(torch.bool) if "has_text" in batch else torch.zeros_like(has_audio)
        has_visual, has_audio, has_text = self._dropout(has_visual, has_audio, has_text)
        if self.config.audio_encoder == "convnet":
            a_raw = self.audio(batch["spectrogram"])
        else:
            a_raw = self.audio(batch["audio_features"])
        ah = torch.where(has_audio.unsqueeze(-1), a_raw, self.no_audio.expand_as(a_raw))
        out = {"visual": self.visual_head(vh), "audio": self.audio_head(a_raw), "has_audio": has_audio,
               "has_visual": has_visual}
        parts = [vh, ah]
        th = None
        if text_model:
            text = batch.get("text")
            if text is None:
                text = torch.zeros(len(has_audio), self.config.text_dim, device=a_raw.device)
            t_raw = self.text_tower(text.float())
            th = torch.where(has_text.unsqueeze(-1), t_raw, self.no_text.expand_as(t_raw))
            out["text"] = self.text_head(t_raw)
            if self.text_tower.genres is not None:
                out["text_genres"] = self.text_tower.genre_vector(text)
            out["has_text"] = has_text
            parts = [torch.where(has_visual.unsqueeze(-1), vh, self.no_visual.expand_as(vh)), ah, th]
        if self.config.fusion == "transformer":
            out["fused"] = self.fuse(frames_h, mask & has_visual.unsqueeze(1), a_raw, has_audio, th, has_text)
        else:
            out["fused"] = self.fuse(torch.cat(parts, dim=-1))
        if self.classifier is not None:
            out["logits"] = self.classifier(out["fused"])
        return out

    def encode_towers(self, batch: dict) -> dict:
        """``{"visual", "audio", "fused"}`` (and ``"text"`` for text models) [B, E], L2-normalised; a tower's
        rows for items without that modality are zeros. Also ``has_visual``, ``has_audio``, ``has_text`` bool [B]."""
        out = self.forward(batch)
        res = {k: F.normalize(out[k], dim=-1) for k in ("visual", "audio", "fused")}
        if "text" in out:  # the projection, and the genre probabilities where the tower has its genre head
            res["text"] = text_embedding(out["text"], out.get("text_genres"), self.config.text_genre_weight)
        for name in ("visual", "audio", "text"):
            if name in res:
                res[name] = res[name] * out[f"has_{name}"].unsqueeze(-1).to(res[name].dtype)
                res[f"has_{name}"] = out[f"has_{name}"]
        return res

    def fit_text_genres(self, text: torch.Tensor, genres: torch.Tensor) -> float | None:
        """Fit the text tower's genre head on the training items' plot embeddings float32 [N, text_dim] and
        their multi-hot genres [N, num_genres] (see :meth:`TextTower.fit_genres`); None without a head."""
        if self.config.text is None or self.text_tower.genres is None:
            return None
        from reelmatch.text.encoder import text_encoder_spec

        return self.text_tower.fit_genres(text, genres, c=text_encoder_spec(self.config.text).genre_c)

    def encode(self, batch: dict, normalize: bool = True) -> torch.Tensor:
        """The fused embedding [B, E]."""
        f = self.forward(batch)["fused"]
        return F.normalize(f, dim=-1) if normalize else f
