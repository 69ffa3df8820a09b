"""The two-tower model: frames (backbone + temporal pooling) and audio (ConvNet), fused.

Batch dicts (see :func:`reelmatch.dataset.torch.collate`):

- ``frames`` uint8 [B, K, S, S, 3] *or* ``features`` float [B, K, D] (cached backbone output);
- ``mask`` bool [B, K]; ``spectrogram`` float [B, n_mels, T] or uint8 [B, S, S, 3];
- ``has_audio`` bool [B].

Outputs, each [B, embed_dim] and L2-normalised when ``normalize=True``:
``visual`` (frames tower alone), ``audio`` (audio tower alone; zeros without audio)
and ``fused`` (concatenation -> projection). An item without audio uses a learned
"no audio" vector in the fusion; in training, ``modality_dropout`` hides the audio
of some items so that this case is learned.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from reelmatch.model.audio import AudioConvNet
from reelmatch.model.backbones import create_backbone
from reelmatch.model.config import ModelConfig
from reelmatch.model.pooling import POOLING_CLASSES


class TwoTower(nn.Module):
    def __init__(self, config: ModelConfig = ModelConfig(), *, backbone_weights=None):
        super().__init__()
        self.config = config
        self.backbone = create_backbone(config.backbone, pretrained=config.pretrained, weights=backbone_weights,
                                        norm=config.frame_norm)
        d, h = self.backbone.feature_dim, config.hidden
        self.frame_proj = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, h), nn.ReLU(), nn.Dropout(config.dropout))
        self.pool = POOLING_CLASSES[config.pooling](h)
        self.audio = AudioConvNet(config.audio_dim, config.spectrogram)
        self.no_audio = nn.Parameter(torch.zeros(config.audio_dim))
        self.visual_head = nn.Linear(h, config.embed_dim)
        self.audio_head = nn.Linear(config.audio_dim, config.embed_dim)
        self.fuse = nn.Sequential(
            nn.Linear(h + config.audio_dim, h), nn.ReLU(), nn.Dropout(config.dropout), nn.Linear(h, config.embed_dim)
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

    def _visual_hidden(self, feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask = mask.to(torch.bool)
        return self.pool(self.frame_proj(feats.float()), mask)

    def forward(self, batch: dict) -> dict:
        """Unnormalised ``visual``, ``audio``, ``fused`` [B, E], ``logits`` [B, G] (if a head) and ``has_audio``."""
        mask = batch["mask"].to(torch.bool)
        feats = batch["features"] if "features" in batch else self.frame_features(batch["frames"], mask)
        vh = self._visual_hidden(feats, mask)
        has_audio = batch["has_audio"].to(torch.bool)
        if self.training and self.config.modality_dropout > 0:
            keep = torch.rand(has_audio.shape, device=has_audio.device) >= self.config.modality_dropout
            has_audio = has_audio & keep
        a_raw = self.audio(batch["spectrogram"])
        ah = torch.where(has_audio.unsqueeze(-1), a_raw, self.no_audio.expand_as(a_raw))
        out = {
            "visual": self.visual_head(vh),
            "audio": self.audio_head(a_raw),
            "fused": self.fuse(torch.cat([vh, ah], dim=-1)),
            "has_audio": has_audio,
        }
        if self.classifier is not None:
            out["logits"] = self.classifier(out["fused"])
        return out

    def encode_towers(self, batch: dict) -> dict:
        """``{"visual", "audio", "fused"}`` [B, E], L2-normalised (audio rows without audio are zeros)."""
        out = self.forward(batch)
        res = {k: F.normalize(out[k], dim=-1) for k in ("visual", "audio", "fused")}
        res["audio"] = res["audio"] * out["has_audio"].unsqueeze(-1).to(res["audio"].dtype)
        return res

    def encode(self, batch: dict, normalize: bool = True) -> torch.Tensor:
        """The fused embedding [B, E]."""
        f = self.forward(batch)["fused"]
        return F.normalize(f, dim=-1) if normalize else f
