"""What an ingest run did: counts, item ids and the rows or files it skipped."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RowError:
    """One skipped row or file: where (file, line), which field, and why (one line)."""

    source: str
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        what = f"{self.field}: " if self.field else ""
        return f"{where}: {what}{self.message}"

    def to_dict(self) -> dict:
        return {"source": self.source, "line": self.line, "field": self.field, "message": self.message}


@dataclass
class IngestReport:
    """Counts of an ingest run. ``skipped`` is the number of rows/files in ``errors``."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    item_ids: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return len(self.errors)

    @property
    def imported(self) -> int:
        """Rows/files that are now in the catalogue (new, changed or already there)."""
        return self.inserted + self.updated + self.unchanged

    def count(self, outcome: str, item_id: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)
        self.item_ids.append(item_id)

    def error(self, source: str, line: int | None, field_name: str | None, message: str) -> None:
        self.errors.append(RowError(str(source), line, field_name, " ".join(str(message).split())))

    def summary(self) -> str:
        return (
            f"{self.inserted} inserted, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.skipped} skipped"
        )

    def to_dict(self) -> dict:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "errors": [e.to_dict() for e in self.errors],
            "notes": list(self.notes),
        }
