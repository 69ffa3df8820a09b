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
    ``val_map_at_r`` improves. With ``last_path`` the resume state is saved there after each epoch.
    """

    def __init__(self, model, config: TrainConfig, validate=None, on_best=None, last_path=None):
        super().__init__()
        self.last_path = None if last_path is None else str(last_path)
        self.model = model
        self.config = config
        self.phases = config.schedule()
        self.validate_fn = validate
        self.on_best = on_best
        self.best = -1.0
        from pytorch_metric_learning.distances import LpDistance
        from pytorch_metric_learning.losses import TripletMarginLoss

        distance = LpDistance(normalize_embeddings=True)
        self.triplet = TripletMarginLoss(margin=config.margin, distance=distance)
        self.miner = MultiLabelTripletMiner(margin=config.margin, distance=distance)

    @property
    def phase(self) -> Phase:
        return phase_at(self.phases, self.current_epoch)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.model.parameters(), lr=self.phases[0].lr, weight_decay=self.config.weight_decay,
                                 foreach=True)  # one kernel per step, not one per tensor: the small heads are overhead-bound

    def on_train_epoch_start(self) -> None:
        p = self.phase
        self.model.lock(p.unlocked_groups)
        self.model.train()
        for opt in self.trainer.optimizers:
            for group in opt.param_groups:
                group["lr"] = p.lr

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
        out = self.model(batch)
        genres = batch["genres"]
        p = self.phase
        if p.loss == "classify":
            loss = self._classify_loss(out["logits"], genres)
            self.log("train_classify_loss", loss, on_step=False, on_epoch=True, batch_size=len(genres))
        else:
            fused = self._triplet_loss(out["fused"], genres)
            visual = self._triplet_loss(out["visual"], genres)
            audio = self._triplet_loss(out["audio"], genres, batch["has_audio"].to(torch.bool))
            loss = fused + self.config.tower_weight * (visual + audio)
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
        score = float(metrics.get("map_at_r", 0.0))
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
