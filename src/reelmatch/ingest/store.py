"""Write one item into the catalogue, reporting inserted / updated / unchanged."""

from __future__ import annotations

from dataclasses import replace

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


def keep_media(new: Item, old: Item | None) -> Item:
    """``new`` with the media fields (path, sha256, duration, media facts) of ``old``.

    Used when a re-import describes the same source: what download or add found
    about the media stays, only the descriptive fields change.
    """
    if old is None:
        return new
    media_extra = {k: v for k, v in (old.extra or {}).items() if k in MEDIA_EXTRA_KEYS}
    return replace(
        new,
        media_path=old.media_path,
        sha256=old.sha256,
        duration=old.duration,
        extra={**media_extra, **(new.extra or {})},
    )


#: keys of ``Item.extra`` that describe the local media file, not the title
MEDIA_EXTRA_KEYS = ("file_stat", "width", "height", "codec", "has_audio", "downloaded_format")
