"""Ad placement by scene: the best scenes of each matched movie and where a break can go.

For each movie ``match-ad`` returns, its scene vectors (the ``scenes`` stage) are
scored against the ad with the same dot products as whole items (fused, and per
modality). The best ``per_movie`` scenes are listed, and the **break
candidates** are the scene boundaries around them (the start and the end of
each best scene, the video's own start and end left out): the ad goes between
two scenes, never inside one. A break right after a matching scene is ranked by
that scene's score, one right before it likewise; a boundary next to two best
scenes is listed once, with the better score.
"""

from __future__ import annotations

import numpy as np


def rank_scenes(ad_fused: np.ndarray, ad_visual: np.ndarray, ad_audio: np.ndarray, ad_has_audio: bool,
                scenes, per_movie: int) -> list[dict]:
    """The best ``per_movie`` scenes of one :class:`~reelmatch.scenes.stage.ItemScenes` for an ad:
    ``[{"index", "start", "end", "score", "scores": {"visual", "audio"}}]``, best first."""
    if not scenes.scenes:
        return []
    s = scenes.fused @ ad_fused
    order = np.argsort(-s, kind="stable")[:per_movie]
    out = []
    for j in order:
        j = int(j)
        audio = float(scenes.audio[j] @ ad_audio) if ad_has_audio and scenes.has_audio[j] else None
        sc = scenes.scenes[j]
        out.append({"index": j, "start": sc.start, "end": sc.end, "score": round(float(s[j]), 6),
                    "scores": {"visual": round(float(scenes.visual[j] @ ad_visual), 6),
                               "audio": None if audio is None else round(audio, 6)}})
    return out


def break_candidates(best: list[dict], scenes) -> list[dict]:
    """Scene boundaries next to the best scenes: ``[{"time", "after_scene", "before_scene", "score"}]``,
    by score (ties: earlier first). Never inside a scene, never at the very start or end."""
    n = len(scenes.scenes)
    cands: dict[int, float] = {}  # boundary b lies between scene b-1 and scene b
    for sc in best:
        for b in (sc["index"], sc["index"] + 1):
            if 0 < b < n:
                cands[b] = max(cands.get(b, -np.inf), sc["score"])
    out = [{"time": scenes.scenes[b].start, "after_scene": b - 1, "before_scene": b, "score": round(float(v), 6)}
           for b, v in cands.items()]
    out.sort(key=lambda d: (-d["score"], d["time"]))
    return out


def attach_scenes(ws, target, neighbours, *, model_fingerprint: str, per_movie: int = 3):
    """``neighbours`` (match-ad results) with ``scenes`` and ``breaks`` filled in (``[]`` for a movie the
    scenes stage has not done), from the scenes made by ``model_fingerprint`` (the query's own model)."""
    import dataclasses

    from reelmatch.errors import InputError
    from reelmatch.scenes.stage import current_scenes_dir, read_item_scenes

    if isinstance(per_movie, bool) or not isinstance(per_movie, int) or per_movie <= 0:
        raise InputError(f"scenes per movie must be a positive integer, got {per_movie!r}")
    d = current_scenes_dir(ws, model_fingerprint)
    out = []
    for n in neighbours:
        best, breaks = [], []
        sc = read_item_scenes(d, n.id)
        if sc is not None:
            best = rank_scenes(target.fused, target.visual, target.audio, target.has_audio, sc, per_movie)
            breaks = break_candidates(best, sc)
        out.append(dataclasses.replace(n, scenes=best, breaks=breaks))
    return out


_SCENE_INDEXES: dict = {}  # path -> (mtime_ns, index): loaded once per version of the file


def _scene_index(path, model_fingerprint: str):
    from reelmatch.index.io import load_index

    mtime = path.stat().st_mtime_ns
    hit = _SCENE_INDEXES.get(str(path))
    if hit is None or hit[0] != mtime:
        if len(_SCENE_INDEXES) >= 8:
            _SCENE_INDEXES.clear()
        hit = _SCENE_INDEXES[str(path)] = (mtime, load_index(path, model_fingerprint=model_fingerprint))
    return hit[1]


def top_scenes(ws, target, *, model_fingerprint: str, k: int, exclusions=None, genre: str | None = None) -> list[dict]:
    """The ``k`` best scenes of the whole catalogue for an ad, from the scene index (every movie's
    scenes, not only those of the movies ``match-ad`` ranks first): ``[{"id", "title", "index",
    "start", "end", "score"}]``, best first. Exclusions (and ``genre``) hold inside the search;
    ``[]`` when the scenes stage has not run for this model."""
    from reelmatch.scenes.stage import SCENE_INDEX, current_scenes_dir, read_item_scenes, split_scene_id

    d = current_scenes_dir(ws, model_fingerprint)
    if d is None or not (d / SCENE_INDEX).exists():
        return []
    index = _scene_index(d / SCENE_INDEX, model_fingerprint)
    # movies only (match-ad ranks trailers), and the exclusions: applied inside the search, with the
    # allowed ids from the catalogue in one query (cached per catalogue state), as item searches do
    from reelmatch.query.filters import NO_EXCLUSIONS
    from reelmatch.query.search import _allowed

    ok = set(_allowed(ws, kind="trailer", genre=genre, exclusions=exclusions or NO_EXCLUSIONS))
    allow = [sid for sid in index.ids if split_scene_id(sid)[0] in ok]
    if not allow:
        return []
    ids, scores = index.search(np.asarray(target.fused, np.float32), k, allow=allow)
    out, cache = [], {}
    for sid, score in zip(ids[0], scores[0]):
        if sid is None:
            continue
        item_id, j = split_scene_id(sid)
        if item_id not in cache:
            cache[item_id] = read_item_scenes(d, item_id)
        sc = cache[item_id].scenes[j]
        out.append({"id": item_id, "title": ws.catalog.get(item_id).title, "index": j, "start": sc.start,
                    "end": sc.end, "score": round(float(score), 6)})
    return out
