"""Text-only genre retrieval on held-out TMDB titles, and plot-encoding throughput.

Titles of a TMDB plots file (default ``../shared/plots/tmdb_dev.csv``:
``tmdb_id,title,year,genres,plot``) are split by title: the text tower is trained
on ``--train-fraction`` of them, and the others (titles added after training)
query each other: relevant = shares a genre, MAP@R as ``reelmatch evaluate``
computes it (:func:`reelmatch.evaluate.metrics.retrieval_metrics`). Side by side
on the same held-out titles, for ``--seeds`` splits:

* random vectors;
* TF-IDF of the plot (fit on the training titles);
* all-MiniLM-L6-v2 sentence embeddings, no training (the frozen encoder);
* the text tower: the frozen encoder + a trainable projection
  (:class:`reelmatch.model.text.TextTower`), trained as ``reelmatch train``
  trains the towers: a multi-label classification warm-up, then semi-hard
  triplets with multi-genre positives (:mod:`reelmatch.train.mining`);
* the same, warm-up only;
* the text tower's genre head alone (:meth:`reelmatch.model.text.TextTower.fit_genres`: logistic
  regression on the sentence embedding, fit on the training titles), its probabilities as the vector;
* the text tower as ``reelmatch train`` now embeds: projection and genre probabilities
  (:func:`reelmatch.model.text.text_embedding`, weight ``ModelConfig.text_genre_weight``);
* with ``--sentences``: the genre head and the default tower over the mean of per-sentence
  embeddings instead of the whole-plot embedding.

``--choose`` also prints how the genre weight and the head's regularisation were chosen: 3-fold
cross-validation inside each split's *training* titles (the held-out ones are never looked at).

It also prints the encoder's throughput in plots/s over every plot of the file
(one process, the machine's torch threads; ``uptime`` load printed next to it).

    .venv/bin/python benchmarks/text.py
    .venv/bin/python benchmarks/text.py --plots ../shared/plots/tmdb_dev.csv --seeds 5 --sentences --choose
    .venv/bin/python benchmarks/text.py --throughput 300   # plots/s side by side: rows per pass, threads, bf16, int8
    .venv/bin/python benchmarks/text.py --throughput 1500  # the same over the whole file
    .venv/bin/python benchmarks/text.py --agreement        # cosine of bf16 / int8 vectors to fp32, all plots
    .venv/bin/python benchmarks/text.py --encoder minilm-bf16 --seeds 5   # held-out MAP@R with bf16 vectors
    .venv/bin/python benchmarks/text.py --encoder minilm-layers-title --seeds 5 --centre --reference minilm --finetune 2
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

DEFAULT_PLOTS = Path(__file__).resolve().parents[1] / ".." / "shared" / "plots" / "tmdb_dev.csv"


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--plots", type=Path, default=DEFAULT_PLOTS, help="CSV with title, genres (A|B) and plot columns")
    p.add_argument("--seeds", type=int, default=3, help="train/held-out splits (default 3)")
    p.add_argument("--train-fraction", type=float, default=2 / 3, help="titles used for training (default 2/3)")
    p.add_argument("--epochs", type=int, default=40, help="text tower epochs (default 40: 10 warm-up, 30 triplet)")
    p.add_argument("--encoder", default="minilm", help="text encoder name (reelmatch.text.list_text_encoders())")
    p.add_argument("--sentences", action="store_true", help="also: mean of per-sentence embeddings as the input")
    p.add_argument("--choose", action="store_true",
                   help="also: cross-validation inside the training titles over the genre weight and C")
    p.add_argument("--centre", action="store_true",
                   help="also: the genre head's probabilities centred on the training titles' mean "
                        "(reelmatch train --text-genre-centre)")
    p.add_argument("--levers", action="store_true",
                   help="also: several layers' pooled states and TF-IDF stacking as the genre head's input, "
                        "settings chosen by cross-validation inside the training titles")
    p.add_argument("--finetune", type=int, default=0, metavar="TOP",
                   help="also: MiniLM's top TOP layers fine-tuned on the training titles' genres, the layers' learning "
                        "rate and the epochs chosen per split by inner validation inside its training titles")
    p.add_argument("--finetune-lrs", type=float, nargs="+", default=[3e-5, 1e-4], metavar="LR",
                   help="the layers' learning rates the inner validation chooses from (default 3e-5 1e-4)")
    p.add_argument("--finetune-epochs", type=int, default=3, metavar="E",
                   help="the inner validation chooses 1..E epochs (default 3)")
    p.add_argument("--finetune-folds", type=int, default=1, choices=(1, 2, 3),
                   help="inner folds (of the 3 of --choose) for the fine-tuning choice (default 1: the CPU budget)")
    p.add_argument("--reference", default=None, metavar="ENCODER",
                   help="also: the default text tower + genre head with this encoder on the same splits "
                        "(e.g. minilm, today's default), for a side-by-side row")
    p.add_argument("--throughput", type=int, default=0, metavar="N",
                   help="only: plots/s side by side (rows per pass, threads; bf16, int8 up to 300) on the first N plots, "
                        "three times each")
    p.add_argument("--agreement", action="store_true",
                   help="only: cosine of the bf16 and int8 encoders' embeddings to fp32 over every plot")
    return p


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[\"'A-Z0-9])")


def sentence_mean(enc, texts: list[str]) -> np.ndarray:
    """float32 [n, D]: the L2-normalised mean of each text's per-sentence embeddings."""
    sents, owner = [], []
    for i, t in enumerate(texts):
        parts = [p for p in _SENTENCE.split(t) if any(c.isalpha() for c in p)] or [t]
        sents += parts
        owner += [i] * len(parts)
    xs = enc.encode(sents)
    out = np.zeros((len(texts), xs.shape[1]), np.float32)
    np.add.at(out, np.array(owner), xs)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def read_plots(path: Path, encoder: str | None = None):
    """``(plots, genre labels)`` of the titles with a plot and genres; with ``encoder`` also the texts that
    encoder reads (:func:`reelmatch.text.encoder.item_text`: the plot, or title and plot)."""
    from reelmatch.text.encoder import item_text, plot_text, text_encoder_spec

    spec = text_encoder_spec(encoder) if encoder else None
    texts, labels, inputs = [], [], []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            plot = row.get("plot") or row.get("overview")
            text = plot_text(plot)
            genres = tuple(g.strip() for g in (row.get("genres") or "").split("|") if g.strip())
            if text and genres:
                texts.append(text)
                labels.append(genres)
                if spec is not None:
                    inputs.append(item_text(row.get("title"), plot, spec))
    return (texts, labels) if spec is None else (texts, labels, inputs)


def _multi_hot(labels, vocab):
    return np.array([[g in lab for g in vocab] for lab in labels], dtype=np.float32)


def train_text_tower(x: np.ndarray, labels: list[tuple[str, ...]], *, epochs: int, seed: int, triplet: bool = True,
                     c: float = 1.0, centre: bool = False):
    """A TextTower (with its genre head) trained on float32 x [N, D] with genre labels; returns
    ``embed(x, genre_weight=0.0) -> float32 [M, E (+ G)]`` (see :func:`reelmatch.model.text.text_embedding`)."""
    import torch
    import torch.nn.functional as F
    from pytorch_metric_learning.distances import LpDistance
    from pytorch_metric_learning.losses import TripletMarginLoss

    from reelmatch.model.text import TextTower, text_embedding
    from reelmatch.train.mining import MultiLabelTripletMiner

    torch.manual_seed(seed)
    vocab = sorted({g for lab in labels for g in lab})
    y = torch.from_numpy(_multi_hot(labels, vocab))
    xt = torch.tensor(x, dtype=torch.float32)
    tower = TextTower(x.shape[1], 256, num_genres=len(vocab), centre=centre)
    tower.fit_genres(xt, y, c=c)  # as run_train does before the phases: closed form, frozen (C: the encoder's)
    head = torch.nn.Linear(256, len(vocab))
    opt = torch.optim.AdamW([p for p in tower.parameters() if p.requires_grad] + list(head.parameters()),
                            lr=1e-3, weight_decay=1e-2)
    distance = LpDistance(normalize_embeddings=True)
    miner, loss_fn = MultiLabelTripletMiner(0.2, distance), TripletMarginLoss(margin=0.2, distance=distance)
    warmup = epochs // 4 if triplet else epochs
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        tower.train()
        order = torch.randperm(len(xt), generator=gen)
        for b in range(0, len(order), 128):
            idx = order[b : b + 128]
            z = tower(xt[idx])
            if epoch < warmup:
                loss = F.binary_cross_entropy_with_logits(head(z), y[idx])
            else:
                trip = miner(z, y[idx] > 0)
                if len(trip[0]) == 0:
                    continue
                loss = loss_fn(z, indices_tuple=trip)
            opt.zero_grad()
            loss.backward()
            opt.step()
    tower.eval()

    def embed(v: np.ndarray, genre_weight: float = 0.0, probabilities: np.ndarray | None = None) -> np.ndarray:
        """``probabilities``: genre probabilities [M, G] to mix in instead of the tower's own head's."""
        with torch.no_grad():
            v = torch.tensor(v, dtype=torch.float32)
            p = tower.genre_vector(v) if probabilities is None else torch.tensor(probabilities)
            return text_embedding(tower(v), p, genre_weight).numpy()

    return embed


def genre_head(x: np.ndarray, labels: list[tuple[str, ...]], c: float = 1.0, centre: bool = False):
    """The text tower's genre head alone, fit on x [N, D]: ``probabilities(v) -> float32 [M, G]`` (with
    ``centre``: minus the training items' mean probabilities, :meth:`TextTower.genre_vector`)."""
    import torch

    from reelmatch.model.text import TextTower

    vocab = sorted({g for lab in labels for g in lab})
    tower = TextTower(x.shape[1], 8, hidden=8, num_genres=len(vocab), centre=centre)
    tower.fit_genres(torch.tensor(x, dtype=torch.float32), torch.from_numpy(_multi_hot(labels, vocab)), c=c)

    def probabilities(v: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return tower.genre_vector(torch.tensor(v, dtype=torch.float32)).numpy()

    return probabilities


WEIGHTS = (0.0, 0.5, 0.7, 0.85, 1.0)
CS = (0.3, 1.0, 3.0)


def choose(x: np.ndarray, labels, tr: np.ndarray, *, epochs: int, seed: int, folds: int = 3,
           c: float = 1.0) -> dict[str, float]:
    """Mean MAP@R over ``folds`` folds of the training titles ``tr`` (train on the others, the fold's
    titles query each other) for each genre weight (C = ``c``), each C of the head alone (weight 1), and
    the centred genre vector (head alone, C = ``c``; weight 0.85)."""
    from reelmatch.evaluate.metrics import retrieval_metrics

    rng = np.random.default_rng(1000 + seed)
    r = rng.permutation(tr)
    out: dict[str, list[float]] = {}
    for f in range(folds):
        va, it = r[f::folds], np.setdiff1d(r, r[f::folds])
        lab_it, lab_va = [labels[i] for i in it], [labels[i] for i in va]
        emb = train_text_tower(x[it], lab_it, epochs=epochs, seed=seed * 10 + f, c=c)
        for w in WEIGHTS:
            out.setdefault(f"weight {w}", []).append(retrieval_metrics(emb(x[va], w), lab_va)["map_at_r"])
        for ci in CS:
            p = genre_head(x[it], lab_it, ci)(x[va])
            out.setdefault(f"head alone, C {ci}", []).append(retrieval_metrics(p, lab_va)["map_at_r"])
        p = genre_head(x[it], lab_it, c, centre=True)(x[va])
        out.setdefault(f"head alone, C {c}, centred", []).append(retrieval_metrics(p, lab_va)["map_at_r"])
        emb = train_text_tower(x[it], lab_it, epochs=epochs, seed=seed * 10 + f, c=c, centre=True)
        out.setdefault("weight 0.85, centred", []).append(retrieval_metrics(emb(x[va], 0.85), lab_va)["map_at_r"])
    return {k: float(np.mean(v)) for k, v in out.items()}


#: lever "several layers": the mean-pooled hidden states of these MiniLM layers (0 = word embeddings),
#: each L2-normalised, concatenated (one forward pass), as the genre head's input
LAYER_SETS = {"6": (6,), "5+6": (5, 6), "4-6": (4, 5, 6), "3-6": (3, 4, 5, 6), "1-6": (1, 2, 3, 4, 5, 6),
              "0-6": (0, 1, 2, 3, 4, 5, 6)}
#: lever "TF-IDF stacking": the TF-IDF head's C, and its share in the averaged probabilities
TFIDF_CS = (3.0, 10.0, 30.0)
TFIDF_SHARES = (0.0, 0.2, 0.35, 0.5)


def layer_features(enc, texts: list[str], *, batch_size: int | None = None) -> np.ndarray:
    """float32 [L + 1, n, D]: every layer's mean-pooled hidden states, L2-normalised (one forward pass;
    :meth:`reelmatch.text.encoder.TextEncoder.pooled_layers`, which the encoder ``minilm-layers`` reads)."""
    return enc.pooled_layers(texts, batch_size=batch_size)


def concat_layers(pooled: np.ndarray, layers: tuple[int, ...]) -> np.ndarray:
    """float32 [n, len(layers) * D] with unit rows from ``layer_features``' [L + 1, n, D]."""
    return np.concatenate([pooled[k] for k in layers], axis=1) / np.sqrt(len(layers))


def tfidf_head(texts_tr: list[str], labels_tr, c: float):
    """A genre head (the text tower's logistic regression) on the TF-IDF of the plot: ``probabilities(texts)``."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=2).fit(texts_tr)
    head = genre_head(vec.transform(texts_tr).toarray().astype(np.float32), labels_tr, c)
    return lambda t: head(vec.transform(t).toarray().astype(np.float32))


def _lever_scores(pooled, texts, labels, it, va) -> dict[tuple, float]:
    """MAP@R on the titles ``va`` (train on ``it``) of every (layer set, C, TF-IDF C, TF-IDF share)."""
    from reelmatch.evaluate.metrics import retrieval_metrics

    lab_it, lab_va = [labels[i] for i in it], [labels[i] for i in va]
    heads = {(ls, c): genre_head(concat_layers(pooled[:, it], LAYER_SETS[ls]), lab_it, c)(
                 concat_layers(pooled[:, va], LAYER_SETS[ls])) for ls in LAYER_SETS for c in CS}  # fmt: skip
    tf = {ct: tfidf_head([texts[i] for i in it], lab_it, ct)([texts[i] for i in va]) for ct in TFIDF_CS}
    out = {}
    for (ls, c), p in heads.items():
        for ct, pt in tf.items():
            for a in TFIDF_SHARES:
                if a == 0 and ct != TFIDF_CS[0]:
                    out[(ls, c, ct, a)] = out[(ls, c, TFIDF_CS[0], a)]
                    continue
                out[(ls, c, ct, a)] = retrieval_metrics((1 - a) * p + a * pt, lab_va)["map_at_r"]
    return out


def levers(pooled, texts, labels, tr, te, *, epochs: int, seed: int, folds: int = 3) -> dict[str, float]:
    """Held-out MAP@R of the frozen-feature levers, each one's settings chosen by ``folds``-fold
    cross-validation inside the training titles ``tr`` (the held-out ``te`` are never looked at):
    several layers (layer set, C), TF-IDF stacking (TF-IDF C, share; MiniLM's last layer, C = 1), both
    (all four), and the chosen "both" inside the text tower's embedding (weight 0.85, as the default)."""
    from reelmatch.evaluate.metrics import retrieval_metrics

    rng = np.random.default_rng(1000 + seed)  # the same folds as choose()
    r = rng.permutation(tr)
    inner: dict[tuple, list[float]] = {}
    for f in range(folds):
        va, it = r[f::folds], np.setdiff1d(r, r[f::folds])
        for k, v in _lever_scores(pooled, texts, labels, it, va).items():
            inner.setdefault(k, []).append(v)
    cv = {k: float(np.mean(v)) for k, v in inner.items()}
    best = lambda keep: max((k for k in cv if keep(k)), key=cv.get)  # noqa: E731
    picks = {
        "layers": best(lambda k: k[3] == 0),
        "tfidf": best(lambda k: k[0] == "6" and k[1] == 1.0),
        "both": best(lambda k: True),
    }
    lab_tr, lab_te = [labels[i] for i in tr], [labels[i] for i in te]
    out = {}
    for name, (ls, c, ct, a) in picks.items():
        xtr, xte = concat_layers(pooled[:, tr], LAYER_SETS[ls]), concat_layers(pooled[:, te], LAYER_SETS[ls])
        p = genre_head(xtr, lab_tr, c)(xte)
        if a > 0:
            p = (1 - a) * p + a * tfidf_head([texts[i] for i in tr], lab_tr, ct)([texts[i] for i in te])
        out[name] = retrieval_metrics(p, lab_te)["map_at_r"]
        out[name + " pick"] = (ls, c, ct, a)
        out[name + " cv"] = cv[(ls, c, ct, a)]
        if name == "both":
            w = 0.85
            tower = train_text_tower(xtr, lab_tr, epochs=epochs, seed=seed)
            out["both in tower"] = retrieval_metrics(tower(xte, w, p), lab_te)["map_at_r"]
    for ls in LAYER_SETS:  # for orientation only (fixed, not a choice): each layer set's head, C = 1
        xtr, xte = concat_layers(pooled[:, tr], LAYER_SETS[ls]), concat_layers(pooled[:, te], LAYER_SETS[ls])
        out[f"layers {ls} (fixed C 1)"] = retrieval_metrics(genre_head(xtr, lab_tr)(xte), lab_te)["map_at_r"]
    out["cv baseline (6, C 1, no TF-IDF)"] = cv[("6", 1.0, TFIDF_CS[0], 0.0)]
    return out


#: lever "fine-tuning": MiniLM's top layers trained with a multi-label genre loss (BCE) on the training titles'
#: texts cut at 128 tokens, AdamW, the genre layer warm-started from the logistic regression on the frozen
#: features; "lr" (the layers') and "epochs" are chosen per split by inner validation (``--finetune-lrs``,
#: ``--finetune-epochs``), the rest is fixed
FINETUNE = {"max_tokens": 128, "epochs": 3, "lr": 5e-5, "head_lr": 1e-3, "batch": 16, "weight_decay": 0.01}


def additive_mask(mask, dtype):
    """float [B, 1, 1, T] from a 0/1 ``mask`` int64 [B, T]: 0 where a token may be attended, the dtype's
    minimum where it is padding; added to the attention scores (what eager and SDPA attention in
    ``BertLayer`` both take as a ready-made 4D mask)."""
    import torch

    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


class TopLayers:
    """MiniLM's hidden states below its top ``top`` layers, computed once for every text (cut at 128 tokens),
    so fine-tuning the top layers costs only their forward and backward passes.

    The features are those the encoder gives (``enc.spec.layers``: the last layer mean-pooled, or several
    layers mean-pooled, each L2-normalised, concatenated / sqrt(count)); the frozen layers' pooled states
    are stored, the top ones recomputed by whatever copy of the top layers is passed in."""

    def __init__(self, enc, texts: list[str], top: int, *, batch_size: int = 64):
        import torch

        st = enc._model
        self.bert = st[0].auto_model
        self.top = top
        self.n_layers = n_layers = len(self.bert.encoder.layer)
        if not 1 <= top <= n_layers:
            raise ValueError(f"--finetune {top}: MiniLM has {n_layers} layers")
        self.below = n_layers - top  # hidden-state index of the stored input of the top layers
        self.layers_used = tuple(enc.spec.layers or (n_layers,))
        frozen = [k for k in self.layers_used if k <= self.below]
        tok = st.tokenizer
        order = np.argsort([len(t) for t in texts], kind="stable")
        self.states: list = [None] * len(texts)
        self.frozen = {k: torch.zeros(len(texts), self.bert.config.hidden_size) for k in frozen}
        with torch.inference_mode():
            for b in range(0, len(texts), batch_size):
                idx = order[b : b + batch_size]
                f = self._tokens(tok, [texts[i] for i in idx])
                hs = self.bert(**f, output_hidden_states=True).hidden_states
                lengths = f["attention_mask"].sum(1)
                for j, i in enumerate(idx):
                    self.states[i] = hs[self.below][j, : lengths[j]].clone()
                for k in frozen:
                    self.frozen[k][idx] = self._pool(hs[k], f["attention_mask"])
        # a reference: the frozen model run on texts of every length padded together (so the padding mask
        # matters) against the top layers re-run on the stored states
        probe = order[np.linspace(0, len(texts) - 1, min(64, len(texts))).round().astype(int)]
        with torch.inference_mode():
            f = self._tokens(tok, [texts[i] for i in probe])
            hs = self.bert(**f, output_hidden_states=True).hidden_states
            ref = self._combine({k: self._pool(hs[k], f["attention_mask"]) for k in self.layers_used})
            again = self.features(self.bert.encoder.layer[self.below :], probe)
        cos = (ref * again).sum(1)
        self.check_cosine = float(cos.min())
        assert self.check_cosine > 0.9999, f"top layers on the stored states: min cosine {self.check_cosine}"

    @staticmethod
    def _tokens(tok, texts):
        return tok(texts, padding=True, truncation=True, max_length=FINETUNE["max_tokens"], return_tensors="pt")

    @staticmethod
    def _pool(h, mask):
        """float32 [B, D]: ``h`` [B, T, D] mean-pooled over the tokens of ``mask`` [B, T], unit rows."""
        import torch

        m = mask.unsqueeze(-1).to(h.dtype)
        return torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1)

    def _combine(self, pooled: dict):
        """The encoder's features from per-layer pooled states {hidden-state index: [B, D]}."""
        import torch

        if len(self.layers_used) == 1:
            return pooled[self.layers_used[0]]
        return torch.cat([pooled[k] for k in self.layers_used], dim=1) / float(np.sqrt(len(self.layers_used)))

    def features(self, layers, idx):
        """float32 [len(idx), dim]: the encoder's features of texts ``idx``, the top layers being ``layers``
        (a copy of MiniLM's top ``top`` layers) run on the stored states with an explicit padding mask."""
        import torch

        hs = [self.states[i] for i in idx]
        t = max(len(h) for h in hs)
        h = torch.zeros(len(hs), t, hs[0].shape[-1])
        mask = torch.zeros(len(hs), t, dtype=torch.long)
        for j, x in enumerate(hs):
            h[j, : len(x)] = x
            mask[j, : len(x)] = 1
        ext = additive_mask(mask, h.dtype)
        pooled = {k: self.frozen[k][idx] for k in self.frozen}
        for k, layer in enumerate(layers, start=self.below + 1):
            out = layer(h, attention_mask=ext)
            h = out[0] if isinstance(out, tuple) else out
            if k in self.layers_used:
                pooled[k] = self._pool(h, mask)
        return self._combine(pooled)

    def all_features(self, layers, idx=None) -> np.ndarray:
        """float32 [n, dim] of texts ``idx`` (default all), in batches of 64, no gradients."""
        import torch

        idx = np.arange(len(self.states)) if idx is None else np.asarray(idx)
        layers.eval()
        with torch.no_grad():
            return torch.cat([self.features(layers, idx[b : b + 64]) for b in range(0, len(idx), 64)]).numpy()

    def finetune(self, labels, tr, *, seed: int, lr: float, epochs: int, after_epoch=None):
        """Fine-tune a copy of the top layers on texts ``tr`` for ``epochs`` epochs at layer learning rate ``lr``;
        ``after_epoch(epoch, layers)`` is called after each epoch (1-based). Returns ``(layers, head,
        seconds)``: the trained copy and its genre layer (``torch.nn.Linear`` over the features)."""
        import copy

        import torch
        import torch.nn.functional as F

        from reelmatch.model.text import TextTower

        t0 = time.perf_counter()
        torch.manual_seed(seed)
        layers = torch.nn.ModuleList(copy.deepcopy(list(self.bert.encoder.layer[self.below :])))
        layers.requires_grad_(True)
        vocab = sorted({g for i in tr for g in labels[i]})
        y = torch.from_numpy(_multi_hot([labels[i] for i in tr], vocab))
        x0 = torch.from_numpy(self.all_features(layers, tr))
        warm = TextTower(x0.shape[1], 8, hidden=8, num_genres=len(vocab))
        warm.fit_genres(x0, y)
        head = torch.nn.Linear(x0.shape[1], len(vocab))
        with torch.no_grad():
            head.weight.copy_(warm.genres.weight)
            head.bias.copy_(warm.genres.bias)
        opt = torch.optim.AdamW([{"params": layers.parameters(), "lr": lr},
                                 {"params": head.parameters(), "lr": FINETUNE["head_lr"]}],
                                weight_decay=FINETUNE["weight_decay"])  # fmt: skip
        gen = torch.Generator().manual_seed(seed)
        for epoch in range(1, epochs + 1):
            layers.train()
            order = torch.randperm(len(tr), generator=gen).numpy()
            for b in range(0, len(order), FINETUNE["batch"]):
                j = order[b : b + FINETUNE["batch"]]
                loss = F.binary_cross_entropy_with_logits(head(self.features(layers, tr[j])), y[j])
                opt.zero_grad()
                loss.backward()
                opt.step()
            layers.eval()
            if after_epoch is not None:
                after_epoch(epoch, layers)
        return layers, head, time.perf_counter() - t0


def choose_finetune(top: TopLayers, labels, tr, *, seed: int, lrs, max_epochs: int, folds: int, c: float,
                    centre: bool) -> tuple[dict, dict]:
    """Inner validation inside the training titles ``tr`` (the first ``folds`` of the 3 folds of
    :func:`choose`; the held-out titles are never looked at): for each layer learning rate and each epoch
    1..``max_epochs``, MAP@R on the fold's titles of the genre head refit (C ``c``, ``centre``) on the fold's
    training titles' fine-tuned features; the epoch-0 entry is the frozen features'. Returns ``(best
    {"lr", "epochs"}, mean MAP@R per (lr, epochs))``."""
    from reelmatch.evaluate.metrics import retrieval_metrics

    rng = np.random.default_rng(1000 + seed)  # the same folds as choose()
    r = rng.permutation(tr)
    got: dict[tuple, list[float]] = {}
    for f in range(folds):
        va, it = r[f::3], np.setdiff1d(r, r[f::3])
        lab_it, lab_va = [labels[i] for i in it], [labels[i] for i in va]

        def score(feats_it, feats_va):
            return retrieval_metrics(genre_head(feats_it, lab_it, c, centre=centre)(feats_va), lab_va)["map_at_r"]

        for lr in lrs:
            def after(epoch, layers, lr=lr):
                got.setdefault((lr, epoch), []).append(
                    score(top.all_features(layers, it), top.all_features(layers, va)))

            if lr == lrs[0]:
                import torch

                frozen = torch.nn.ModuleList(list(top.bert.encoder.layer[top.below :]))
                got.setdefault((0.0, 0), []).append(score(top.all_features(frozen, it), top.all_features(frozen, va)))
            top.finetune(labels, it, seed=seed * 10 + f, lr=lr, epochs=max_epochs, after_epoch=after)
    cv = {k: float(np.mean(v)) for k, v in got.items()}
    best = max((k for k in cv if k[1] > 0), key=cv.get)
    return {"lr": best[0], "epochs": best[1]}, cv


#: the reduced-precision encoders measured next to fp32 (reelmatch.text.encoder's registry)
FAST_ENCODERS = ("minilm-bf16", "minilm-int8")


def _st_pipeline(enc, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """float32 [n, D]: the sentence-transformers pipeline on the encoder's model (how ``minilm`` encoded
    before its own batching by token count): character-length sorted, padded batches of ``batch_size``."""
    import torch

    with torch.inference_mode():
        return enc._model.encode(texts, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True,
                                 show_progress_bar=False)


def throughput(enc, texts: list[str]) -> None:
    """plots/s of the same plots side by side: the default (tokenized once, plots of one token count together,
    ``BATCH_ROWS`` unpadded rows per forward pass), other row counts, the sentence-transformers pipeline at
    batch 64 (padded length-sorted batches: before the token-count batching), one torch thread, and up to 300
    plots also reduced precision (bf16 weights, dynamic int8); the token count pass. Each setting three times,
    each round in another order."""
    import torch

    from reelmatch.text import create_text_encoder

    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (uptime)")
    threads = torch.get_num_threads()
    fast = FAST_ENCODERS if len(texts) <= 300 else ()
    encs = {"fp32": enc} | {name: create_text_encoder(name) for name in fast}
    for e in encs.values():
        e.encode(texts[:16])  # the first call pays for lazy initialisation
    default = type(enc).BATCH_ROWS
    cos = (enc.encode(texts) * _st_pipeline(enc, texts)).sum(1)
    print(f"cosine of the default to the sentence-transformers pipeline over {len(texts)} plots: min {cos.min():.6f}")
    runs = [(f"{default} row(s) per pass (default)", "fp32", {}, threads),
            ("sentence-transformers, batch 64 (before)", "st", {"batch_size": 64}, threads)]
    runs += [(f"{n} rows per pass", "fp32", {"batch_size": n}, threads) for n in (1, 2, 4, 8) if n != default]
    runs += [(f"{default} row(s) per pass, 1 thread", "fp32", {}, 1)]
    runs += [(f"{name}, batch 64", name, {"batch_size": 64}, threads) for name in fast]
    res = {}
    for rep in range(3):  # three rounds, each in another order, so a change of load hits every setting alike
        for name, e, kw, th in runs[rep:] + runs[:rep]:
            torch.set_num_threads(th)
            t0 = time.perf_counter()
            if e == "st":
                _st_pipeline(enc, texts, **kw)
            else:
                encs[e].encode(texts, **kw)
            res.setdefault(name, []).append(len(texts) / (time.perf_counter() - t0))
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    enc.count_tokens(texts)
    tok = len(texts) / (time.perf_counter() - t0)
    base = statistics.median(res[runs[1][0]])
    for name, v in res.items():
        print(f"  {name:40s} {statistics.median(v):6.1f} plots/s (median of 3)  ratio to before "
              f"{statistics.median(v) / base:.2f}  (runs: {', '.join(f'{r:.1f}' for r in v)})")
    print(f"  token count pass alone   {tok:6.0f} plots/s; load average after: {os.getloadavg()[0]:.1f}")


def agreement(x: np.ndarray, texts: list[str], enc=None) -> None:
    """Cosine of each reduced-precision encoder's embedding to the fp32 one ``x`` [n, D], per plot (and of ``x``
    to the sentence-transformers pipeline on ``enc``'s model)."""
    from reelmatch.text import create_text_encoder

    if enc is not None and enc.spec.layers is None:
        cos = (x * _st_pipeline(enc, texts)).sum(1)
        print(f"  cosine {enc.name} vs the sentence-transformers pipeline over {len(texts)} plots: min {cos.min():.6f}, "
              f"mean {cos.mean():.6f}", flush=True)
    for name in FAST_ENCODERS:
        y = create_text_encoder(name).encode(texts)
        cos = (x * y).sum(1)
        print(f"  cosine {name} vs fp32 over {len(texts)} plots: min {cos.min():.4f}, 1st percentile "
              f"{np.percentile(cos, 1):.4f}, mean {cos.mean():.4f}", flush=True)


def main(args) -> int:
    if not args.plots.is_file():
        print(f"skipped: no plots file at {args.plots} (give --plots FILE)")
        return 0
    from sklearn.feature_extraction.text import TfidfVectorizer

    from reelmatch.evaluate.metrics import retrieval_metrics
    from reelmatch.text import create_text_encoder

    plots, labels, texts = read_plots(args.plots, args.encoder)  # texts: what the encoder reads (the plot, or title + plot)
    print(f"{len(texts)} titles with a plot and genres from {args.plots}")
    enc = create_text_encoder(args.encoder)
    if args.throughput:
        throughput(enc, texts[: args.throughput])
    if args.agreement:
        agreement(enc.encode(texts), texts, enc)
    if args.throughput or args.agreement:
        return 0
    t0, c0 = time.perf_counter(), time.process_time()
    x = enc.encode(texts)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    load = os.getloadavg()[0]
    print(f"encoding ({args.encoder}): {len(texts) / wall:.1f} plots/s wall, {len(texts) / cpu:.1f} plots per CPU-s "
          f"({enc.truncated} cut to {enc.max_tokens} tokens; load average {load:.1f} on {os.cpu_count()} cores)")

    xs = sentence_mean(enc, texts) if args.sentences else None
    pooled = None
    if args.levers:
        t0 = time.perf_counter()
        pooled = layer_features(enc, texts)
        print(f"pooled hidden states of {pooled.shape[0]} layers in {time.perf_counter() - t0:.0f} s "
              f"(cosine of layer 6 to the sentence embedding: min {(pooled[-1] * x).sum(1).min():.4f})")
    lever_rows: dict[str, list] = {}
    top = None
    if args.finetune:
        t0 = time.perf_counter()
        top = TopLayers(enc, texts, args.finetune)
        print(f"states below the top {args.finetune} layer(s), texts cut at {FINETUNE['max_tokens']} tokens, "
              f"in {time.perf_counter() - t0:.0f} s (the top layers re-run on them give the frozen model's "
              f"features: min cosine {top.check_cosine:.7f} over 64 texts of every length); recipe {FINETUNE}, "
              f"lr from {args.finetune_lrs}, epochs 1..{args.finetune_epochs}", flush=True)
    xref = None
    if args.reference:
        xref = create_text_encoder(args.reference).encode(read_plots(args.plots, args.reference)[2])
    from reelmatch.model.config import ModelConfig
    from reelmatch.text.encoder import text_encoder_spec

    w = ModelConfig().text_genre_weight
    gc = text_encoder_spec(args.encoder).genre_c  # the genre head's C for this encoder, as reelmatch train fits it
    enc_name = f"{args.encoder} (no training)"
    methods = ["random", "tfidf", enc_name, "text tower (warm-up only)", "text tower (projection: before)",
               "genre head alone", f"text tower + genre head (weight {w}, default)"]
    if xs is not None:
        methods += ["genre head alone, sentence mean", "text tower + genre head, sentence mean"]
    if args.centre:
        methods += ["genre head alone, centred", f"text tower + genre head, centred (weight {w})"]
    scores: dict[str, list[float]] = {m: [] for m in methods}
    chosen: dict[str, list[float]] = {}
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        perm = rng.permutation(len(texts))
        n_train = int(round(len(texts) * args.train_fraction))
        tr, te = perm[:n_train], perm[n_train:]
        lab_tr, lab_te = [labels[i] for i in tr], [labels[i] for i in te]
        if args.choose:  # on the training titles only
            for k, v in choose(x, labels, tr, epochs=args.epochs, seed=seed, c=gc).items():
                chosen.setdefault(k, []).append(v)
        tfidf = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=2).fit([plots[i] for i in tr])
        tower = train_text_tower(x[tr], lab_tr, epochs=args.epochs, seed=seed, c=gc)
        got = {
            "random": rng.normal(size=(len(te), 64)),
            "tfidf": tfidf.transform([plots[i] for i in te]).toarray(),
            enc_name: x[te],
            "text tower (warm-up only)": train_text_tower(x[tr], lab_tr, epochs=args.epochs, seed=seed, triplet=False)(x[te]),
            "text tower (projection: before)": tower(x[te], 0.0),
            "genre head alone": genre_head(x[tr], lab_tr, gc)(x[te]),
            methods[6]: tower(x[te], w),
        }
        if xs is not None:
            got[methods[7]] = genre_head(xs[tr], lab_tr)(xs[te])
            got[methods[8]] = train_text_tower(xs[tr], lab_tr, epochs=args.epochs, seed=seed)(xs[te], w)
        if args.centre:  # the genre vector minus the training titles' mean probabilities (--text-genre-centre)
            got["genre head alone, centred"] = genre_head(x[tr], lab_tr, gc, centre=True)(x[te])
            got[f"text tower + genre head, centred (weight {w})"] = train_text_tower(
                x[tr], lab_tr, epochs=args.epochs, seed=seed, c=gc, centre=True)(x[te], w)
        for m in methods:
            scores[m].append(retrieval_metrics(got[m], lab_te)["map_at_r"])
        if xref is not None:
            ref = f"{args.reference}: text tower + genre head (weight {w}, default)"
            gr = text_encoder_spec(args.reference).genre_c
            lever_rows.setdefault(ref, []).append(retrieval_metrics(
                train_text_tower(xref[tr], lab_tr, epochs=args.epochs, seed=seed, c=gr)(xref[te], w), lab_te)["map_at_r"])
        if top is not None:
            import torch

            n = args.finetune
            t0 = time.perf_counter()
            pick, cv = choose_finetune(top, labels, tr, seed=seed, lrs=args.finetune_lrs,
                                       max_epochs=args.finetune_epochs, folds=args.finetune_folds, c=gc,
                                       centre=args.centre)  # fmt: skip
            inner = time.perf_counter() - t0
            layers, head, secs = top.finetune(labels, tr, seed=seed, lr=pick["lr"], epochs=pick["epochs"])
            feats = top.all_features(layers)
            frozen = top.all_features(torch.nn.ModuleList(list(top.bert.encoder.layer[top.below :])))
            with torch.no_grad():
                own = torch.sigmoid(head(torch.from_numpy(feats[te]))).numpy()
            cen = " centred" if args.centre else ""
            ft = {f"frozen, {FINETUNE['max_tokens']} tokens: genre head{cen}":
                      genre_head(frozen[tr], lab_tr, gc, centre=args.centre)(frozen[te]),
                  f"frozen, {FINETUNE['max_tokens']} tokens: text tower + genre head{cen}":
                      train_text_tower(frozen[tr], lab_tr, epochs=args.epochs, seed=seed, c=gc,
                                       centre=args.centre)(frozen[te], w),
                  f"fine-tuned top {n}: its genre layer": own,
                  f"fine-tuned top {n}: genre head{cen} refit":
                      genre_head(feats[tr], lab_tr, gc, centre=args.centre)(feats[te]),
                  f"fine-tuned top {n}: text tower + genre head{cen}":
                      train_text_tower(feats[tr], lab_tr, epochs=args.epochs, seed=seed, c=gc,
                                       centre=args.centre)(feats[te], w)}  # fmt: skip
            for k, v in ft.items():
                lever_rows.setdefault(k, []).append(retrieval_metrics(v, lab_te)["map_at_r"])
            lever_rows.setdefault("fine-tuning seconds (final fit)", []).append(secs)
            lever_rows.setdefault("inner validation seconds", []).append(inner)
            lever_rows.setdefault("chosen lr", []).append(pick["lr"])
            lever_rows.setdefault("chosen epochs", []).append(float(pick["epochs"]))
            print(f"seed {seed} inner validation ({inner:.0f} s; {args.finetune_folds} fold(s), genre head{cen} "
                  f"refit, MAP@R): " + ", ".join(f"lr {k[0]:g} epochs {k[1]}: {v:.3f}" for k, v in sorted(cv.items()))
                  + f" -> lr {pick['lr']:g}, {pick['epochs']} epoch(s)", flush=True)
            print(f"seed {seed} fine-tuning ({secs:.0f} s, load {os.getloadavg()[0]:.1f}): "
                  + ", ".join(f"{k} {lever_rows[k][-1]:.3f}" for k in ft), flush=True)
        if pooled is not None:
            lv = levers(pooled, plots, labels, tr, te, epochs=args.epochs, seed=seed)
            for k, v in lv.items():
                lever_rows.setdefault(k, []).append(v)
            print(f"seed {seed} levers: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                                       for k, v in lv.items()), flush=True)
        print(f"seed {seed}: {len(tr)} training titles, {len(te)} held-out: "
              + ", ".join(f"{m} {scores[m][-1]:.3f}" for m in methods), flush=True)
    if chosen:
        print(f"\nchoice by 3-fold cross-validation inside the training titles, MAP@R (mean over {args.seeds} splits):")
        for k, v in chosen.items():
            print(f"  {k:32s} {statistics.mean(v):.3f}")
    print(f"\nheld-out text-only genre retrieval, MAP@R (mean ± sd over {args.seeds} splits):")
    for m in methods:
        v = scores[m]
        sd = statistics.stdev(v) if len(v) > 1 else 0.0
        print(f"  {m:48s} {statistics.mean(v):.3f} ± {sd:.3f}  (splits: {', '.join(f'{e:.3f}' for e in v)})")
    if lever_rows:
        print(f"\nlevers (held-out MAP@R, mean ± sd over {args.seeds} splits; 'cv': inside the training titles):")
        for k, v in lever_rows.items():
            if k.endswith(" pick"):
                print(f"  {k:48s} " + "; ".join(f"split {i}: layers {p[0]}, C {p[1]}, TF-IDF C {p[2]} share {p[3]}"
                                                  for i, p in enumerate(v)))
            else:
                sd = statistics.stdev(v) if len(v) > 1 else 0.0
                fmt = ".3f" if min(abs(e) for e in v) >= 0.01 or max(v) >= 1 else "g"
                print(f"  {k:48s} {statistics.mean(v):{fmt}} ± {sd:{fmt}}  (splits: {', '.join(f'{e:{fmt}}' for e in v)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
