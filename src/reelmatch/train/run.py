"""``run_train``: fit the two-tower model on a workspace's clips and genres (Lightning).

Layout of one run (named by a fingerprint of the config, clips and labels)::

    models/run-<fp>/best/{model.safetensors,config.json}   best validation MAP@R
    models/run-<fp>/logs/metrics.csv                         CSV log, one row per epoch
    models/run-<fp>/lightning/last.ckpt                      resume state (ours, trusted)
    models/run-<fp>/done.json                                the run finished
    models/current.json                                      -> the current model
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from reelmatch.config import atomic_write_json, fingerprint
from reelmatch.errors import InputError
from reelmatch.train.config import TrainConfig

log = logging.getLogger(__name__)


def _held_out_ids(splits: dict[str, str], wanted: tuple[str, ...], ws) -> list[str]:
    from reelmatch.train.data import labelled_items

    ids = sorted(i for i, s in splits.items() if s in wanted)
    if len(labelled_items(ws, ids)) < 4 and "test" not in wanted:
        log.info("fewer than 4 labelled items in %s: validating on %s + test", "/".join(wanted), "/".join(wanted))
        ids = sorted(i for i, s in splits.items() if s in wanted + ("test",))
    return ids


def run_dir_for(ws, config: TrainConfig, clip_fp: str, train_items, val_ids, ssl: dict | None = None,
                text: dict | None = None) -> Path:
    doc = {"train": config.fingerprint, "clips": clip_fp,
           "items": [[i, g.nonzero()[0].tolist()] for i, g in zip(train_items.ids, train_items.genres)],
           "vocabulary": train_items.vocabulary, "val": list(val_ids)}
    if ssl:  # self-supervised runs also depend on the unlabelled clips (supervised runs keep their names)
        doc["ssl"] = ssl
    if text:  # runs with plot text also depend on the plots
        doc["text"] = text
    from reelmatch.model.backbones import norm_fingerprint

    norm = norm_fingerprint(config.backbone, config.frame_norm)
    if norm is not None:  # another input normalisation than the backbone had before it could be chosen
        doc["frame_norm"] = norm
    fp = fingerprint(doc)
    return ws.dir("models") / f"run-{fp}"


def run_train(ws, config: TrainConfig = TrainConfig(), *, clip_config=None, resume: bool = True,
              retrain: bool = False, progress: bool = False, devices: int = 1, num_nodes: int = 1,
              strategy: str = "auto", accelerator: str = "cpu") -> Path:
    """Train (or resume, or reuse a finished run) and return the best checkpoint directory.

    The checkpoint becomes the workspace's current model. Frozen-backbone phases
    train from the feature cache (computed here when missing). ``clip_config``:
    the clips to train on (None: the workspace's current clip config).

    Scale-out (Lightning DDP): ``devices`` processes per node (GPUs with
    ``accelerator="gpu"``), ``num_nodes`` nodes; ``strategy`` ``"auto"`` means
    ``"ddp"`` (one process per device, the launcher re-runs this command; gloo on
    CPU, NCCL on GPU) when there is more than one process, ``"ddp_fork"`` runs
    them as forks of this process. Each process takes its own share of every
    epoch's class-balanced batches; only global rank 0 writes checkpoints.
    """
    import lightning as L
    import torch

    from reelmatch.dataset.store import ClipStore
    from reelmatch.evaluate.metrics import retrieval_metrics
    from reelmatch.model import TwoTower
    from reelmatch.model.checkpoint import save, set_current_checkpoint
    from reelmatch.model.modalities import attach_vectors
    from reelmatch.train.data import (BalancedBatchSampler, ClipDataset, FeatureDataset, ShuffledBatchSampler,
                                      collate_labelled)
    from reelmatch.train.module import (TwoTowerModule, cross_modal_metrics, embed_batches, embed_tower_batches,
                                        phase_at)

    t0 = time.perf_counter()
    store = ClipStore(ws, clip_config)
    clip_cfg = store.config
    plan = _plan(ws, store, config)
    if plan.mode == "self-supervised":
        log.info("no genre labels to train on: self-supervised phases alone (%s)",
                 ", ".join(f"{p.name} {p.epochs} epochs" for p in plan.phases))
    train, val_labels, phases, ssl_ids = plan.train, plan.val_labels, plan.phases, plan.ssl_ids
    val_ids = sorted(val_labels)
    text_lookup, text_doc = _text_plan(ws, config, train.ids + list(ssl_ids))
    if text_doc is None and config.model.text:  # no plots to learn from: the model (and its run) is one without text
        config = replace(config, model=replace(config.model, text=None))
    run_dir = run_dir_for(ws, config, clip_cfg.fingerprint, train, val_ids, ssl=plan.fingerprint_extra(),
                          text=text_doc)
    best_dir, done = run_dir / "best", run_dir / "done.json"
    if done.exists() and (best_dir / "config.json").exists() and not retrain:
        log.info("training already done: %s", best_dir)
        set_current_checkpoint(ws, best_dir)
        return best_dir

    cache = None
    if any(p.unlocked_groups == 0 for p in phases):  # frozen-backbone phases train from the feature cache
        cache, train, val_ids, ssl_ids = _feature_cache(ws, config, clip_cfg, train, val_ids, ssl_ids)
    xm_ids = [i for i in plan.xm_ids if cache is None or i in cache]

    L.seed_everything(config.seed, workers=True, verbose=False)
    # the text tower's genre head is fit on the labelled training items that have a plot
    genre_rows = [k for k, i in enumerate(train.ids) if text_lookup is not None and i in text_lookup
                  and train.genres[k].any()]
    model_cfg = replace(config.model, spectrogram=clip_cfg.spectrogram, num_genres=len(train.vocabulary),
                        text=text_doc["encoder"] if text_doc else None,
                        text_dim=text_doc["dim"] if text_doc else config.model.text_dim,
                        text_genre_weight=config.model.text_genre_weight if genre_rows else 0.0)
    model = TwoTower(model_cfg, backbone_weights=config.weights)
    if genre_rows and model.text_tower.genres is not None:
        import torch

        x = torch.from_numpy(np.stack([np.asarray(text_lookup[train.ids[k]], np.float32) for k in genre_rows]))
        loss = model.fit_text_genres(x, torch.from_numpy(train.genres[genre_rows].astype(np.float32)))
        log.info("text genre head: fit on %d plots (logistic loss %.3f)", len(genre_rows), loss)

    audio_lookup, audio_doc = _audio_expert_plan(ws, config, clip_cfg)

    def collate(rows):
        batch = collate_labelled(rows)
        if text_lookup is not None:  # the plot's sentence embedding, where the item has one
            attach_vectors(batch, "text", "has_text", text_lookup, model_cfg.text_dim)
        if audio_lookup is not None:  # the frozen audio expert's vector, where the item has usable sound
            attach_vectors(batch, "audio_features", "has_audio", audio_lookup, audio_doc["dim"])
        return batch

    train_feats = FeatureDataset(cache, train) if cache is not None else None
    train_clips = ClipDataset(store, train)
    unlabelled = lambda ids: type(train)(ids, np.zeros((len(ids), len(train.vocabulary)), bool), train.vocabulary)  # noqa: E731
    ssl_items = unlabelled(ssl_ids)
    ssl_feats = FeatureDataset(cache, ssl_items) if cache is not None and ssl_ids else None
    ssl_clips = ClipDataset(store, ssl_items)
    val_items = unlabelled(val_ids)
    val_feats = FeatureDataset(cache, val_items) if cache is not None and val_ids else None
    val_clips = ClipDataset(store, val_items)
    xm_items = unlabelled(xm_ids)
    xm_feats = FeatureDataset(cache, xm_items) if cache is not None and xm_ids else None
    xm_clips = ClipDataset(store, xm_items)
    val_label_list = [val_labels[i] for i in val_ids]
    if plan.ssl_phases and (ssl_feats is not None or not ssl_ids):  # also with no training clip at all
        with_sound = sum(bool(r["has_audio"]) for r in ssl_feats.records) if ssl_feats is not None else 0
        if with_sound < 4:
            store.close()
            raise InputError(
                f"self-supervised training needs at least 4 training clips with sound, found {with_sound} of "
                f"{len(ssl_ids)}" + ("; there are no genre labels either (import a manifest with genres, "
                                     "or 'add --genre')" if plan.mode == "self-supervised" else ""))

    def batches(ds, size=32):
        for s in range(0, len(ds), size):
            yield collate([ds[k] for k in range(s, min(len(ds), s + size))])

    def validate(m) -> dict:
        res = {}
        if val_ids:
            ds = val_feats if (m.backbone_frozen and val_feats is not None) else val_clips
            v = embed_batches(m, batches(ds))
            res = retrieval_metrics(v, val_label_list, k=10)
            res.pop("queries", None)
        if plan.ssl_phases and xm_ids:  # the towers' agreement on held-out items
            ds = xm_feats if (m.backbone_frozen and xm_feats is not None) else xm_clips
            res.update(cross_modal_metrics(embed_tower_batches(m, batches(ds))))
        return res

    meta = {"clip_config": clip_cfg, "clip_fingerprint": clip_cfg.fingerprint, "genres": train.vocabulary,
            "phases": phases, "train_config": config, "features_fingerprint": cache.fingerprint if cache else None,
            "train_items": len(train), "val_items": len(val_ids), "unlocked_groups": 0}
    if text_doc:
        meta["text"] = text_doc
    if audio_doc:
        meta["audio_expert"] = audio_doc
    if plan.ssl_phases:  # only then (the config.json of supervised models, and their fingerprints, stay as they were)
        meta["training"] = plan.mode
        meta["ssl_items"] = len(ssl_ids)

    def on_best(epoch: int, metrics: dict) -> None:
        if module.global_rank != 0:  # DDP: the other processes hold the same weights
            return
        save(model, best_dir, {**meta, "epoch": epoch, "metrics": metrics,
                               "backbone_trained": phase_at(phases, epoch).unlocked_groups > 0})

    class Data(L.LightningDataModule):
        def train_dataloader(self):
            epoch = self.trainer.current_epoch if self.trainer is not None else 0
            p = phase_at(phases, epoch)
            if p.loss == "cross_modal":  # every training clip, labelled or not, in shuffled batches
                ds = ssl_feats if (p.unlocked_groups == 0 and ssl_feats is not None) else ssl_clips
                sampler = ShuffledBatchSampler(len(ds), config.batch_size, seed=config.seed)
            else:
                ds = train_feats if (p.unlocked_groups == 0 and train_feats is not None) else train_clips
                sampler = BalancedBatchSampler(train.genres, config.batch_size, config.per_genre, seed=config.seed)
            sampler.set_epoch(epoch)
            if self.trainer is not None and self.trainer.world_size > 1:
                sampler = _rank_batches(sampler, self.trainer.global_rank, self.trainer.world_size)
            return torch.utils.data.DataLoader(ds, batch_sampler=sampler, collate_fn=collate, num_workers=0)

    _quiet_lightning()
    ckpt_dir = run_dir / "lightning"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    module = TwoTowerModule(model, config, validate=validate, on_best=on_best, last_path=ckpt_dir / "last.ckpt",
                            monitor=plan.monitor, phases=phases)
    if strategy == "auto" and devices * num_nodes > 1:
        strategy = "ddp"
    if strategy in ("ddp", "ddp_spawn", "ddp_fork", "ddp_notebook"):
        strategy += "_find_unused_parameters_true"  # each phase trains a different part (classifier, towers)
    meta["devices"], meta["num_nodes"] = devices, num_nodes
    trainer = _trainer(run_dir, sum(p.epochs for p in phases), accelerator=accelerator, devices=devices,
                       num_nodes=num_nodes, strategy=strategy, progress=progress)
    last = ckpt_dir / "last.ckpt"
    ckpt_path = str(last) if resume and last.exists() else None
    if ckpt_path:
        log.info("resuming from %s", last)
    log_csv = run_dir / "logs" / "metrics.csv"
    earlier = log_csv.read_text() if ckpt_path and log_csv.exists() else None  # Lightning rewrites it on resume
    trainer.fit(module, datamodule=Data(), ckpt_path=ckpt_path)
    if earlier:
        _merge_csv_logs(log_csv, earlier)
    if not trainer.is_global_zero:  # DDP: rank 0 finishes the run
        store.close()
        return best_dir
    if not (best_dir / "config.json").exists():  # nothing held out to choose by: keep the final model
        save(model.eval(), best_dir, {**meta, "epoch": trainer.current_epoch - 1, "metrics": {},
                                      "note": f"no held-out {'items with audio' if plan.mode == 'self-supervised' else 'labelled items'}: final model"})
    store.close()
    summary = {"seconds": round(time.perf_counter() - t0, 2), "best_map_at_r": module.best, "epochs": trainer.current_epoch}
    if plan.monitor != "map_at_r":  # a self-supervised run chose its best epoch by another metric
        summary["best_map_at_r"] = None
        summary[f"best_{plan.monitor}"] = module.best
    atomic_write_json(done, summary)
    set_current_checkpoint(ws, best_dir)
    log.info("trained (%s) in %.1f s; best held-out %s %.3f: %s", plan.mode, time.perf_counter() - t0, plan.monitor,
             module.best, best_dir)
    return best_dir


@dataclass
class _Plan:
    """What one run trains on: labelled items, held-out labels, the phases, the self-supervised clips."""

    train: object  # LabelledItems
    val_labels: dict
    phases: tuple
    ssl_phases: tuple
    ssl_ids: list
    xm_ids: list  # held-out clips for the cross-modal recall
    mode: str  # "supervised" | "self-supervised" | "self-supervised + supervised"

    @property
    def monitor(self) -> str:
        return "cross_modal_mrr" if self.mode == "self-supervised" else "map_at_r"

    def fingerprint_extra(self) -> dict | None:
        if not self.ssl_phases:
            return None
        return {"phases": [p.to_dict() for p in self.phases], "items": list(self.ssl_ids), "held_out": list(self.xm_ids)}


def _plan(ws, store, config: TrainConfig) -> _Plan:
    """Labelled items, phases and self-supervised clips of a run; InputError if there is nothing to learn from.

    With enough labels (4 trailers, 2 genres in the train split) the schedule runs as
    configured (its ``cross_modal`` phases on every training clip, labelled or not).
    Without, the self-supervised phases run alone (the schedule's, else
    :data:`~reelmatch.train.config.SSL_PHASE`) and the model is ``self-supervised``.
    """
    from reelmatch.train.config import SSL_PHASE
    from reelmatch.train.data import labelled_items

    splits = store.splits()
    train_ids = sorted(i for i, s in splits.items() if s == "train")
    train = labelled_items(ws, train_ids)
    ssl_phases = config.self_supervised_phases()
    if len(train) >= 4 and len(train.vocabulary) >= 2:
        phases, mode = config.schedule(), ("self-supervised + supervised" if ssl_phases else "supervised")
    else:
        if len(train):
            log.info("only %d labelled trailer(s) and %d genre(s) in the train split: training self-supervised alone",
                     len(train), len(train.vocabulary))
        ssl_phases = ssl_phases or (SSL_PHASE,)
        phases, mode = ssl_phases, "self-supervised"
        train = type(train)([], np.zeros((0, 0), bool), [])
    val_labels = {}
    for i in _held_out_ids(splits, tuple(config.val_splits), ws):
        item = ws.catalog.maybe_get(i)
        if item is not None and item.kind == "trailer" and item.genres:
            val_labels[i] = set(item.genres)
    ssl_ids, xm_ids = [], []
    if ssl_phases:
        ssl_ids = [i for i in train_ids if ws.catalog.maybe_get(i) is not None]
        wanted = tuple(config.val_splits)
        held = sorted(i for i, s in splits.items() if s in wanted)
        if len(held) < 8 and "test" not in wanted:
            held = sorted(i for i, s in splits.items() if s in wanted + ("test",))
        xm_ids = [i for i in held if ws.catalog.maybe_get(i) is not None]
    return _Plan(train, val_labels, tuple(phases), tuple(ssl_phases), ssl_ids, xm_ids, mode)


def _text_plan(ws, config: TrainConfig, train_ids) -> tuple[dict | None, dict | None]:
    """``(plot sentence embeddings {id: float32 [D]}, the run's text record)`` for a model with text, brought
    up to date with the catalogue's plots; ``(None, None)`` when the model has no text or no training item
    has a plot (the model is then trained, and stored, without the text modality)."""
    encoder = config.model.text
    if not encoder:
        return None, None
    from reelmatch.text.cache import TextFeaturesConfig, read_text_features, update_text_features
    from reelmatch.text.encoder import text_encoder_spec

    tcfg = TextFeaturesConfig(encoder=encoder)
    wanted = set(train_ids)
    if not any(plot_ok(ws, i) for i in wanted):
        log.info("no training item has a plot: the model is trained without the text modality")
        return None, None
    res = update_text_features(ws, tcfg)
    ids, digests, vectors = read_text_features(res.path)
    lookup = {i: vectors[k] for k, i in enumerate(ids)}
    with_plot = sorted((i, d) for i, d in zip(ids, digests) if i in wanted)
    log.info("plot text: %d of %d training items have a plot (%s)", len(with_plot), len(wanted), res.summary())
    digest = fingerprint(with_plot)  # the plots' text digests: an edited plot is another run
    return lookup, {"encoder": encoder, "dim": text_encoder_spec(encoder).dim, "cache": tcfg.cache_fingerprint(),
                    "train_plots": len(with_plot), "plots": digest}


def _audio_expert_plan(ws, config: TrainConfig, clip_cfg) -> tuple[dict | None, dict | None]:
    """``(the frozen audio expert's vectors {id: float32 [Da]}, the run's record)`` for a model whose audio
    tower reads one (the cache is brought up to date first), ``(None, None)`` for the spectrogram ConvNet."""
    enc = config.model.audio_encoder
    if enc == "convnet":
        return None, None
    from reelmatch.audioexpert.cache import AudioExpertConfig, load_audio_expert_features, update_audio_expert_features
    from reelmatch.model.config import AUDIO_ENCODERS

    acfg = AudioExpertConfig(encoder=enc)
    res = update_audio_expert_features(ws, acfg, clip_config=clip_cfg)
    log.info("audio expert %s: %s", enc, res.summary())
    lookup = load_audio_expert_features(ws, acfg, clip_config=clip_cfg)
    return lookup, {"encoder": enc, "dim": AUDIO_ENCODERS[enc], "config": acfg.to_dict(),
                    "cache": acfg.cache_fingerprint(clip_cfg), "items": len(lookup)}


def plot_ok(ws, item_id: str) -> bool:
    """The item has a usable plot (the text modality's 'present')."""
    from reelmatch.text.encoder import plot_text

    item = ws.catalog.maybe_get(item_id)
    return item is not None and plot_text(item.plot) is not None


def _feature_cache(ws, config: TrainConfig, clip_cfg, train, val_ids, ssl_ids=()):
    """The feature cache (computed where missing), and the train items, held-out ids and
    self-supervised ids it has features of."""
    from reelmatch.train.features import FeatureCache, FeaturesConfig, compute_features

    fcfg = FeaturesConfig(backbone=config.backbone, pretrained=config.pretrained, weights=config.weights,
                          norm=config.frame_norm)
    rep = compute_features(ws, config=fcfg, clip_config=clip_cfg)
    if rep["done"]:
        log.info("cached features of %d clips (%.1f s)", rep["done"], rep["seconds"])
    cache = FeatureCache(ws, fcfg, clip_cfg)
    missing = [i for i in sorted(set(train.ids + val_ids + list(ssl_ids))) if i not in cache]
    if missing:
        log.warning("%d clips have no cached features (failed): left out of training", len(missing))
        keep = np.array([i in cache for i in train.ids], dtype=bool)
        train = type(train)([i for i, k in zip(train.ids, keep) if k], train.genres[keep], train.vocabulary)
        val_ids = [i for i in val_ids if i in cache]
        ssl_ids = [i for i in ssl_ids if i in cache]
    return cache, train, val_ids, list(ssl_ids)


def _rank_batches(batches, rank: int, world: int):
    """DDP: process ``rank`` of ``world`` takes every ``world``-th batch; all take the same number."""
    import torch

    class RankBatches(torch.utils.data.Sampler):
        def __len__(self) -> int:
            return max(1, len(batches) // world)

        def __iter__(self):
            every = list(batches)
            mine = every[rank::world][: len(self)]
            yield from mine or [every[rank % len(every)]]

    return RankBatches()


def _quiet_lightning() -> None:
    import warnings

    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.seed",
                 "lightning.pytorch.trainer.connectors.checkpoint_connector"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")  # the frozen backbone, on purpose
    warnings.filterwarnings("ignore", message=r".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=r".*sync_dist=True.*")  # DDP: rank 0's epoch metrics are logged


def _trainer(run_dir: Path, max_epochs: int, *, accelerator, devices, num_nodes, strategy, progress):
    import lightning as L
    from lightning.pytorch.loggers import CSVLogger

    return L.Trainer(
        max_epochs=max_epochs, accelerator=accelerator, devices=devices, num_nodes=num_nodes, strategy=strategy,
        logger=CSVLogger(str(run_dir), name="logs", version=""),
        enable_checkpointing=False,  # the module saves the resume state itself, after validation
        reload_dataloaders_every_n_epochs=1, num_sanity_val_steps=0, limit_val_batches=0,
        enable_progress_bar=progress, enable_model_summary=False, log_every_n_steps=1,
        deterministic="warn", use_distributed_sampler=False,
    )


def _merge_csv_logs(path: Path, earlier: str) -> None:
    """Put back the rows of epochs logged before a resume (columns united, by epoch)."""
    import csv
    import io

    from reelmatch.config import atomic_write_bytes

    old = list(csv.DictReader(io.StringIO(earlier)))
    new = list(csv.DictReader(io.StringIO(path.read_text()))) if path.exists() else []
    resumed_from = min((int(r["epoch"]) for r in new if r.get("epoch")), default=None)
    rows = [r for r in old if resumed_from is None or int(r["epoch"]) < resumed_from] + new
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_bytes(path, out.getvalue().encode())


def read_run_summary(checkpoint_dir) -> dict:
    """``done.json`` of the run a checkpoint belongs to ({} if unfinished)."""
    p = Path(checkpoint_dir).parent / "done.json"
    return json.loads(p.read_text()) if p.exists() else {}
