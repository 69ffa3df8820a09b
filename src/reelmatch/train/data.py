"""Training data: labelled items, datasets (cached features or clips), class-balanced batches."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from reelmatch.errors import InputError

log = logging.getLogger(__name__)


@dataclass
class LabelledItems:
    """Ids with their multi-hot genres ``bool [N, G]`` over ``vocabulary``."""

    ids: list[str]
    genres: np.ndarray
    vocabulary: list[str]

    def __len__(self) -> int:
        return len(self.ids)


def labelled_items(ws, ids: list[str], vocabulary: list[str] | None = None) -> LabelledItems:
    """Trailers among ``ids`` with at least one genre (ads and unlabelled items are left out)."""
    rows = []
    for i in ids:
        item = ws.catalog.maybe_get(i)
        if item is None or item.kind != "trailer" or not item.genres:
            continue
        rows.append((i, tuple(item.genres)))
    vocab = list(vocabulary) if vocabulary is not None else sorted({g for _, gs in rows for g in gs})
    index = {g: k for k, g in enumerate(vocab)}
    m = np.zeros((len(rows), len(vocab)), dtype=bool)
    for r, (_, gs) in enumerate(rows):
        for g in gs:
            if g in index:
                m[r, index[g]] = True
    keep = m.any(axis=1)
    return LabelledItems([rows[r][0] for r in range(len(rows)) if keep[r]], m[keep], vocab)


class FeatureDataset(torch.utils.data.Dataset):
    """Cached feature records, held in memory (float16), with their genre rows."""

    def __init__(self, cache, items: LabelledItems):
        self.records = [cache.get(i) for i in items.ids]
        self.genres = items.genres

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, k: int):
        return self.records[k], self.genres[k]


class ClipDataset(torch.utils.data.Dataset):
    """Clip records read from the store on demand (phases that train the backbone)."""

    def __init__(self, store, items: LabelledItems):
        self.store = store
        self.ids = items.ids
        self.genres = items.genres

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, k: int):
        return self.store.get(self.ids[k]), self.genres[k]


def collate_labelled(rows) -> dict:
    """[(clip or feature record, genres)] -> batch dict with ``"genres"`` bool [B, G]."""
    from reelmatch.dataset.torch import collate, collate_features

    first = rows[0][0]
    batch = collate_features([r for r, _ in rows]) if isinstance(first, dict) else collate([r for r, _ in rows])
    batch["genres"] = torch.from_numpy(np.stack([g for _, g in rows]))
    return batch


class BalancedBatchSampler(torch.utils.data.Sampler):
    """Class-balanced batches: each batch takes ``per_genre`` items of each of several genres.

    Genres are visited in a shuffled round robin (rare genres as often as common
    ones); items are drawn without replacement within a genre until it runs out,
    then reshuffled. Multi-genre items count for each of their genres. An epoch
    has ``ceil(N / batch_size)`` batches; deterministic for a (seed, epoch).
    """

    def __init__(self, genres: np.ndarray, batch_size: int, per_genre: int, seed: int = 0):
        if len(genres) == 0:
            raise InputError("no labelled training items: import items with genres (and extract clips)")
        self.genres = np.asarray(genres, dtype=bool)
        self.batch_size = batch_size
        self.per_genre = min(per_genre, batch_size)
        self.seed = seed
        self.epoch = 0
        self.members = [np.flatnonzero(self.genres[:, g]) for g in range(self.genres.shape[1])]
        self.members = [m for m in self.members if len(m)]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return max(1, -(-len(self.genres) // self.batch_size))

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        pools = [list(rng.permutation(m)) for m in self.members]
        order = list(rng.permutation(len(self.members)))
        cursor = 0
        for _ in range(len(self)):
            batch: list[int] = []
            while len(batch) < min(self.batch_size, len(self.genres)):
                g = order[cursor % len(order)]
                cursor += 1
                if cursor % len(order) == 0:
                    order = list(rng.permutation(len(self.members)))
                taken = 0
                for _ in range(4 * self.per_genre):  # skip items already in the batch
                    if taken == self.per_genre:
                        break
                    if not pools[g]:
                        pools[g] = list(rng.permutation(self.members[g]))
                    k = int(pools[g].pop())
                    if k not in batch:
                        batch.append(k)
                        taken += 1
                if taken == 0 and len(set(batch)) >= len(self.genres):
                    break
            yield batch[: self.batch_size]


class ShuffledBatchSampler(torch.utils.data.Sampler):
    """Batches of a seeded shuffle of ``n`` items (self-supervised phases: no labels to balance).

    ``ceil(n / batch_size)`` batches per epoch, none of a single item (a last lone item
    joins the batch before it); deterministic for a (seed, epoch).
    """

    def __init__(self, n: int, batch_size: int, seed: int = 0):
        if n < 2:
            raise InputError(f"self-supervised training needs at least 2 items, got {n}")
        self.n, self.batch_size, self.seed, self.epoch = n, batch_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        full, rest = divmod(self.n, self.batch_size)
        return full + (1 if rest > 1 or full == 0 else 0)

    def __iter__(self):
        order = np.random.default_rng([self.seed, self.epoch, 7]).permutation(self.n).tolist()
        batches = [order[s : s + self.batch_size] for s in range(0, self.n, self.batch_size)]
        if len(batches) > 1 and len(batches[-1]) == 1:
            batches[-2] += batches.pop()
        yield from batches
