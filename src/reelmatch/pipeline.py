"""``build``: every stage in order, with sensible defaults, resumable.

extract -> features -> train (self-supervised alone without genre labels) -> embed -> index
-> dedupe (optional) -> scenes (optional) -> evaluate (only with a trained model and held-out labels)

Each stage is the library function of its own module and already skips
finished work (per-item fingerprints in the catalogue, artifact sidecars), so a
second ``run_build`` on an unchanged workspace does nothing new, and a build
killed midway resumes where it stopped. This module only orders the stages,
decides which apply, and reports progress through one callback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reelmatch.config import StageConfig
from reelmatch.extract.config import ClipConfig
from reelmatch.runner import StageResult

if TYPE_CHECKING:  # the configs' modules are light, but only the stages that run need them
    from reelmatch.dedupe.config import DedupeConfig
    from reelmatch.embed.config import EmbedConfig
    from reelmatch.evaluate.config import EvalConfig
    from reelmatch.index.config import IndexConfig
    from reelmatch.train.config import TrainConfig

log = logging.getLogger(__name__)

#: one stage's outcome in a build: the runner's result type (kept under its older name)
StageReport = StageResult


@dataclass(frozen=True)
class BuildConfig(StageConfig):
    """Defaults for every stage of ``build``.

    clip: sampling of frames and audio; None = the workspace's current clip
        config (what it was last extracted with), else the recipe's values.
    train: how the model is fitted; None = the current model's training config
        (so a build after ``demo`` resumes it), else the defaults.
    embed / index / eval / dedupe_config: each stage's config; None = defaults.
    workers: worker processes for per-item stages (None = CPU count).
    engine / address: where per-item stages run (``local`` process pool, ``ray``) and
        the Ray cluster address; the artifacts are the same on every engine.
    dedupe: also compute copy-detection descriptors.
    scenes: also detect and embed the scenes of each movie (``reelmatch scenes``, default config).
    evaluate: write metrics, plots and the HTML report at the end.
    retry_failed: retry items that failed a stage before.
    """

    clip: ClipConfig | None = None
    train: TrainConfig | None = None
    embed: EmbedConfig | None = None
    index: IndexConfig | None = None
    eval: EvalConfig | None = None
    dedupe_config: DedupeConfig | None = None
    workers: int | None = None
    engine: str | None = None
    address: str | None = None
    dedupe: bool = False
    scenes: bool = False
    evaluate: bool = True
    retry_failed: bool = False

    def __post_init__(self):
        if self.workers is not None and (isinstance(self.workers, bool) or not isinstance(self.workers, int)
                                         or self.workers < 0):
            raise self.invalid("workers", "must be a whole number >= 0 (0: in this process)")
        hints = _hint_namespace()
        for name, cls in (("clip", "ClipConfig"), ("train", "TrainConfig"), ("embed", "EmbedConfig"),
                          ("index", "IndexConfig"), ("eval", "EvalConfig"), ("dedupe_config", "DedupeConfig")):
            value = getattr(self, name)
            if value is not None and not isinstance(value, hints[cls]):
                raise self.invalid(name, f"must be a {cls} (or None for the default)")

    @staticmethod
    def _hint_namespace() -> dict:
        return _hint_namespace()


def _hint_namespace() -> dict:
    """The config classes BuildConfig's fields are typed with (their modules are light)."""
    from reelmatch.dedupe.config import DedupeConfig
    from reelmatch.embed.config import EmbedConfig
    from reelmatch.evaluate.config import EvalConfig
    from reelmatch.index.config import IndexConfig
    from reelmatch.train.config import TrainConfig

    return {"ClipConfig": ClipConfig, "TrainConfig": TrainConfig, "EmbedConfig": EmbedConfig,
            "IndexConfig": IndexConfig, "EvalConfig": EvalConfig, "DedupeConfig": DedupeConfig}


@dataclass
class BuildReport:
    stages: list[StageResult] = field(default_factory=list)

    def by_name(self, name: str) -> StageResult | None:
        return next((s for s in self.stages if s.name == name), None)

    @property
    def did_work(self) -> bool:
        return any(s.status == "ran" for s in self.stages)


class BuildProgress:
    """Callbacks ``run_build`` calls; the CLI turns them into one progress display.

    ``stage(name, i, n)`` when stage ``i`` of ``n`` starts, ``message(text)`` for
    a status line, ``items(done, total)`` for per-item progress inside a stage,
    ``stage_done(result)`` with the stage's :class:`~reelmatch.runner.StageResult`.
    The default does nothing (library use).
    """

    def stage(self, name: str, index: int, total: int) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def items(self, done: int, total: int) -> None:
        pass

    def stage_done(self, report: StageResult) -> None:
        pass


@dataclass(frozen=True)
class PipelineStage:
    """One row of the pipeline: ``run(ws, config, engine, progress) -> StageResult`` when ``applies(config)``."""

    name: str
    run: Callable[..., StageResult]
    applies: Callable[[BuildConfig], bool] = lambda config: True


def has_genre_labels(ws) -> bool:
    """True when some trailer carries a genre (training needs labels)."""
    return any(item.genres for item in ws.catalog.items(kind="trailer"))


def run_build(ws, config: BuildConfig = BuildConfig(), *, progress: BuildProgress | None = None) -> BuildReport:
    """Run every applicable stage of :data:`PIPELINE` in order; returns what each did.

    A stage that fails as a whole (not per item: bad items are recorded in the
    catalogue and the batch goes on) raises, after earlier stages' work is kept.
    """
    from reelmatch.engine import get_engine
    from reelmatch.runtime import check_workers

    progress = progress or BuildProgress()
    if config.workers is not None:
        check_workers(config.workers)
    config = resolve_defaults(ws, config)
    engine = get_engine(config.engine, address=config.address)
    report = BuildReport()
    stages = [s for s in PIPELINE if s.applies(config)]
    for i, stage in enumerate(stages):
        progress.stage(stage.name, i, len(stages))
        t0 = time.perf_counter()
        rep = stage.run(ws, config, engine, progress)
        rep.seconds = time.perf_counter() - t0
        log.info("build: %s %s in %.1f s: %s", stage.name, rep.status, rep.seconds, rep.summary)
        report.stages.append(rep)
        progress.stage_done(rep)
    return report


def resolve_defaults(ws, config: BuildConfig) -> BuildConfig:
    """Fill ``clip`` and ``train`` left as None from what the workspace was built with.

    The clip config is resolved here once (:func:`reelmatch.dataset.store.resolve_clip_config`)
    and passed to every stage.
    """
    import dataclasses

    from reelmatch.dataset.store import resolve_clip_config

    clip, train = config.clip, config.train
    if clip is None:
        clip = resolve_clip_config(ws, default=ClipConfig())  # never extracted: the recipe's sampling
    if train is None:
        train = _current_train_config(ws)
    return dataclasses.replace(config, clip=clip, train=train)


def _current_train_config(ws):
    """The TrainConfig that made the current model, else the defaults."""
    from reelmatch.train import TrainConfig

    try:
        from reelmatch.model.checkpoint import current_checkpoint, read_config

        ckpt = current_checkpoint(ws)
        if ckpt is not None:
            return TrainConfig.from_dict(read_config(ckpt)["train_config"])
    except Exception as e:  # an older or foreign checkpoint: start from the defaults
        log.info("build: current model's training config not reusable (%s): defaults", e)
    return TrainConfig()


# --------------------------------------------------------------------- stages
# Each returns a StageResult. They call the stage modules' public entry points.


def _items(progress: BuildProgress):
    return lambda done, total, *_: progress.items(done, total)


def _stage_extract(ws, config: BuildConfig, engine, progress: BuildProgress) -> StageResult:
    from reelmatch.extract.run import extract_stage

    return extract_stage(ws, config.clip, workers=config.workers, retry_failed=config.retry_failed,
                         progress=_items(progress), engine=engine)


def _features_config(config: BuildConfig):
    from reelmatch.train.features import FeaturesConfig

    train = _train_config(config)
    return FeaturesConfig(backbone=train.backbone, pretrained=train.pretrained, weights=train.weights,
                          norm=train.frame_norm)


def _stage_features(ws, config: BuildConfig, engine, progress: BuildProgress) -> StageResult:
    from reelmatch.train.features import features_stage

    return features_stage(ws, config=_features_config(config), clip_config=config.clip,
                          retry_failed=config.retry_failed, progress=_items(progress), engine=engine)


def _train_config(config: BuildConfig):
    from reelmatch.train import TrainConfig

    return config.train if config.train is not None else TrainConfig()


def _stage_train(ws, config: BuildConfig, engine, progress: BuildProgress) -> StageResult:
    from reelmatch.errors import InputError
    from reelmatch.train import run_train

    labelled = has_genre_labels(ws)
    progress.message("fitting the model (phases: warm-up, triplets)" if labelled else
                     "no genre labels: fitting a self-supervised model (sound <-> picture)")
    t_start = time.time()
    try:
        best = run_train(ws, _train_config(config), clip_config=config.clip)
    except InputError as e:  # too few clips (with sound) or labels: say so, go on with the backbone
        return StageResult("train", "skipped", summary=f"{e}; embed uses the pretrained backbone alone")
    done = best.parent / "done.json"
    summary = _train_summary(best)
    status = "up to date" if done.exists() and done.stat().st_mtime < t_start else "ran"
    return StageResult("train", status, summary=summary, artifact=str(best), result=best)


def _train_summary(best) -> str:
    import json

    try:
        doc = json.loads((best.parent / "done.json").read_text())
        mode = json.loads((best / "config.json").read_text()).get("training", "supervised")
        if mode == "self-supervised":
            return (f"self-supervised (no genre labels), {doc.get('epochs')} epochs, best held-out cross-modal "
                    f"MRR {float(doc.get('best_cross_modal_mrr') or 0):.3f}: {best}")
        return f"{doc.get('epochs')} epochs, best held-out MAP@R {float(doc.get('best_map_at_r') or 0):.3f}: {best}"
    except (OSError, ValueError):
        return str(best)


def _stage_embed(ws, config: BuildConfig, engine, progress: BuildProgress) -> StageResult:
    from pathlib import Path

    from reelmatch.embed import EmbedConfig, load_embeddings
    from reelmatch.embed.run import embed_stage

    cfg = config.embed or EmbedConfig()
    before = _vectors_fp(ws, cfg.name)
    res = embed_stage(ws, cfg, clip_config=config.clip, progress=_items(progress),
                      retry_failed=config.retry_failed, engine=engine)
    emb = load_embeddings(ws, cfg.name)
    res.status = "up to date" if before is not None and before == emb.vectors_fingerprint else "ran"
    res.result = Path(res.artifact)
    return res


def _vectors_fp(ws, name: str) -> str | None:
    from reelmatch.embed import embeddings_path, load_embeddings

    if not embeddings_path(ws, name).exists():
        return None
    try:
        return load_embeddings(ws, name).vectors_fingerprint
    except Exception:  # unreadable: embed will recompute it
        return None


def _stage_index(ws, config: BuildConfig, engine, progress: BuildProgress) -> StageResult:
    from reelmatch.index import IndexConfig, index_path, run_index

    cfg = config.index or IndexConfig()
    rep = run_index(ws, cfg)
    status = "ran" if (rep.rebuilt or rep.added or rep.removed) else "up to date"
    return StageResult("index", status, summary=rep.summary, artifact=str(index_path(ws)), result=rep)


def _stage_dedupe(ws, config: BuildConfig, engine, progress: BuildProgress) -> StageResult:
    from reelmatch.dedupe import DedupeConfig, find_duplicates
    from reelmatch.dedupe.stage import dedupe_stage

    cfg = config.dedupe_config or DedupeConfig()
    res = dedupe_stage(ws, cfg, workers=config.workers, retry_failed=config.retry_failed, progress=_items(progress),
                       engine=engine)
    doc = find_duplicates(ws, config=cfg)
    res.summary = f"{len(doc['groups'])} group(s) of copies ({res.done} described, {res.failed} failed)"
    res.result = doc
    return res


def _stage_scenes(ws, config: BuildConfig, engine, progress: BuildProgress) -> StageResult:
    from reelmatch.scenes import ScenesConfig, run_scenes

    return run_scenes(ws, ScenesConfig(), clip_config=config.clip, engine=engine, progress=_items(progress),
                      retry_failed=config.retry_failed)


def _stage_evaluate(ws, config: BuildConfig, engine, progress: BuildProgress) -> StageResult:
    if not config.evaluate:
        return StageResult("evaluate", "skipped", summary="not asked (--no-evaluate)")
    from reelmatch.evaluate.config import EvalConfig
    from reelmatch.evaluate.embeddings import current_model_info
    from reelmatch.evaluate.run import held_out, evaluation_is_current, run_evaluate, split_clips

    cfg = config.eval or EvalConfig()
    info = current_model_info(ws)
    if info is None:
        return StageResult("evaluate", "skipped", summary="no trained model to evaluate")
    ids, _ = held_out(ws, cfg.split, clip_config=config.clip)
    self_supervised = len(ids) < 2 and info.get("training") == "self-supervised"
    if self_supervised and len(split_clips(ws, cfg.split, config.clip)) < 2:
        return StageResult("evaluate", "skipped", summary=f"the {cfg.split} split has fewer than 2 clips")
    if len(ids) < 2 and not self_supervised:
        return StageResult(
            "evaluate", "skipped",
            summary=f"the {cfg.split} split has {len(ids)} labelled trailer(s); at least 2 are needed",
        )
    report = ws.dir("reports") / "report.html"
    if evaluation_is_current(ws, cfg, clip_config=config.clip):
        return StageResult("evaluate", "up to date", summary=str(report), artifact=str(report))
    res = run_evaluate(ws, cfg, clip_config=config.clip, progress=progress.message)
    m = res.doc["metrics"]
    if not m:  # a self-supervised model without held-out labels
        xm = res.doc["cross_modal"]
        return StageResult(
            "evaluate", "ran", artifact=str(res.report_path), result=res,
            summary=f"no held-out labels: cross-modal recall@10 audio->frames {xm['audio_to_frames']['recall_at_10']:.3f} "
                    f"(chance {xm['chance_at_10']:.3f}) on {xm['items']} held-out clips; {res.report_path}")
    return StageResult(
        "evaluate", "ran", summary=f"MAP@R {m['map_at_r']:.3f} on {res.doc['items']} held-out trailers; {res.report_path}",
        artifact=str(res.report_path), result=res,
    )


#: the pipeline, in order: ``build`` runs each row that applies to its config
PIPELINE = (
    PipelineStage("extract", _stage_extract),
    PipelineStage("features", _stage_features),
    PipelineStage("train", _stage_train),
    PipelineStage("embed", _stage_embed),
    PipelineStage("index", _stage_index),
    PipelineStage("dedupe", _stage_dedupe, applies=lambda config: config.dedupe),
    PipelineStage("scenes", _stage_scenes, applies=lambda config: config.scenes),
    PipelineStage("evaluate", _stage_evaluate),
)

#: stage names in build order
BUILD_STAGES = tuple(s.name for s in PIPELINE)
