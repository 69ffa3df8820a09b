"""``build``: every stage in order, with sensible defaults, resumable.

extract -> features -> train (only with genre labels) -> embed -> index
-> dedupe (optional) -> evaluate (only with a trained model and held-out labels)

Each stage is the library function of its own module and already skips
finished work (per-item fingerprints in the catalogue, artifact sidecars), so a
second ``run_build`` on an unchanged workspace does nothing new, and a build
killed midway resumes where it stopped. This module only orders the stages,
decides which apply, and reports progress through one callback.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from reelmatch.extract.config import ClipConfig

log = logging.getLogger(__name__)

#: stage names in build order
BUILD_STAGES = ("extract", "features", "train", "embed", "index", "dedupe", "evaluate")


@dataclass(frozen=True)
class BuildConfig:
    """Defaults for every stage of ``build``.

    clip: sampling of frames and audio; None = the workspace's current clip
        config (what it was last extracted with), else the recipe's values.
    train: a ``reelmatch.train.TrainConfig``; None = the current model's
        training config (so a build after ``demo`` resumes it), else the defaults.
    embed / index / eval: an ``EmbedConfig`` / ``IndexConfig`` / ``EvalConfig``; None = defaults.
    workers: worker processes for per-item stages (None = CPU count).
    dedupe: also compute copy-detection descriptors.
    evaluate: write metrics, plots and the HTML report at the end.
    retry_failed: retry items that failed a stage before.
    """

    clip: ClipConfig | None = None
    train: Any = None
    embed: Any = None
    index: Any = None
    eval: Any = None
    workers: int | None = None
    dedupe: bool = False
    evaluate: bool = True
    retry_failed: bool = False


@dataclass
class StageReport:
    """One stage's outcome: ``ran`` (work done), ``skipped`` (reason) and a summary line."""

    name: str
    status: str  # "ran" | "skipped" | "up to date" | "failed"
    summary: str = ""
    seconds: float = 0.0
    result: Any = None


@dataclass
class BuildReport:
    stages: list[StageReport] = field(default_factory=list)

    def by_name(self, name: str) -> StageReport | None:
        return next((s for s in self.stages if s.name == name), None)

    @property
    def did_work(self) -> bool:
        return any(s.status == "ran" for s in self.stages)


class BuildProgress:
    """Callbacks ``run_build`` calls; the CLI turns them into one progress display.

    ``stage(name, i, n)`` when stage ``i`` of ``n`` starts, ``message(text)`` for
    a status line, ``items(done, total)`` for per-item progress inside a stage.
    The default does nothing (library use).
    """

    def stage(self, name: str, index: int, total: int) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def items(self, done: int, total: int) -> None:
        pass

    def stage_done(self, report: StageReport) -> None:
        pass


def has_genre_labels(ws) -> bool:
    """True when some trailer carries a genre (training needs labels)."""
    return any(item.genres for item in ws.catalog.items(kind="trailer"))


def run_build(ws, config: BuildConfig = BuildConfig(), *, progress: BuildProgress | None = None) -> BuildReport:
    """Run every applicable stage in order; returns what each did.

    A stage that fails as a whole (not per item: bad items are recorded in the
    catalogue and the batch goes on) raises, after earlier stages' work is kept.
    """
    progress = progress or BuildProgress()
    config = resolve_defaults(ws, config)
    report = BuildReport()
    stages = [s for s in BUILD_STAGES if s != "dedupe" or config.dedupe]
    for i, name in enumerate(stages):
        progress.stage(name, i, len(stages))
        t0 = time.perf_counter()
        stage_fn = globals()[f"_stage_{name}"]
        rep = stage_fn(ws, config, progress)
        rep.seconds = time.perf_counter() - t0
        log.info("build: %s %s in %.1f s: %s", name, rep.status, rep.seconds, rep.summary)
        report.stages.append(rep)
        progress.stage_done(rep)
    return report


def resolve_defaults(ws, config: BuildConfig) -> BuildConfig:
    """Fill ``clip`` and ``train`` left as None from what the workspace was built with."""
    import dataclasses

    clip, train = config.clip, config.train
    if clip is None:
        try:
            from reelmatch.dataset.store import current_config

            clip = current_config(ws)
        except Exception:  # never extracted (or unreadable): the recipe's sampling
            clip = ClipConfig()
    if train is None:
        train = _current_train_config(ws)
    return dataclasses.replace(config, clip=clip, train=train)


def _current_train_config(ws):
    """The TrainConfig that made the current model, else the defaults."""
    from reelmatch.train import Phase, TrainConfig

    try:
        from reelmatch.model.checkpoint import current_checkpoint, read_config

        ckpt = current_checkpoint(ws)
        if ckpt is not None:
            fields = dict(read_config(ckpt)["train_config"])
            fields["phases"] = tuple(Phase(**ph) for ph in fields.get("phases", ()))
            fields["val_splits"] = tuple(fields.get("val_splits", ("val",)))
            return TrainConfig(**fields)
    except Exception as e:  # an older or foreign checkpoint: start from the defaults
        log.info("build: current model's training config not reusable (%s): defaults", e)
    return TrainConfig()


# --------------------------------------------------------------------- stages
# Each returns a StageReport. They call the stage modules' public entry points.


def _stage_extract(ws, config: BuildConfig, progress: BuildProgress) -> StageReport:
    from reelmatch.extract import run_extract

    res = run_extract(
        ws, config.clip, workers=config.workers, retry_failed=config.retry_failed,
        progress=lambda done, total, *_: progress.items(done, total),
    )
    if res["total"] == 0:
        return StageReport("extract", "up to date", f"{res['clips']} clips", result=res)
    summary = f"{res['done']} extracted, {res['failed']} failed, {res['clips']} clips in the store"
    return StageReport("extract", "ran", summary, result=res)


def _stage_features(ws, config: BuildConfig, progress: BuildProgress) -> StageReport:
    from reelmatch.train.features import FeaturesConfig, compute_features

    train = _train_config(config)
    fcfg = FeaturesConfig(backbone=train.backbone, pretrained=train.pretrained, weights=train.weights)
    res = compute_features(ws, config=fcfg, retry_failed=config.retry_failed, progress=progress.items)
    if res["done"] == 0 and res["failed"] == 0:
        return StageReport("features", "up to date", f"{res['already_done']} clips cached", result=res)
    summary = f"{train.backbone} features of {res['done']} clips cached, {res['failed']} failed"
    return StageReport("features", "ran", summary, result=res)


def _train_config(config: BuildConfig):
    from reelmatch.train import TrainConfig

    return config.train if config.train is not None else TrainConfig()


def _stage_train(ws, config: BuildConfig, progress: BuildProgress) -> StageReport:
    from reelmatch.errors import InputError
    from reelmatch.train import run_train

    if not has_genre_labels(ws):
        return StageReport(
            "train", "skipped",
            "no trailer has genre labels: nothing to learn from, so embed uses the pretrained backbone alone "
            "(import a manifest with genres, or 'add --genre', to train)",
        )
    progress.message("fitting the model (phases: warm-up, triplets)")
    t_start = time.time()
    try:
        best = run_train(ws, _train_config(config))
    except InputError as e:  # too few labelled trailers or genres: say so, go on with the backbone
        return StageReport("train", "skipped", f"{e}; embed uses the pretrained backbone alone")
    done = best.parent / "done.json"
    summary = _train_summary(best)
    if done.exists() and done.stat().st_mtime < t_start:
        return StageReport("train", "up to date", summary, result=best)
    return StageReport("train", "ran", summary, result=best)


def _train_summary(best) -> str:
    import json

    try:
        doc = json.loads((best.parent / "done.json").read_text())
        return f"{doc.get('epochs')} epochs, best held-out MAP@R {float(doc.get('best_map_at_r') or 0):.3f}: {best}"
    except (OSError, ValueError):
        return str(best)


def _stage_embed(ws, config: BuildConfig, progress: BuildProgress) -> StageReport:
    from reelmatch.embed import EmbedConfig, embeddings_path, load_embeddings, run_embed

    cfg = config.embed or EmbedConfig()
    before = _vectors_fp(ws, cfg.name)
    computed = [0]

    def on_items(done, total):
        computed[0] = total
        progress.items(done, total)

    path = run_embed(ws, cfg, progress=on_items, retry_failed=config.retry_failed)
    emb = load_embeddings(ws, cfg.name)
    mode = emb.meta.get("mode", "?")
    summary = f"{len(emb.ids)} vectors ({'trained model' if mode == 'model' else 'pretrained backbone alone'})"
    status = "up to date" if before is not None and before == emb.vectors_fingerprint else "ran"
    return StageReport("embed", status, summary, result=embeddings_path(ws, cfg.name) if path is None else path)


def _vectors_fp(ws, name: str) -> str | None:
    from reelmatch.embed import embeddings_path, load_embeddings

    if not embeddings_path(ws, name).exists():
        return None
    try:
        return load_embeddings(ws, name).vectors_fingerprint
    except Exception:  # unreadable: embed will recompute it
        return None


def _stage_index(ws, config: BuildConfig, progress: BuildProgress) -> StageReport:
    from reelmatch.index import IndexConfig, run_index

    rep = run_index(ws, config.index or IndexConfig())
    status = "ran" if (rep.rebuilt or rep.added or rep.removed) else "up to date"
    return StageReport("index", status, rep.summary, result=rep)


def _stage_dedupe(ws, config: BuildConfig, progress: BuildProgress) -> StageReport:
    from reelmatch.dedupe import DedupeConfig, describe_catalogue, find_duplicates

    cfg = DedupeConfig()
    todo = len(ws.catalog.todo("dedupe", cfg.fingerprint, retry_failed=config.retry_failed))
    done = [0]

    def on_item(item_id, error):
        done[0] += 1
        progress.items(done[0], todo)

    rep = {"done": 0, "failed": 0}
    if todo:
        rep = describe_catalogue(ws, cfg, workers=config.workers, retry_failed=config.retry_failed, on_item=on_item)
    doc = find_duplicates(ws, config=cfg)
    summary = f"{len(doc['groups'])} group(s) of copies ({rep['done']} described, {rep['failed']} failed)"
    return StageReport("dedupe", "ran" if todo else "up to date", summary, result=doc)


def _stage_evaluate(ws, config: BuildConfig, progress: BuildProgress) -> StageReport:
    if not config.evaluate:
        return StageReport("evaluate", "skipped", "not asked (--no-evaluate)")
    from reelmatch.evaluate.config import EvalConfig
    from reelmatch.evaluate.embeddings import current_model_info
    from reelmatch.evaluate.run import held_out, evaluation_is_current, run_evaluate

    cfg = config.eval or EvalConfig()
    if current_model_info(ws) is None:
        return StageReport("evaluate", "skipped", "no trained model to evaluate")
    ids, _ = held_out(ws, cfg.split)
    if len(ids) < 2:
        return StageReport(
            "evaluate", "skipped", f"the {cfg.split} split has {len(ids)} labelled trailer(s); at least 2 are needed"
        )
    if evaluation_is_current(ws, cfg):
        return StageReport("evaluate", "up to date", str(ws.dir("reports") / "report.html"))
    res = run_evaluate(ws, cfg, progress=progress.message)
    m = res.doc["metrics"]
    return StageReport(
        "evaluate", "ran", f"MAP@R {m['map_at_r']:.3f} on {res.doc['items']} held-out trailers; {res.report_path}",
        result=res,
    )
