"""Near-duplicate (copy) detection: dense frame descriptors, FAISS candidates, chamfer scores.

    >>> from reelmatch.dedupe import describe_catalogue, find_duplicates  # doctest: +SKIP
    >>> describe_catalogue(ws); find_duplicates(ws)["groups"]             # doctest: +SKIP

See docs/dedupe.md for the descriptor, the score and the calibrated threshold.
"""

from reelmatch.dedupe.config import DEFAULT_THRESHOLD, DedupeConfig
from reelmatch.dedupe.groups import connected_groups
from reelmatch.dedupe.similarity import copy_score, mean_pooled_score
from reelmatch.dedupe.stage import describe_catalogue, duplicates_of, duplicates_of_file, find_duplicates

__all__ = [
    "DEFAULT_THRESHOLD",
    "DedupeConfig",
    "connected_groups",
    "copy_score",
    "describe_catalogue",
    "duplicates_of",
    "duplicates_of_file",
    "find_duplicates",
    "mean_pooled_score",
]
