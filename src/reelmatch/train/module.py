"""The LightningModule: phases switch loss, learning rate and unfrozen groups by epoch."""

from __future__ import annotations

import logging

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from reelmatch.train.config import Phase, TrainConfig
from reelmatch.train.mining import MultiLabelTripletMiner

log = logging.getLogger(__name__)


#: the view pairs of the cross-modal phase (a text view would add ("visual", "text"), ("audio", "text"))
SSL_PAIRS = (("visual", "audio"), ("fused", "audio"))
#: cross-modal phase augmentations: each real frame is dropped with this probability (one always stays),
#: the spectrogram is rolled in time by a random shift and the fused view's audio is hidden with this one
SSL_FRAME_DROP = 0.5
SSL_FUSED_AUDIO_DROP = 0.5


def phase_at(phases: tuple[Phase, ...], epoch: int) -> Phase:
    """The phase that epoch ``epoch`` (0-based, over the whole schedule) belongs to."""
    end = 0
    for p in phases:
        end += p.epochs
        if epoch < end:
            return p
    return phases[-1]


class TwoTowerModule(L.LightningModule):
    """Trains a :class:`~reelmatch.model.TwoTower` through ``config.schedule()``.

    ``validate(model) -> dict`` is called at the end of every epoch; its metrics are
    logged as ``val_<name>`` and ``on_best(epoch, metrics)`` is called when
    ``val_<monitor>`` (``map_at_r``; a self-supervised run without labels watches the
    held-out cross-modal recall) improves. With ``last_path`` the resume state is saved there after each epoch.

    A ``cross_modal`` phase trains with :class:`~reelmatch.train.contrastive.CrossModalInfoNCE`
    over the visual, audio and fused embeddings (audio only on items that have it); its
    learned temperature lives here, not in the model (checkpoints keep their weights).
    """

    def __init__(self, model, config: TrainConfig, validate=None, on_best=None, last_path=None,
                 monitor: str = "map_at_r", phases: tuple[Phase, ...] | None = None):
        super().__init__()
        self.monitor = monitor
        self.last_path = None if last_path is None else str(last_path)
        self.model = model
        self.config = config
        self.phases = tuple(phases) if phases is not None else config.schedule()
        self.validate_fn = validate
        self.on_best = on_best
        self.best = -1.0
        from pytorch_metric_learning.distances import LpDistance
        from pytorch_metric_learning.losses import TripletMarginLoss

        distance = LpDistance(normalize_embeddings=True)
        self.triplet = TripletMarginLoss(margin=config.margin, distance=distance)
        self.miner = MultiLabelTripletMiner(margin=config.margin, distance=distance)
        self.contrastive = None
        if any(p.loss == "cross_modal" for p in self.phases):  # only then: other runs keep their resume state
            from reelmatch.train.contrastive import CrossModalInfoNCE

            # the picture is paired with the sound, and the fused view with the sound; not fused with the
            # picture: the fused view contains the picture, so that pair rewards keeping what identifies
            # one item's frames (memorising items) instead of what its sound shares with others
            self.contrastive = CrossModalInfoNCE(pairs=SSL_PAIRS)

    @property
    def phase(self) -> Phase:
        return phase_at(self.phases, self.current_epoch)

    def configure_optimizers(self):
        params = [{"params": list(self.model.parameters())}]
        if self.contrastive is not None:  # the temperature is not decayed (as in CLIP)
            params.append({"params": list(self.contrastive.parameters()), "weight_decay": 0.0})
        return torch.optim.AdamW(params, lr=self.phases[0].lr, weight_decay=self.config.weight_decay,
                                 foreach=True)  # one kernel per step, not one per tensor: the small heads are overhead-bound

    def on_train_epoch_start(self) -> None:
        p = self.phase
        self.model.lock(p.unlocked_groups)
        self.model.train()
        for opt in self.trainer.optimizers:
            for group in opt.param_groups:
                group["lr"] = p.lr

    def _ssl_augment(self, batch: dict) -> dict:
        """Two views that differ each step: a random subset of the frames, the sound rolled in time,
        and the fused view's audio hidden on some items (random, seeded by the run's seed)."""
        b = dict(batch)
        mask = batch["mask"].to(torch.bool)
        dev = mask.device
        keep = mask & (torch.rand(mask.shape, device=dev) >= SSL_FRAME_DROP)
        none = ~keep.any(dim=1) & mask.any(dim=1)
        if none.any():  # keep one random real frame
            score = torch.rand(mask.shape, device=dev).masked_fill(~mask, -1.0)
            pick = torch.zeros_like(mask).scatter_(1, score.argmax(dim=1, keepdim=True), True)
            keep = torch.where(none.unsqueeze(1), pick, keep)
        b["mask"] = keep
        spec = batch["spectrogram"]
        if spec.ndim == 3 and spec.shape[-1] > 1:  # log-mel [B, n_mels, T]: a circular shift in time
            t = spec.shape[-1]
            shift = torch.randint(0, t, (len(spec), 1, 1), device=spec.device)
            idx = (torch.arange(t, device=spec.device).view(1, 1, t) + shift) % t
            b["spectrogram"] = torch.gather(spec, 2, idx.expand_as(spec))
        has_audio = batch["has_audio"].to(torch.bool)
        b["has_audio"] = has_audio & (torch.rand(has_audio.shape, device=dev) >= SSL_FUSED_AUDIO_DROP)
        return b

    def _classify_loss(self, logits: torch.Tensor, genres: torch.Tensor) -> torch.Tensor:
        if self.config.classification == "softmax":  # the recipe: one genre per item (its first)
            return F.cross_entropy(logits, genres.float().argmax(1))
        return F.binary_cross_entropy_with_logits(logits, genres.float())

    def _triplet_loss(self, emb: torch.Tensor, genres: torch.Tensor, rows=None) -> torch.Tensor:
        if rows is not None:
            emb, genres = emb[rows], genres[rows]
        if len(emb) < 3:
            return emb.sum() * 0.0
        triplets = self.miner(emb, genres)
        if len(triplets[0]) == 0:
            return emb.sum() * 0.0
        return self.triplet(emb, None, indices_tuple=triplets)

    def training_step(self, batch, batch_idx):
        p = self.phase
        genres = batch["genres"]
        if p.loss == "cross_modal":
            real_audio = batch["has_audio"].to(torch.bool)
            out = self.model(self._ssl_augment(batch))
            # the audio tower's view needs real audio; the fused view had it hidden on about half the
            # items, so fused-audio teaches the fused head to predict the sound from the picture alone
            views = {"visual": out["visual"], "audio": out["audio"], "fused": out["fused"]}
            loss, parts = self.contrastive(views, {"audio": real_audio})
            n = len(genres)
            self.log("train_cross_modal_loss", loss, on_step=False, on_epoch=True, batch_size=n)
            if "visual-audio" in parts:
                self.log("train_visual_audio_loss", parts["visual-audio"], on_step=False, on_epoch=True, batch_size=n)
            self.log("temperature", self.contrastive.temperature, on_step=False, on_epoch=True, batch_size=n)
            self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=n)
            return loss
        out = self.model(batch)
        if p.loss == "classify":
            loss = self._classify_loss(out["logits"], genres)
            self.log("train_classify_loss", loss, on_step=False, on_epoch=True, batch_size=len(genres))
        else:
            fused = self._triplet_loss(out["fused"], genres)
            visual = self._triplet_loss(out["visual"], genres)
            audio = self._triplet_loss(out["audio"], genres, batch["has_audio"].to(torch.bool))
            towers = visual + audio
            if "text" in out:  # the text tower on the items that have a plot
                towers = towers + self._triplet_loss(out["text"], genres, batch["has_text"].to(torch.bool))
            loss = fused + self.config.tower_weight * towers
            self.log("train_triplet_loss", fused, on_step=False, on_epoch=True, batch_size=len(genres))
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(genres))
        return loss

    def on_train_epoch_end(self) -> None:
        self._validate()
        if self.last_path is not None:  # resume state, after validation so it holds this epoch's best score
            import os

            tmp = f"{self.last_path}.tmp"
            # every rank calls save_checkpoint (it synchronises); only rank 0 writes the file
            self.trainer.save_checkpoint(tmp, weights_only=False)
            if self.trainer.is_global_zero:
                os.replace(tmp, self.last_path)  # a kill mid-write leaves the previous state

    def _validate(self) -> None:
        if self.validate_fn is None:
            return
        was = self.model.training
        self.model.eval()
        metrics = self.validate_fn(self.model)
        self.model.train(was)
        for k, v in metrics.items():
            self.log(f"val_{k}", float(v), prog_bar=(k == "map_at_r"))
        self.log("phase_unlocked_groups", float(self.phase.unlocked_groups))
        if self.monitor not in metrics:  # nothing to choose by: the final model is kept
            return
        score = float(metrics[self.monitor])
        if score > self.best:
            self.best = score
            if self.on_best is not None:
                self.on_best(self.current_epoch, metrics)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["reelmatch_best"] = self.best

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.best = float(checkpoint.get("reelmatch_best", -1.0))


def embed_batches(model, batches) -> np.ndarray:
    """Fused embeddings float32 [N, E] of an iterable of batch dicts (eval mode, no grad)."""
    out = []
    with torch.inference_mode():
        for b in batches:
            out.append(model.encode(b).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.config.embed_dim), np.float32)


def embed_tower_batches(model, batches) -> dict[str, np.ndarray]:
    """``{"visual", "audio", "fused"}`` float32 [N, E] (L2-normalised) and ``"has_audio"`` bool [N]."""
    parts: dict[str, list] = {}
    with torch.inference_mode():
        for b in batches:
            out = model.encode_towers(b)
            for k in ("visual", "audio", "fused"):
                parts.setdefault(k, []).append(out[k].float().cpu().numpy())
            parts.setdefault("has_audio", []).append(b["has_audio"].to(torch.bool).cpu().numpy())
    e = model.config.embed_dim
    res = {k: np.concatenate(v) for k, v in parts.items()}
    for k in ("visual", "audio", "fused"):
        res.setdefault(k, np.zeros((0, e), np.float32))
    res.setdefault("has_audio", np.zeros(0, bool))
    return res


def cross_modal_metrics(towers: dict[str, np.ndarray]) -> dict[str, float]:
    """Held-out audio -> frames and frames -> audio recall@1/@10 over the items with audio, their mean
    recall@10 and mean reciprocal rank (``cross_modal_mrr``: what a run without labels keeps its best epoch by)."""
    from reelmatch.evaluate.metrics import cross_modal_recall

    rows = np.asarray(towers["has_audio"], dtype=bool)
    if rows.sum() < 2:
        return {}
    a, v = towers["audio"][rows], towers["visual"][rows]
    out: dict[str, float] = {}
    mrr = []
    for name, (q, g) in (("audio_to_frames", (a, v)), ("frames_to_audio", (v, a))):
        r = cross_modal_recall(q, g, ks=(1, 10))
        out[f"{name}_recall_at_1"], out[f"{name}_recall_at_10"] = r["recall_at_1"], r["recall_at_10"]
        mrr.append(r["mrr"])
    out["cross_modal_recall_at_10"] = (out["audio_to_frames_recall_at_10"] + out["frames_to_audio_recall_at_10"]) / 2
    out["cross_modal_mrr"] = float(np.mean(mrr))
    out["cross_modal_chance_at_10"] = min(10, int(rows.sum())) / int(rows.sum())
    return out
