"""``demo``: sample corpus -> build -> example recommendations, ad match, report.

Runs on a fresh machine with no network: the corpus is generated
(:func:`reelmatch.samples.corpus.generate_corpus`), and real clips from a
``devdata`` folder are added when one exists (``../shared/devdata`` next to the
repository, or ``REELMATCH_DEVDATA``). Sizes are chosen so the whole demo runs
in a few minutes on 2 CPU cores. Everything is resumable: a second run reuses
the workspace and only redoes what changed.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEVDATA_ENV = "REELMATCH_DEVDATA"


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo.

    items: generated sample items (trailers of several genres, some ads).
    seconds / size: duration and frame size of each generated video.
    frames: frames sampled per clip; clip_size: their side in pixels.
    epochs: training epochs (None = the TrainConfig default phases, which end
        with an unfrozen-backbone epoch: slower on CPU).

    Why 64-pixel frames and 12 frozen-backbone epochs: the whole demo then takes
    about 3 CPU-minutes, and at 128 pixels the synthetic genres are so distinct
    in ImageNet features that mean-pooled pretrained features already reach
    MAP@R ~0.96 (nothing left for training to show); at 64 pixels the same
    pretrained features reach ~0.53 and training lifts them to ~0.90.
    backbone: the frame backbone (``tiny`` is for tests only).
    devdata: folder of real clips to add (None = none).
    workers: worker processes (None = CPU count).
    sampling / frame_codec / spectrogram_codec: of the clips (``ClipConfig``'s defaults: keyframe
        sampling, JPEG frames, PNG log-mel).
    """

    items: int = 200
    seconds: float = 8.0
    size: int = 96
    frames: int = 6
    clip_size: int = 64
    epochs: int | None = 12
    backbone: str = "efficientnet_lite0"
    seed: int = 0
    devdata: Path | None = None
    workers: int | None = None
    sampling: str = "keyframe"
    frame_codec: str = "jpeg"
    spectrogram_codec: str = "png"


@dataclass
class DemoResult:
    workspace: Path
    build: Any
    similar: list = field(default_factory=list)  # [(query title, result object)]
    ad_match: Any = None
    metrics: dict | None = None
    report_path: Path | None = None


def default_devdata_dir() -> Path | None:
    """``$REELMATCH_DEVDATA``, else ``<repo>/../shared/devdata`` if it exists."""
    env = os.environ.get(DEVDATA_ENV)
    if env:
        p = Path(env).expanduser()
        return p if p.is_dir() else None
    import reelmatch

    repo = Path(reelmatch.__file__).resolve().parents[2]
    p = (repo / ".." / "shared" / "devdata").resolve()
    return p if p.is_dir() else None


def clip_config_for(config: DemoConfig):
    """Sampling suited to short demo videos: the whole clip, ``frames`` frames."""
    from reelmatch.extract.config import ClipConfig

    window = float(config.seconds)
    return ClipConfig(
        start=0.0,
        window=window,
        num_frames=config.frames,
        interval=window / config.frames,
        size=config.clip_size,
        sampling=config.sampling,
        frame_codec=config.frame_codec,
        spectrogram_codec=config.spectrogram_codec,
    )


def prepare_corpus(ws, config: DemoConfig, say=lambda m: None) -> dict:
    """Generate the sample corpus (once) and import it; add devdata clips if any."""
    from reelmatch.ingest import add_paths, import_manifest
    from reelmatch.samples.corpus import generate_corpus

    out_dir = ws.dir("media") / f"samples-{config.items}x{config.seconds:g}s-{config.size}px-seed{config.seed}"
    manifest = out_dir / "manifest.csv"
    if not manifest.exists():
        say(f"generating {config.items} sample videos ({config.seconds:g} s, {config.size}x{config.size})")
        manifest = Path(
            generate_corpus(out_dir, n_items=config.items, seconds=config.seconds, size=config.size, seed=config.seed)
        )
    else:
        say(f"sample corpus already generated in {out_dir}")
    summary = {"manifest": str(manifest), "imported": import_manifest(ws, manifest)}
    if config.devdata is not None and Path(config.devdata).is_dir():
        say(f"adding real clips from {config.devdata}")
        summary["devdata"] = add_paths(ws, [Path(config.devdata)])
    return summary


def run_demo(ws, config: DemoConfig = DemoConfig(), *, progress=None, say=lambda m: None) -> DemoResult:
    """Build the demo workspace ``ws`` end to end and collect example answers."""
    from reelmatch.pipeline import BuildConfig, run_build

    prepare_corpus(ws, config, say)
    from reelmatch.embed import EmbedConfig

    build_cfg = BuildConfig(
        clip=clip_config_for(config), train=train_config_for(config), workers=config.workers,
        embed=EmbedConfig(backbone=config.backbone),
    )
    report = run_build(ws, build_cfg, progress=progress)
    result = DemoResult(workspace=ws.root, build=report)
    metrics, html = ws.dir("reports") / "metrics.json", ws.dir("reports") / "report.html"
    if metrics.exists() and html.exists():  # fresh from this build, or up to date from a previous one
        import json

        result.metrics = json.loads(metrics.read_text())
        result.report_path = html
    result.similar = example_similar(ws, n=2)
    result.ad_match = example_ad_match(ws)
    return result


def train_config_for(config: DemoConfig):
    """The demo's training config: TrainConfig defaults with the demo's backbone and epochs."""
    from reelmatch.train import TrainConfig

    small = {}
    if config.backbone == "tiny":  # tests: a model as small as the data
        small = {"pretrained": False, "hidden": 32, "audio_dim": 16, "embed_dim": 32, "batch_size": 8, "per_genre": 2}
    return TrainConfig(backbone=config.backbone, epochs=config.epochs, **small)


def example_similar(ws, n: int = 2, k: int = 5) -> list:
    """``similar`` for ``n`` held-out sample trailers and one real clip, when present."""
    out = []
    for item in _example_queries(ws, n):
        try:
            out.append((item.title, ws.similar(item.id, k=k)))
        except Exception as e:  # an example is not worth failing the demo for
            log.warning("similar %s: %s", item.title, e)
    return out


def example_ad_match(ws, k: int = 5):
    """``match_ad`` for a catalogue commercial, one with a soundtrack first (so both scores show)."""
    ads = ws.catalog.items(kind="ad")
    try:
        from reelmatch.dataset.store import ClipStore

        store = ClipStore(ws)
        ads.sort(key=lambda ad: not (ad.id in store and store.get(ad.id).has_audio))
    except Exception as e:  # ordering is a nicety
        log.debug("ads not ordered by audio: %s", e)
    for ad in ads:
        try:
            return ws.match_ad(ad.id, k=k)
        except Exception as e:
            log.warning("match-ad %s: %s", ad.title, e)
    return None


def _example_queries(ws, n: int):
    """Held-out trailers of different genres first, then a real (unlabelled) clip."""
    try:
        from reelmatch.dataset.store import ClipStore

        test_ids = set(ClipStore(ws).ids(split="test"))
    except Exception:
        test_ids = set()
    trailers = ws.catalog.items(kind="trailer")
    labelled = [t for t in trailers if t.genres and (not test_ids or t.id in test_ids)]
    chosen, genres = [], set()
    for t in labelled:
        if t.genres[0] not in genres:
            chosen.append(t)
            genres.add(t.genres[0])
        if len(chosen) == n:
            break
    real = [t for t in trailers if not t.genres]
    prefer = [t for t in real if "sintel" in t.title.lower() and "52" in t.title] or real
    if prefer:
        chosen.append(prefer[0])
    return chosen
