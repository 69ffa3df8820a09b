"""Brand-safety / suitability exclusions: which catalogue items a query may return.

:class:`Exclusions` says what an advertiser (or a viewer) must not be shown:
genres, kinds and content flags to leave out, and genres of which a result must
have at least one. It is applied *inside* the search: the ids that pass are
computed from the catalogue in one SQL query (:meth:`Catalog.filter_ids`) and
handed to the index, which searches only among them (a FAISS ``IDSelector``,
or exact brute force over them when they are few), so a query that excludes
99.9 % of the catalogue still gets the true best ``k`` of what is left.

An advertiser profile is a JSON file::

    {"name": "Kids' cereal", "exclude_genres": ["Horror"], "exclude_flags": ["violence", "alcohol"],
     "require_genres": ["Animation", "Family"], "exclude_kinds": ["ad"]}

every key optional; unknown keys are refused (a typo would silently allow everything).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

from reelmatch.errors import InputError

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
KINDS = ("trailer", "ad")


def sql_lower(text: str) -> str:
    """SQLite's ``lower()``: ASCII letters only (what the catalogue's filters compare)."""
    return text.translate(_ASCII_LOWER)


def _labels(value, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{where}: must be a list of strings, got {value!r}")
    out: dict[str, None] = {}
    for v in value:
        v = v.strip()
        if v and sql_lower(v) not in {sql_lower(k) for k in out}:
            out[v] = None
    return tuple(out)


@dataclass(frozen=True)
class Exclusions:
    """What results must not be (and, for ``require_genres``, must be).

    exclude_genres / exclude_flags: leave out items with any of these (case-insensitive);
    exclude_kinds: leave out ``trailer`` or ``ad`` items;
    require_genres: keep only items with at least one of these genres;
    name: the profile's name, for messages.
    """

    exclude_genres: tuple[str, ...] = ()
    exclude_kinds: tuple[str, ...] = ()
    exclude_flags: tuple[str, ...] = ()
    require_genres: tuple[str, ...] = ()
    name: str | None = None

    def __post_init__(self):
        for f in ("exclude_genres", "exclude_kinds", "exclude_flags", "require_genres"):
            object.__setattr__(self, f, _labels(getattr(self, f), f))
        bad = [k for k in self.exclude_kinds if k not in KINDS]
        if bad:
            raise InputError(f"exclude_kinds: {bad[0]!r} is not one of {', '.join(KINDS)}")

    @property
    def active(self) -> bool:
        return bool(self.exclude_genres or self.exclude_kinds or self.exclude_flags or self.require_genres)

    def merged(self, other: "Exclusions | None") -> "Exclusions":
        """Both sets of exclusions at once (required genres: the union)."""
        if other is None:
            return self
        return Exclusions(
            self.exclude_genres + other.exclude_genres, self.exclude_kinds + other.exclude_kinds,
            self.exclude_flags + other.exclude_flags, self.require_genres + other.require_genres,
            self.name or other.name,
        )

    def allows(self, item) -> bool:
        """The same rule as :meth:`Catalog.filter_ids`, for one item (the neighbour-table path)."""
        if item.kind in self.exclude_kinds:
            return False
        genres = {sql_lower(g) for g in item.genres}
        if self.require_genres and not genres & {sql_lower(g) for g in self.require_genres}:
            return False
        if genres & {sql_lower(g) for g in self.exclude_genres}:
            return False
        flags = {sql_lower(f) for f in getattr(item, "flags", ())}
        return not flags & {sql_lower(f) for f in self.exclude_flags}

    def to_dict(self) -> dict:
        d = {f.name: list(getattr(self, f.name)) for f in fields(self) if f.name != "name"}
        if self.name:
            d["name"] = self.name
        return d

    @classmethod
    def from_dict(cls, doc, where: str = "profile") -> "Exclusions":
        if not isinstance(doc, dict):
            raise InputError(f"{where}: a profile is a JSON object, got {type(doc).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise InputError(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})")
        name = doc.get("name")
        if name is not None and not isinstance(name, str):
            raise InputError(f"{where}: name: must be a string")
        kw = {}
        for k in known - {"name"}:
            try:
                kw[k] = _labels(doc.get(k), k)
            except InputError as e:
                raise InputError(f"{where}: {e}") from None
        try:
            return cls(**kw, name=name)
        except InputError as e:
            raise InputError(f"{where}: {e}") from None

    @classmethod
    def from_profile(cls, path) -> "Exclusions":
        """Read an advertiser profile JSON file (errors name the file and the field)."""
        path = Path(path)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise InputError(f"{path}: cannot read the profile ({e.strerror or e})") from e
        except ValueError as e:
            raise InputError(f"{path}: not valid JSON ({e})") from e
        return cls.from_dict(doc, str(path))


NO_EXCLUSIONS = Exclusions()
