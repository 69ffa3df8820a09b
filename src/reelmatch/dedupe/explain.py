"""Per-item copy explanations: which catalogue items copy this one, where, and the best frame pair.

``copy_pairs_of(ws, item_id) -> [{"a", "b", "score", "segments", "best_match", "id", "title"}]``
uses the stored descriptors and the FAISS frame index (run ``reelmatch dedupe``
first); the serve page shows it (``GET /api/items/{id}/copies``).
"""

from __future__ import annotations

from reelmatch.dedupe.config import DEFAULT_THRESHOLD, DedupeConfig
from reelmatch.dedupe.stage import _done_ids, score_candidates
from reelmatch.dedupe.store import DescriptorStore
from reelmatch.errors import NotBuiltError


def copy_pairs_of(ws, item_id: str, threshold: float = DEFAULT_THRESHOLD, config: DedupeConfig = DedupeConfig()) -> list[dict]:
    """The copy pairs of ``item_id`` scoring >= ``threshold``, best first, each with segments (seconds)
    and the best matching frame pair. ``NotBuiltError`` when the item has no descriptor yet."""
    ws.catalog.get(item_id)  # NotFoundError for an unknown id
    store = DescriptorStore(ws, config)
    descs = store.load_all(_done_ids(ws, config))
    if item_id not in descs:
        state = ws.catalog.stage_of(item_id, "dedupe")
        if state is not None and state["status"] == "done":
            return []  # described, but only blank frames: it matches nothing
        raise NotBuiltError(f"item {item_id} has no copy descriptor yet: run 'reelmatch dedupe' first")
    pairer, scores = score_candidates(store, descs, {i: store.times(i) for i in descs}, threshold, config, only=item_id)
    out = []
    for (a, b), s in sorted(scores.items(), key=lambda kv: -kv[1]):
        if s < threshold:
            continue
        other = b if a == item_id else a
        it = ws.catalog.get(other)
        out.append({"id": it.id, "title": it.title, **pairer.explain(a, b)})
    return out
