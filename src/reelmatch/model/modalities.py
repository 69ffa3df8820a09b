"""The modality registry: what each input of the model is, where it comes from, and what "missing" means.

A modality is one registry entry (:class:`Modality`); the model
(:class:`reelmatch.model.TwoTower`) takes whichever of them its config names and
fuses them with a presence mask, so an item is embedded by the modalities it
has. Adding a modality means adding an entry here (and its feature cache): the
stages read ``batch_keys`` and ``present`` from the entry, not a fixed list.

======== ================================= ============================== ===========================
name     input                             cache                          missing when
======== ================================= ============================== ===========================
visual   frames of the clip record         ``features/<backbone>-<fp>/``  the item has no clip (plot only)
audio    spectrogram of the clip record    inside the frame feature file  the clip has no sound
         (``convnet``) or a frozen expert  ``features/audio-<enc>-<fp>/``
         embedding (``aisfx``)
text     the catalogue's ``plot``          ``features/text-<enc>-<fp>/``  no plot, empty, no letters
======== ================================= ============================== ===========================

Batch keys (all optional except what the modalities in the model need):
``frames`` uint8 [B,K,S,S,3] or ``features`` float [B,K,D], ``mask`` bool [B,K];
``spectrogram`` (convnet) or ``audio_features`` float [B,Da] (expert), ``has_audio`` bool [B];
``text`` float [B,Dt], ``has_text`` bool [B]. Presence of ``visual`` is "the clip has a real frame".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reelmatch.errors import InputError


@dataclass(frozen=True)
class Modality:
    name: str
    source: str  # "clip" (extracted from media) or "catalogue" (read from a catalogue field)
    batch_keys: tuple[str, ...]  # what a batch carries for it
    present_key: str | None  # the bool [B] key saying who has it (None: derived, see present())
    cache: str  # where its features are cached (for the docs and error messages)
    missing: str  # what "missing" means


MODALITIES: dict[str, Modality] = {
    "visual": Modality("visual", "clip", ("frames", "features", "mask"), None,
                       "features/<backbone>-<fp>/<id>.npz", "the item has no clip (a plot-only title)"),
    "audio": Modality("audio", "clip", ("spectrogram", "audio_features", "has_audio"), "has_audio",
                      "the frame feature file (convnet) or features/audio-<encoder>-<fp>/ (expert)",
                      "the clip has no sound"),
    "text": Modality("text", "catalogue", ("text", "has_text"), "has_text",
                     "features/text-<encoder>-<fp>/text.npz", "the item has no usable plot"),
}

from reelmatch.model.config import AUDIO_ENCODERS, FUSIONS  # noqa: E402,F401 - the registry's other half


def list_modalities() -> list[str]:
    return list(MODALITIES)


def modality(name: str) -> Modality:
    try:
        return MODALITIES[name]
    except KeyError:
        raise InputError(f"unknown modality {name!r}: known modalities are {', '.join(MODALITIES)}") from None


def presence(batch: dict, name: str, n: int):
    """bool tensor [B]: which rows of ``batch`` have modality ``name`` (absent keys: nobody)."""
    import torch

    m = modality(name)
    if name == "visual":
        mask = batch.get("mask")
        return torch.zeros(n, dtype=torch.bool) if mask is None else mask.to(torch.bool).any(dim=1)
    v = batch.get(m.present_key)
    return torch.zeros(n, dtype=torch.bool) if v is None else v.to(torch.bool)


def attach_vectors(batch: dict, key: str, present_key: str, lookup: dict, dim: int) -> dict:
    """Add ``key`` float32 [B, dim] (zeros where missing) and ``present_key`` bool [B] to ``batch``
    from ``lookup`` (item id -> float [dim]) by ``batch["ids"]``; returns the batch."""
    import torch

    ids = batch["ids"]
    x = np.zeros((len(ids), dim), dtype=np.float32)
    has = np.zeros(len(ids), dtype=bool)
    for r, i in enumerate(ids):
        v = lookup.get(i)
        if v is not None:
            x[r] = v
            has[r] = True
    batch[key] = torch.from_numpy(x)
    prev = batch.get(present_key)
    p = torch.from_numpy(has)
    batch[present_key] = p if prev is None or key == "text" else prev.to(torch.bool) & p
    return batch


def used_modalities(has: dict[str, bool]) -> list[str]:
    """The names among ``has`` (modality -> present) that are present, in registry order."""
    return [m for m in MODALITIES if has.get(m)]
