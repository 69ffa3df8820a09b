"""The text tower: a trainable projection over frozen sentence embeddings of the plot, and a genre head.

``TextTower(in_dim, embed_dim)`` maps float32 [B, in_dim] sentence embeddings
(:mod:`reelmatch.text`) to [B, embed_dim]: LayerNorm -> Linear -> GELU ->
Dropout -> Linear. The encoder stays frozen (its features are cached per item),
so training the tower costs a few matrix products per batch.

With ``num_genres`` it also has a **genre head**: a linear layer over the sentence
embedding itself, fit once by L2-regularised logistic regression
(:meth:`TextTower.fit_genres`, full-batch L-BFGS on the training items) and frozen;
``genre_probabilities(x)`` gives float32 [B, G] sigmoid outputs. Relevance in genre
retrieval is "shares a genre", and on held-out real plots these probabilities
retrieve better than the projection trained by triplets (docs/model.md, "Plot text");
:func:`text_embedding` mixes the two into the text tower's embedding.

With ``centre=True`` the genre vector that enters the embedding is the probabilities minus their
mean over the training items (:meth:`TextTower.genre_vector`, the mean stored with the head when it
is fit): the cosine then compares how far each title leans towards or away from each genre relative
to the catalogue, rather than the common genres' large probabilities every title shares.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: inverse L2 strength of the genre head's logistic regression (scikit-learn's ``C``: the penalty is
#: ``|W|^2 / (2 C N)`` next to the mean loss), chosen by cross-validation on training titles
GENRE_HEAD_C = 1.0


class TextTower(nn.Module):
    def __init__(self, in_dim: int = 384, embed_dim: int = 256, hidden: int = 512, dropout: float = 0.2,
                 num_genres: int = 0, centre: bool = False):
        super().__init__()
        self.in_dim = in_dim
        self.net = nn.Sequential(
            nn.LayerNorm(in_dim), nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, embed_dim)
        )
        self.genres = None
        if num_genres > 0:  # (towers without it keep exactly the parameters they always had)
            # made without drawing random numbers, so the other parameters initialise as without it
            self.genres = torch.nn.utils.skip_init(nn.Linear, in_dim, num_genres)
            nn.init.zeros_(self.genres.weight)
            nn.init.zeros_(self.genres.bias)
            self.genres.requires_grad_(False)  # fit in closed form by fit_genres(), never by the optimiser
            if centre:  # the training items' mean probabilities, set by fit_genres()
                self.register_buffer("genre_centre", torch.zeros(num_genres))
        self.centre = bool(centre and num_genres > 0)

    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"text features must be [B, {self.in_dim}], got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x float32 [B, in_dim] -> float32 [B, embed_dim] (not normalised)."""
        self._check(x)
        return self.net(x)

    def genre_probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """x float32 [B, in_dim] -> float32 [B, G]: the genre head's sigmoid outputs (needs ``num_genres``)."""
        if self.genres is None:
            raise ValueError("this text tower has no genre head (num_genres=0)")
        self._check(x)
        return torch.sigmoid(self.genres(x.float()))

    def genre_vector(self, x: torch.Tensor) -> torch.Tensor:
        """x float32 [B, in_dim] -> float32 [B, G]: the genre vector of the embedding: the probabilities, or with
        ``centre`` the probabilities minus the training items' mean probabilities (set by :meth:`fit_genres`)."""
        p = self.genre_probabilities(x)
        return p - self.genre_centre if self.centre else p

    @torch.no_grad()
    def fit_genres(self, x: torch.Tensor, genres: torch.Tensor, *, c: float = GENRE_HEAD_C,
                   max_iter: int = 200) -> float:
        """Fit the genre head on x float32 [N, in_dim] and multi-hot ``genres`` [N, G] (one-vs-rest
        logistic regression, L2 penalty ``|W|^2 / (2 c N)``, bias unpenalised); returns the final loss.
        Deterministic: starts from zeros and runs full-batch L-BFGS. With ``centre`` it also stores the mean
        of the fitted head's probabilities over ``x``."""
        if self.genres is None:
            raise ValueError("this text tower has no genre head (num_genres=0)")
        self._check(x)
        if genres.ndim != 2 or genres.shape != (len(x), self.genres.out_features):
            raise ValueError(f"genres must be [{len(x)}, {self.genres.out_features}], got {tuple(genres.shape)}")
        if len(x) == 0:
            return float("nan")
        dev = self.genres.weight.device
        x, y = x.to(dev, torch.float32), genres.to(dev, torch.float32)
        w = torch.zeros_like(self.genres.weight, requires_grad=True)
        b = torch.zeros_like(self.genres.bias, requires_grad=True)
        n = len(x)
        opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, tolerance_grad=1e-6, tolerance_change=1e-9,
                                history_size=20, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = F.binary_cross_entropy_with_logits(x @ w.T + b, y, reduction="sum") / n + w.pow(2).sum() / (2 * c * n)
            loss.backward()
            return loss

        with torch.enable_grad():
            loss = opt.step(closure)
        self.genres.weight.copy_(w.detach())
        self.genres.bias.copy_(b.detach())
        if self.centre:
            self.genre_centre.copy_(torch.sigmoid(self.genres(x)).mean(0))
        return float(loss)


def text_embedding(projection: torch.Tensor, probabilities: torch.Tensor | None, genre_weight: float) -> torch.Tensor:
    """The text tower's embedding: the L2-normalised projection [B, E] and the genre vector [B, G] (the genre
    probabilities, or their centred form :meth:`TextTower.genre_vector`)
    concatenated with weights ``sqrt(1 - w)`` and ``sqrt(w)`` -> float32 [B, E + G] with unit rows
    (cosine = (1 - w) cos(projections) + w cos(probabilities)). ``w = 0`` (or no probabilities): the
    normalised projection alone, [B, E], as before the genre head existed; ``w = 1``: the probabilities alone."""
    p = F.normalize(projection, dim=-1)
    if probabilities is None or genre_weight <= 0:
        return p
    q = F.normalize(probabilities, dim=-1)
    if genre_weight >= 1:
        return q
    return torch.cat([p * math.sqrt(1 - genre_weight), q * math.sqrt(genre_weight)], dim=-1)
