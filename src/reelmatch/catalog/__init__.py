"""SQLite catalogue of items and per-stage status."""

from reelmatch.catalog.db import (
    KINDS,
    SCHEMA_VERSION,
    STAGES,
    Catalog,
    Item,
    item_id_for,
)

__all__ = ["Catalog", "Item", "KINDS", "STAGES", "SCHEMA_VERSION", "item_id_for"]
