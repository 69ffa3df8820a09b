"""Typed query results; ``to_dict()`` gives the public JSON of DESIGN.md."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Neighbour:
    """One ranked result. ``scores``: per-modality cosine similarities
    ``{"visual", "audio", "text": float | None}`` (``None`` when either side lacks that
    modality: no sound, no plot, or no clip); ``modalities``: what the result's own
    vector was made from (``["text"]`` for a title with a plot and no clip yet)."""

    rank: int
    id: str
    title: str
    kind: str
    score: float
    genres: tuple[str, ...] = ()
    shared_genres: tuple[str, ...] = ()
    scores: dict | None = None
    explain: dict | None = None  # see reelmatch.query.explain
    scenes: list | None = None  # match-ad --scenes: the best scenes of this movie
    breaks: list | None = None  # match-ad --scenes: break candidates (seconds)
    modalities: tuple[str, ...] | None = None

    def to_dict(self) -> dict:
        d = {
            "rank": self.rank,
            "id": self.id,
            "title": self.title,
            "kind": self.kind,
            "score": round(float(self.score), 6),
            "genres": list(self.genres),
            "shared_genres": list(self.shared_genres),
        }
        if self.scores is not None:
            d["scores"] = {k: (None if v is None else round(float(v), 6)) for k, v in self.scores.items()}
        if self.modalities is not None:
            d["modalities"] = list(self.modalities)
        if self.explain is not None:
            d["explain"] = self.explain
        if self.scenes is not None:
            d["scenes"] = self.scenes
        if self.breaks is not None:
            d["breaks"] = self.breaks
        return d


@dataclass
class QueryResult:
    """The answer of ``similar`` / ``match-ad``.

    query: ``{"id", "title", ...}`` for a catalogue item, ``{"path", "title"}``
    for a video file (plus ``"id"`` when the file's content is a catalogue item).
    mode: ``"model"`` or ``"backbone"`` (embeddings from the pretrained backbone
    alone, before any training); not part of the JSON.
    """

    query: dict
    results: list[Neighbour] = field(default_factory=list)
    mode: str | None = None
    exclusions: dict | None = None  # the exclusions applied (in the JSON when any)
    top_scenes: list | None = None  # match-ad --scenes: the best scenes of the whole catalogue (in the JSON when asked)

    def to_dict(self) -> dict:
        doc = {"query": dict(self.query), "results": [n.to_dict() for n in self.results]}
        if self.exclusions:
            doc["exclusions"] = dict(self.exclusions)
        if self.top_scenes is not None:
            doc["top_scenes"] = [dict(s) for s in self.top_scenes]
        return doc

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self):
        return iter(self.results)

    @property
    def ids(self) -> list[str]:
        return [n.id for n in self.results]
