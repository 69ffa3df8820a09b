"""Train/val/test split by title: deterministic, and no title in two splits.

The split of an item is a pure function of its *normalised* title, so copies,
re-uploads and re-encodes of one title ("Alien (1979) - Official Trailer HD",
"alien 1979 official trailer") all land in the same split, whatever order they
were added in and on whichever machine. This is what keeps near-duplicates of a
training trailer out of the test set (the recipe's test split was its training
split).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

SPLITS = ("train", "val", "test")

# words that decorate trailer titles without naming the film
_NOISE = re.compile(
    r"\b((?:trailer|teaser|spot|clip)\s+\d+|official|final|main|teaser|international|domestic|theatrical|"
    r"exclusive|new|hd|uhd|4k|1080p|720p|trailers?|clip|tv\s+spot|spot|version|remastered|red\s+band|"
    r"subtitled|dubbed)\b"
)


def normalise_title(title: str) -> str:
    """Lower-case, accent-free, punctuation-free title without trailer decorations.

    >>> normalise_title("Amélie (2001) - Official Trailer #2 [HD]")
    'amelie 2001'
    """
    s = unicodedata.normalize("NFKD", str(title))
    s = "".join(c for c in s if not unicodedata.combining(c)).lower()
    s = re.sub(r"[^\w\s]", " ", s)
    s = s.replace("_", " ")
    s = _NOISE.sub(" ", s)
    s = " ".join(s.split())
    return s or " ".join(str(title).lower().split())


def split_for_title(title: str, *, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0) -> str:
    """``"train"``, ``"val"`` or ``"test"`` for ``title`` (deterministic).

    The normalised title is hashed (SHA-256 with ``seed``) to a number in [0, 1)
    compared with the cumulative ``fractions``.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise ValueError(f"fractions must be three non-negative numbers, got {fractions}")
    total = float(sum(fractions))
    key = f"{seed}:{normalise_title(title)}".encode()
    u = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2**64
    edge = 0.0
    for name, f in zip(SPLITS, fractions):
        edge += f / total
        if u < edge:
            return name
    return SPLITS[-1]
