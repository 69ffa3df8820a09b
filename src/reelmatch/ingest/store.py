"""Write one item into the catalogue, reporting inserted / updated / unchanged."""

from __future__ import annotations

from reelmatch.catalog.db import Catalog, Item


def save_item(catalog: Catalog, item: Item, old: Item | None = None) -> str:
    """Upsert ``item``; a change of ``extra`` alone also counts as an update.

    ``old`` is the stored item if the caller already has it. Returns
    ``"inserted"``, ``"updated"`` or ``"unchanged"``.
    """
    if old is None:
        old = catalog.maybe_get(item.id)
    outcome = catalog.upsert(item)
    if outcome == "unchanged" and old is not None and (old.extra or {}) != (item.extra or {}):
        catalog.update_fields(item.id, extra=item.extra or {})
        outcome = "updated"
    return outcome


#: keys of ``Item.extra`` that describe the local media file, not the title
MEDIA_EXTRA_KEYS = ("file_stat", "width", "height", "codec", "has_audio", "downloaded_format")
