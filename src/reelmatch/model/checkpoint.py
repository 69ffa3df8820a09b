"""Checkpoints: ``model.safetensors`` + ``config.json``; loading never unpickles.

config.json (and ``MODEL_CARD.md``, :mod:`reelmatch.model.card`)::

    {"format": "reelmatch-two-tower/1",
     "model": {ModelConfig fields},            # backbone, pooling, dims, ...
     "clip_config": {...}, "clip_fingerprint": "...",
     "genres": [...],                          # the classification head's vocabulary
     "phases": [...], "metrics": {...}, ...}   # whatever the trainer records

A workspace's current model is named by ``models/current.json`` (written by training).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from reelmatch.config import atomic_write_bytes, atomic_write_json, to_jsonable
from reelmatch.errors import InputError, NotFoundError, StaleArtifactError

log = logging.getLogger(__name__)

FORMAT = "reelmatch-two-tower/1"
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
CARD = "MODEL_CARD.md"  # what the model is made of, its pretrained parts' licences and credits (model.card)


def save(model, directory, meta: dict | None = None) -> Path:
    """Write ``model`` (a TwoTower) and ``meta`` to ``directory``; returns it."""
    from safetensors.torch import save as st_save

    from reelmatch.model.backbones import norm_fingerprint

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(directory / WEIGHTS, st_save(state))
    # the normalisation the backbone really used, not "auto" (a later change of default leaves it alone);
    # none when it is the one the backbone had before it could be chosen, as then (what a missing key means)
    arch = to_jsonable(model.config)
    arch["frame_norm"] = model.backbone.norm
    if norm_fingerprint(model.config.backbone, model.backbone.norm) is None:
        del arch["frame_norm"]
    doc = {**to_jsonable(meta or {}), "format": FORMAT, "model": arch}
    atomic_write_json(directory / CONFIG, doc)
    from reelmatch.model.card import model_card

    atomic_write_bytes(directory / CARD, model_card(model.config, doc).encode())
    return directory


def read_config(directory) -> dict:
    """The checkpoint's config.json as a dict (``NotFoundError``/``InputError`` when missing or bad)."""
    p = Path(directory) / CONFIG
    if not p.exists() or not (Path(directory) / WEIGHTS).exists():
        raise NotFoundError(f"no checkpoint in {directory} (needs {CONFIG} and {WEIGHTS})")
    try:
        doc = json.loads(p.read_text())
    except ValueError as e:
        raise InputError(f"{p}: not JSON ({e})") from None
    if doc.get("format") != FORMAT:
        raise InputError(f"{p}: format {doc.get('format')!r}, expected {FORMAT!r}")
    return doc


def check_clip_config(meta: dict, clip_config) -> None:
    """Refuse a checkpoint trained on clips sampled another way (``StaleArtifactError``)."""
    want = clip_config.fingerprint
    have = meta.get("clip_fingerprint")
    if have is not None and have != want:
        raise StaleArtifactError(
            f"the model was trained on clips with config {have} ({meta.get('clip_config')}), "
            f"but the clips now have config {want}: run 'reelmatch train' again (or extract with the old config)"
        )


def load(directory, *, clip_config=None):
    """``(TwoTower in eval mode, meta dict)`` from ``directory``.

    With ``clip_config``, a checkpoint made for another clip config is refused.
    """
    import torch
    from safetensors.torch import load_file

    from reelmatch.model.config import ModelConfig
    from reelmatch.model.two_tower import TwoTower

    directory = Path(directory)
    meta = read_config(directory)
    if clip_config is not None:
        check_clip_config(meta, clip_config)
    fields = dict(meta["model"])
    fields["pretrained"] = False  # the weights come from the checkpoint
    config = ModelConfig.from_dict(fields)  # fields added since it was saved (text, frame_norm) get their legacy values
    with torch.random.fork_rng(devices=[]):
        model = TwoTower(config)
    state = load_file(str(directory / WEIGHTS))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise InputError(f"{directory}: weights do not fit the model (missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.config = ModelConfig.from_dict({**fields, "pretrained": meta["model"].get("pretrained", True)})
    model.lock(int(meta.get("unlocked_groups", 0)))
    model.eval()
    return model, meta


def model_fingerprint(directory) -> str:
    """A short digest of the checkpoint's weights and config (what made a set of vectors)."""
    directory = Path(directory)
    h = hashlib.sha256()
    for name in (CONFIG, WEIGHTS):
        with open(directory / name, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return "model-" + h.hexdigest()[:16]


def current_checkpoint(ws) -> Path | None:
    """The workspace's current trained model directory, None if none was trained."""
    p = ws.dir("models") / "current.json"
    if not p.exists():
        return None
    try:
        rel = json.loads(p.read_text())["path"]
    except (ValueError, KeyError):
        log.warning("%s is unreadable: no current model", p)
        return None
    d = ws.dir("models") / rel
    if not (d / CONFIG).exists() or not (d / WEIGHTS).exists():
        log.warning("current model %s is missing", d)
        return None
    return d


def set_current_checkpoint(ws, directory) -> None:
    """Make ``directory`` (inside ``ws/models``) the workspace's current model."""
    directory = Path(directory).resolve()
    models = ws.dir("models").resolve()
    atomic_write_json(models / "current.json", {"path": str(directory.relative_to(models))})
