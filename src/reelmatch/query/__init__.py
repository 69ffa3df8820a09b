"""Queries over the index: ``similar`` and ``match_ad`` with typed results.

>>> res = similar(ws, "Sintel", k=5, kind="trailer")     # or ws.similar(...)
>>> res.to_dict()   # {"query": {...}, "results": [{"rank", "id", "title", ...}]}
>>> match_ad(ws, "ads/spot.mp4", k=10).results[0].scores  # {"visual": .., "audio": ..}
"""

from reelmatch.query.results import Neighbour, QueryResult
from reelmatch.query.search import Searcher, match_ad, searcher_for, similar

__all__ = ["Neighbour", "QueryResult", "Searcher", "match_ad", "searcher_for", "similar"]
