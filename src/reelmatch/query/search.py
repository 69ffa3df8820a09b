"""``similar`` and ``match-ad``: neighbours of a catalogue item or of a new video file.

A query is an item id, an exact title, or a path to a video file. A file is
matched by content first (if its sha256 is a catalogue item, that item's vector
is used and the item is excluded); otherwise it is extracted and embedded on the
fly with the model that made the embeddings, and not added to the catalogue
unless ``add=True``. The item itself is never among its own results. Filters
(``kind``, ``genre``, ``exclude_ids``, ``exclude_same_title``) are applied before
truncation to ``k``.

A catalogue item's neighbours are read from the precomputed neighbour table
(:mod:`reelmatch.index.neighbours`) when there is one: the filters are applied
to its row, and the index is searched only when fewer than ``k`` survive (or
``k`` exceeds the table's K). Either way the chosen results are scored by one
float32 dot product of the embeddings (:func:`score`), so both paths answer the
same document.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reelmatch.errors import InputError, NotFoundError
from reelmatch.query.filters import NO_EXCLUSIONS, Exclusions, sql_lower as _sql_lower
from reelmatch.query.results import Neighbour, QueryResult

log = logging.getLogger(__name__)
_EMBEDDER_LOCK = threading.Lock()

KINDS = ("trailer", "ad")
VIDEO_SUFFIXES = {
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ogv", ".ogg", ".flv", ".wmv", ".ts", ".3gp",
}


@dataclass
class Target:
    """What a query searches with: vectors (fused/visual/audio) and who it is."""

    query: dict
    item_id: str | None
    title: str
    genres: tuple[str, ...]
    fused: np.ndarray
    visual: np.ndarray
    audio: np.ndarray
    has_audio: bool
    indexed: bool = False  # the vector is the item's own indexed vector (its table row applies)
    flags: tuple[str, ...] = ()
    frames: tuple | None = None  # (feats, mask, times) of a query file, for explanations
    clip: object = None  # the clip a query file was sampled into (its frames explain matches)
    text: np.ndarray | None = None  # the text tower's vector (None: no plot, or a model without text)
    has_visual: bool = True  # False for a plot-only title


class Searcher:
    """Embeddings + their index, loaded once and checked against each other.

    Raises ``StaleArtifactError`` when the index is older than the embeddings
    (or made by another model) and ``NotFoundError`` when either is missing.
    """

    def __init__(self, ws, name: str = "default", *, clip_config=None, table: bool = True, mmap: bool = False):
        from reelmatch.embed.vectors import embeddings_path, load_embeddings
        from reelmatch.index import index_path, load_index

        self.ws = ws
        self.name = name
        self._clip_config = clip_config
        # stat before reading: a file replaced meanwhile makes the stamp stale, never the contents
        self.stamp = _stamp(*artifact_paths(ws, name))
        self.emb = load_embeddings(ws, name, mmap=mmap)  # mmap: read-only, shared by processes
        self.index = load_index(
            index_path(ws, name),
            vectors_fingerprint=self.emb.vectors_fingerprint,
            model_fingerprint=self.emb.model_fingerprint,
        )
        self.table = self._load_table() if table else None
        self._embedder = None
        self._frames = None
        self._frames_loaded = False
        self._frames_lock = threading.Lock()

    @property
    def frames(self):
        """The frame table of explanations (:mod:`reelmatch.query.explain`), or None; loaded on first use."""
        if not self._frames_loaded:
            with self._frames_lock:
                if not self._frames_loaded:
                    self._frames = self._load_frames()
                    self._frames_loaded = True
        return self._frames

    def _load_frames(self):
        from reelmatch.errors import ReelmatchError
        from reelmatch.index import index_path
        from reelmatch.query.explain import frames_path, load_frame_table

        path = frames_path(index_path(self.ws, self.name))
        if not path.exists():
            return None
        try:
            return load_frame_table(path, vectors_fingerprint=self.index.meta.get("vectors_fingerprint"))
        except (ReelmatchError, OSError, ValueError) as e:
            log.info("no frame pairs in explanations: %s", e)
            return None

    def query_frames(self, clip):
        """``(feats, mask, times)`` of a query file's clip for the frame table (its backbone, loaded once)."""
        from reelmatch.query.explain import frame_backbone, project_frames, projection
        from reelmatch.train.features import clip_frame_features

        table = self.frames
        if table is None or clip is None:
            return None
        with self._frames_lock:
            if getattr(self, "_frame_backbone", None) is None:
                self._frame_backbone = frame_backbone(self.ws, table)
        if self._frame_backbone is None:
            return None
        feats = clip_frame_features(self._frame_backbone, [clip])[0]
        return project_frames(feats, projection(feats.shape[1])), np.asarray(clip.mask, bool), \
            np.asarray(clip.timestamps, np.float32)

    def _load_table(self):
        """The neighbour table computed from this index, or None (absent or from other vectors)."""
        from reelmatch.errors import ReelmatchError
        from reelmatch.index import index_path
        from reelmatch.index.neighbours import load_table, neighbours_path

        path = neighbours_path(index_path(self.ws, self.name))
        if not path.exists():
            return None
        try:
            return load_table(path, vectors_fingerprint=self.index.meta.get("vectors_fingerprint"))
        except ReelmatchError as e:
            log.info("not using the neighbour table: %s", e)
            return None

    @property
    def mode(self) -> str | None:
        return self.emb.meta.get("mode")

    @property
    def clip_config(self):
        """The clip config query files are sampled with: given, else the workspace's (resolved once)."""
        if self._clip_config is None:
            from reelmatch.dataset.store import resolve_clip_config

            self._clip_config = resolve_clip_config(self.ws)
        return self._clip_config

    def use_embedder(self, embedder) -> None:
        """Embed query files with ``embedder`` (e.g. one already loaded by a server).

        It must be the one that made the embeddings (same ``fingerprint``),
        else ``StaleArtifactError``: vectors of two models are never compared.
        """
        from reelmatch.errors import StaleArtifactError

        if embedder.fingerprint != self.emb.model_fingerprint:
            raise StaleArtifactError(
                f"embedder {embedder.fingerprint} did not make these embeddings ({self.emb.model_fingerprint})"
            )
        self._embedder = embedder

    def embedder(self):
        if self._embedder is None:
            with _EMBEDDER_LOCK:  # two concurrent uploads load the model once
                if self._embedder is None:
                    from reelmatch.embed.embedder import embedder_for

                    self._embedder = embedder_for(self.ws, self.emb.meta)
        return self._embedder


def _stamp(*paths: Path) -> tuple:
    return tuple(p.stat().st_mtime_ns if p.exists() else None for p in paths)


def artifact_paths(ws, name: str = "default") -> tuple[Path, Path, Path]:
    """The files a :class:`Searcher` reads: embeddings, index, neighbour table."""
    from reelmatch.embed.vectors import embeddings_path
    from reelmatch.index import index_path
    from reelmatch.index.neighbours import neighbours_path

    ipath = index_path(ws, name)
    return embeddings_path(ws, name), ipath, neighbours_path(ipath)


def searcher_for(ws, name: str = "default") -> Searcher:
    """A cached :class:`Searcher` of ``ws``, reloaded when the embeddings, index or table files change.

    A workspace with a ``searcher_provider(name)`` (the HTTP server's shared,
    atomically swapped artifacts) answers with it instead.
    """
    provider = getattr(ws, "searcher_provider", None)
    if provider is not None:
        return provider(name)
    cache = ws.__dict__.setdefault("_searchers", {})
    s = cache.get(name)
    if s is None or s.stamp != _stamp(*artifact_paths(ws, name)):
        s = cache[name] = Searcher(ws, name)
    return s


def score(emb, query: np.ndarray, item_id: str) -> float:
    """The reported score of a result: one float32 dot product of the query and the item's embedding."""
    return float(np.dot(query, emb.vectors[emb.row(item_id)]))


class NeedsIndexSearch(Exception):
    """``similar(..., fallback=False)``: the neighbour table cannot answer this query alone."""


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
        raise InputError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _looks_like_path(ref: str) -> bool:
    return os.sep in ref or (os.altsep or "\0") in ref or Path(ref).suffix.lower() in VIDEO_SUFFIXES


def resolve_target(ws, searcher: Searcher, ref, *, add: bool = False) -> Target:
    """The query vectors of ``ref``: an item id, an exact title, or a video file path."""
    if isinstance(ref, os.PathLike):
        ref = os.fspath(ref)
    if not isinstance(ref, str) or not ref.strip():
        raise InputError(f"a query is an item id, a title or a video file, got {ref!r}")
    item = ws.catalog.maybe_get(ref)
    if item is None:
        p = Path(ref).expanduser()
        if p.is_file():
            return _file_target(ws, searcher, p, add=add)
        if _looks_like_path(ref) and not ws.catalog.find_title(ref):
            raise NotFoundError(f"{ref}: no such file, and no catalogue item with that id or title")
        item = ws.resolve(ref)  # unknown title -> NotFoundError; ambiguous -> lists the candidates
    return _item_target(searcher, item)


def _item_target(searcher: Searcher, item, query: dict | None = None) -> Target:
    emb = searcher.emb
    if item.id not in emb:
        raise NotFoundError(
            f"item {item.id} ({item.title}) has no embedding yet: run 'reelmatch extract', 'embed' and 'index'"
        )
    r = emb.row(item.id)
    q = query or {"id": item.id, "title": item.title, "kind": item.kind, "genres": list(item.genres)}
    return Target(q, item.id, item.title, tuple(item.genres), emb.vectors[r], emb.visual[r], emb.audio[r],
                  bool(emb.has_audio[r]), indexed=True, flags=tuple(getattr(item, "flags", ())),
                  text=emb.text[r] if emb.has_text[r] else None, has_visual=bool(emb.has_visual[r]))


def _file_target(ws, searcher: Searcher, path: Path, *, add: bool) -> Target:
    from reelmatch.ingest.probe import sha256_file

    path = path.resolve()
    try:
        sha = sha256_file(path)
    except OSError as e:
        raise InputError(f"{path.name}: cannot read ({e.strerror or e})") from e
    same = ws.catalog.by_sha256(sha)
    if same is None and add:
        embedder = searcher.embedder()
        same = _add_file(ws, path, embedder, searcher.clip_config)
        searcher = searcher_for(ws, searcher.name)
        if embedder.fingerprint == searcher.emb.model_fingerprint:
            searcher.use_embedder(embedder)
    if same is not None and same.id in searcher.emb:
        log.info("%s is catalogue item %s (%s): using its vector", path.name, same.id, same.title)
        return _item_target(searcher, same, {"path": str(path), "title": same.title, "id": same.id})
    # a server embeds uploads in other processes (``ws.embed_file``); the vectors are the same
    embed = getattr(ws, "embed_file", None)
    v = embed(path, searcher.emb.meta) if embed is not None else file_vectors(ws, searcher.emb.meta, path,
                                                                               searcher.embedder(),
                                                                               clip_config=searcher.clip_config)
    title = same.title if same is not None else path.stem
    return Target({"path": str(path), "title": title}, same.id if same else None, title,
                  tuple(same.genres) if same else (), v["fused"], v["visual"], v["audio"], v["has_audio"],
                  flags=tuple(same.flags) if same else (), clip=v.get("clip"))


def file_vectors(ws, meta: dict, path: Path, embedder=None, *, clip_config=None) -> dict:
    """Extract and embed the video ``path`` the way the embeddings with ``meta`` were made:
    ``{"fused", "visual", "audio": float32 [E*], "has_audio": bool, "clip": Clip}``.

    ``embedder`` defaults to the one rebuilt from ``meta`` (``StaleArtifactError``
    when it is gone or gives another fingerprint); ``InputError`` when the file
    cannot be decoded.
    """
    from reelmatch.dataset.store import resolve_clip_config
    from reelmatch.errors import StaleArtifactError
    from reelmatch.extract import extract_clip

    config = clip_config if clip_config is not None else resolve_clip_config(ws)
    if config.fingerprint != meta.get("clip_fingerprint"):
        raise StaleArtifactError("the embeddings were made from another clip config: run 'reelmatch embed'")
    if embedder is None:
        from reelmatch.embed.embedder import embedder_for

        embedder = embedder_for(ws, meta)
    elif embedder.fingerprint != meta.get("model_fingerprint"):
        raise StaleArtifactError(f"embedder {embedder.fingerprint} did not make these embeddings")
    clip = extract_clip(Path(path), config, item_id="query", title=Path(path).stem)  # InputError if undecodable
    if getattr(embedder, "audio_expert", None):  # a frozen audio expert hears the file itself
        out = embedder.embed([clip], sources={clip.id: Path(path)})
    else:
        out = embedder.embed([clip])
    return {"fused": out["fused"][0], "visual": out["visual"][0], "audio": out["audio"][0],
            "has_audio": bool(clip.has_audio) and bool(np.any(out["audio"][0])), "clip": clip}


def _add_file(ws, path: Path, embedder, clip_config):
    """Add ``path`` to the catalogue and bring extract, embed (with ``embedder``, the one that
    made the embeddings) and index up to date for it."""
    from reelmatch.embed import EmbedConfig, run_embed
    from reelmatch.embed.vectors import load_embeddings
    from reelmatch.extract import run_extract
    from reelmatch.index import run_index
    from reelmatch.ingest import add_paths
    from reelmatch.ingest.probe import sha256_file

    report = add_paths(ws, [path])
    item = ws.catalog.by_sha256(sha256_file(path))
    if item is None:
        raise InputError(f"{path.name}: could not be added ({report.summary()})")
    run_extract(ws, clip_config)
    meta = load_embeddings(ws).meta
    run_embed(ws, EmbedConfig.from_dict(meta.get("embed_config", {})), embedder=embedder, clip_config=clip_config)
    from reelmatch.index import index_path, load_index

    run_index(ws, load_index(index_path(ws)).config)
    log.info("added %s to the catalogue as %s", path.name, item.id)
    return item


#: (catalogue path, filters) -> (catalogue stamp, allowed ids): an advertiser's profile is asked again and again
_ALLOWED: dict = {}
_ALLOWED_MAX = 64
_ALLOWED_LOCK = threading.Lock()


def _allowed(ws, *, kind: str | None, genre: str | None, exclusions: Exclusions = NO_EXCLUSIONS) -> list[str]:
    """Ids that pass the filters, from the catalogue in one query (handed to the index search);
    kept until the catalogue changes (:meth:`Catalog.stamp`)."""
    cat = ws.catalog
    stamp = cat.stamp() if hasattr(cat, "stamp") else None
    key = (str(getattr(cat, "path", "")), kind, genre, exclusions)
    hit = _ALLOWED.get(key)
    if hit is not None and stamp is not None and hit[0] == stamp:
        return hit[1]
    ids = cat.filter_ids(kind=kind, genre=genre, exclude_genres=exclusions.exclude_genres,
                         exclude_kinds=exclusions.exclude_kinds, exclude_flags=exclusions.exclude_flags,
                         require_genres=exclusions.require_genres)
    if stamp is not None:
        with _ALLOWED_LOCK:
            if len(_ALLOWED) >= _ALLOWED_MAX:
                _ALLOWED.clear()
            _ALLOWED[key] = (stamp, ids)
    return ids


def _from_table(ws, table, target: Target, k: int, *, kind, genre, exclude: set,
                exclusions: Exclusions = NO_EXCLUSIONS) -> list | None:
    """``[(item, score, position in the row)]`` from the target's table row, filtered; None when fewer
    than ``k`` survive and the row is full (items beyond it may qualify: the index must answer)."""
    want = _sql_lower(genre) if genre is not None else None
    out = []
    # the first k + len(exclude) entries answer an unfiltered query; the rest of the row is read only when
    # filters (or deleted items) leave fewer than k of them: a request costs O(k), not O(the table's K)
    first = k + len(exclude)
    for start, stop in ((0, first), (first, None)):
        ids, scores = table.row(target.item_id, start, stop)
        for slot, (i, s) in enumerate(zip(ids, scores), start):
            if i in exclude:
                continue
            item = ws.catalog.maybe_get(i)
            if item is None:  # deleted since indexing
                continue
            if kind is not None and item.kind != kind:
                continue
            if want is not None and not any(_sql_lower(g) == want for g in item.genres):
                continue
            if exclusions.active and not exclusions.allows(item):
                continue
            out.append((item, s, slot))
            if len(out) == k:
                return out
    return None if table.full(target.item_id) else out


def _from_index(ws, searcher: Searcher, target: Target, k: int, *, kind, genre, exclude: set,
                exclusions: Exclusions = NO_EXCLUSIONS) -> list:
    """``[(item, score, None)]`` searched in the index, filters applied inside the search (the index
    searches only the allowed ids: FAISS ``IDSelectorBitmap``, or exact over a few)."""
    # no catalogue filter: search everything and skip ids deleted since indexing (a few spare results)
    filtered = kind is not None or genre is not None or exclusions.active
    allow = _allowed(ws, kind=kind, genre=genre, exclusions=exclusions) if filtered else None
    fetch = k if filtered else k + 16
    ids, scores = searcher.index.search(target.fused[None, :], fetch, allow=allow, exclude=exclude)
    out = []
    for i, s in zip(ids[0], scores[0]):
        if i is None or len(out) == k:
            break
        item = ws.catalog.maybe_get(i)
        if item is not None:  # else deleted since indexing
            out.append((item, float(s), None))
    return out


def _neighbours(ws, searcher: Searcher, target: Target, k: int, *, kind, genre, exclude_ids, exclude_same_title,
                table: bool = True, fallback: bool = True,
                exclusions: Exclusions = NO_EXCLUSIONS, explain: bool = False) -> list[Neighbour]:
    exclude = set(exclude_ids or ())
    if target.item_id:
        exclude.add(target.item_id)
    if exclude_same_title:
        exclude.update(it.id for it in ws.catalog.find_title(target.title))
    picked = None
    if table and target.indexed and searcher.table is not None and target.item_id in searcher.table \
            and k <= searcher.table.k:
        picked = _from_table(ws, searcher.table, target, k, kind=kind, genre=genre, exclude=exclude,
                             exclusions=exclusions)
    if picked is None:
        if not fallback:
            raise NeedsIndexSearch(target.item_id)
        picked = _from_index(ws, searcher, target, k, kind=kind, genre=genre, exclude=exclude, exclusions=exclusions)
    emb = searcher.emb
    # one scoring for both paths (the index's kernels differ in the last bits); ties keep the search's order
    prows = [emb.row(it.id) for it, _, _ in picked]
    fused = [float(np.dot(target.fused, emb.vectors[r])) for r in prows]  # as score(): one dot product each
    order = sorted(range(len(picked)), key=lambda n: (-fused[n], n))
    scored = [(fused[n], n, picked[n][0]) for n in order]
    qgen = {g.lower() for g in target.genres}
    shared = [[g for g in it.genres if g.lower() in qgen] if qgen else [] for _, _, it in scored]
    rows = [prows[n] for n in order]
    sims = modality_sims(target, emb, rows)
    per = _score_dicts(sims, len(rows))
    whys = [None] * len(scored)
    if explain:
        from reelmatch.query.explain import explain_many

        if target.frames is None and target.clip is not None and not target.indexed:
            target.frames = searcher.query_frames(target.clip)  # a file: its own frames, by the table's backbone
        # the per-tower similarities, shared genres and rows computed above are reused, not recomputed
        whys = explain_many(target, [it for _, _, it in scored], emb, rows, searcher.frames, target.frames,
                            scores=[s for s, _, _ in scored], sims=sims, per=per, shared_genres=shared,
                            slots=[picked[n][2] for _, n, _ in scored])
    out = []
    mods = _modalities_of(emb, rows)
    for (s, _, item), why, scores, m, sg in zip(scored, whys, per, mods, shared):
        out.append(Neighbour(
            rank=len(out) + 1, id=item.id, title=item.title, kind=item.kind, score=s,
            genres=tuple(item.genres), shared_genres=tuple(sg),
            scores=scores, explain=why, modalities=m,
        ))
    return out


def _modalities_of(emb, rows) -> list[tuple[str, ...]]:
    """``emb.modalities(r)`` for each row, read in three vector lookups."""
    r = np.asarray(rows, dtype=np.int64)
    flags = zip(emb.has_visual[r].tolist(), emb.has_audio[r].tolist(), emb.has_text[r].tolist())
    return [tuple(m for m, has in zip(("visual", "audio", "text"), f) if has) for f in flags]


def modality_sims(target: Target, emb, rows) -> dict:
    """Per tower, the query's cosine similarity with the rows ``rows`` of ``emb``:
    ``{"visual"|"audio"|"text": (sims float32 [n], present bool [n])}`` (one matrix-vector product
    per tower); a tower the query lacks is left out, ``present`` is False where the row lacks it."""
    r = np.asarray(rows, dtype=np.int64)
    out = {}
    if not len(r):
        return out
    for name, q, present in (("visual", target.visual if target.has_visual else None, emb.has_visual),
                             ("audio", target.audio if target.has_audio else None, emb.has_audio),
                             ("text", target.text, emb.has_text)):
        if q is not None:
            out[name] = (getattr(emb, name)[r] @ q, present[r])
    return out


def _score_dicts(sims: dict, n: int) -> list[dict]:
    out = [{"visual": None, "audio": None, "text": None} for _ in range(n)]
    for name, (v, present) in sims.items():
        for d, x, has in zip(out, v.tolist(), present.tolist()):
            if has:
                d[name] = x
    return out


def modality_scores(target: Target, emb, rows) -> list[dict]:
    """Per row of ``emb`` in ``rows``, the cosine similarity of each tower with the query:
    ``{"visual", "audio", "text"}``, each None where either side lacks that modality
    (one matrix-vector product per tower)."""
    return _score_dicts(modality_sims(target, emb, rows), len(rows))


def similar(
    ws,
    ref,
    k: int = 10,
    *,
    genre: str | None = None,
    kind: str | None = None,
    exclude_ids=(),
    exclude_same_title: bool = False,
    add: bool = False,
    name: str = "default",
    exclude_duplicates: bool | float = False,
    table: bool = True,
    fallback: bool = True,
    exclusions: Exclusions | None = None,
    explain: bool = False,
) -> QueryResult:
    """The ``k`` catalogue items most like ``ref`` (an id, a title or a video file).

    ``kind`` ("trailer"/"ad") and ``genre`` restrict the results; ``exclude_ids``
    drops given ids; ``exclude_duplicates`` drops the query's copies found by
    ``reelmatch.dedupe`` at its shipped threshold, or at this copy-score threshold when it is a number
    (items without copy descriptors are kept); ``table=False``
    searches the index even where the neighbour table could answer; ``fallback=False``
    raises :class:`NeedsIndexSearch` instead of searching the index (a caller that
    must not block: the server's event loop). ``exclusions``
    (:class:`~reelmatch.query.filters.Exclusions`: genres, kinds, flags to leave
    out, genres required) apply inside the search; ``explain`` adds to each result
    its :mod:`explanation <reelmatch.query.explain>`. Raises
    ``NotFoundError`` (unknown id/title, ambiguous title with its candidates),
    ``InputError`` (k <= 0, a file that cannot be decoded) and
    ``StaleArtifactError`` (an index older than the embeddings).
    """
    k = _check_k(k)
    if kind is not None and kind not in KINDS:
        raise InputError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    searcher = searcher_for(ws, name)
    target = resolve_target(ws, searcher, ref, add=add)
    if add:  # the file was added and indexed: its target comes from the new set
        searcher = searcher_for(ws, name)
    # else one searcher for the whole query: a set swapped in meanwhile (a server reloading) is never mixed in
    if exclude_duplicates:  # copies of the query (reelmatch.dedupe descriptors) are not recommendations
        from reelmatch.dedupe import DEFAULT_THRESHOLD, duplicates_of, duplicates_of_file

        thr = DEFAULT_THRESHOLD if exclude_duplicates is True else float(exclude_duplicates)
        dups = duplicates_of(ws, target.item_id, thr) if target.item_id else duplicates_of_file(ws, target.query["path"], thr)
        exclude_ids = set(exclude_ids) | dups
    exclusions = exclusions or NO_EXCLUSIONS
    res = _neighbours(ws, searcher, target, k, kind=kind, genre=genre, exclude_ids=exclude_ids,
                      exclude_same_title=exclude_same_title, table=table, fallback=fallback,
                      exclusions=exclusions, explain=explain)
    return QueryResult(target.query, res, searcher.mode, exclusions.to_dict() if exclusions.active else None)


def match_ad(
    ws,
    ref,
    k: int = 10,
    *,
    genre: str | None = None,
    exclude_ids=(),
    add: bool = False,
    name: str = "default",
    exclusions: Exclusions | None = None,
    explain: bool = False,
    scenes: bool = False,
    scenes_per_movie: int = 3,
) -> QueryResult:
    """Movie trailers ranked for a commercial ``ref`` (an ad file, or an item id/title).

    Ranked by the fused embedding; each result also carries per-modality scores
    ``{"visual", "audio", "text"}`` (as :func:`similar`'s do) so a person can see why it matched. ``exclusions`` and
    ``explain`` as for :func:`similar`. ``scenes``: each movie also gets its best
    ``scenes_per_movie`` scenes for the ad and the break candidates around them
    (:mod:`reelmatch.scenes.match`; movies without scenes get ``[]``).
    """
    k = _check_k(k)
    searcher = searcher_for(ws, name)
    target = resolve_target(ws, searcher, ref, add=add)
    if add:  # the file was added and indexed: its target comes from the new set
        searcher = searcher_for(ws, name)
    # else one searcher for the whole query: a set swapped in meanwhile (a server reloading) is never mixed in
    exclusions = exclusions or NO_EXCLUSIONS
    res = _neighbours(ws, searcher, target, k, kind="trailer", genre=genre, exclude_ids=exclude_ids,
                      exclude_same_title=False, exclusions=exclusions, explain=explain)
    top = None
    if scenes:
        from reelmatch.scenes.match import attach_scenes, top_scenes

        res = attach_scenes(ws, target, res, model_fingerprint=searcher.emb.model_fingerprint, per_movie=scenes_per_movie)
        top = top_scenes(ws, target, model_fingerprint=searcher.emb.model_fingerprint, k=k,
                         exclusions=exclusions, genre=genre)
    return QueryResult(target.query, res, searcher.mode, exclusions.to_dict() if exclusions.active else None,
                       top_scenes=top)
