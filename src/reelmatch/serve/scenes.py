"""Issue 19's additions to the server, kept apart from ``app.py``: scenes, ad placement, exclusions.

```
GET /api/items/{id}/scenes                  the item's scenes (start/end seconds), from the scenes stage
GET /api/items/{id}/match-ad?k=&scenes=&explain=&exclude_genre=&exclude_kind=&exclude_flag=&require_genre=
                                            movies for a catalogue commercial (the match-ad JSON)
```

``/api/items/{id}/similar`` and ``POST /api/match`` take the same exclusion and
``explain`` parameters (``POST /api/match`` also ``scenes``); :func:`exclusions_of`
turns them into :class:`~reelmatch.query.filters.Exclusions`. The server never
reads a profile file named by a request: a client sends the profile's fields.
"""

# no ``from __future__ import annotations``: FastAPI reads these annotations at runtime
from typing import Annotated

from fastapi import FastAPI, Path as PathParam, Query, Request
from starlette.concurrency import run_in_threadpool

from reelmatch.serve.responses import json_response

ItemId = Annotated[str, PathParam(min_length=1, max_length=200, description="catalogue item id")]
Labels = Annotated[list[str], Query(max_length=50)]


def exclusions_of(exclude_genre=(), exclude_kind=(), exclude_flag=(), require_genre=()):
    """The :class:`Exclusions` of request parameters, or None when there are none (``InputError``: a 422)."""
    from reelmatch.query.filters import Exclusions

    ex = Exclusions(tuple(exclude_genre or ()), tuple(exclude_kind or ()), tuple(exclude_flag or ()),
                    tuple(require_genre or ()))
    return ex if ex.active else None


def add_scene_routes(app: FastAPI, state, ws, max_k: int) -> None:
    """Register the scene and ad-placement endpoints on ``app``."""
    K = Annotated[int, Query(ge=1, le=max_k, description="number of results")]

    @app.get("/api/items/{item_id}/scenes", tags=["query"])
    def scenes(request: Request, item_id: ItemId):
        """The item's scenes ``[{"index", "start", "end"}]`` (``done`` false before the scenes stage ran)."""
        from reelmatch.scenes.stage import load_scenes

        state.fresh()
        item = state.item(item_id)
        got = load_scenes(ws, item.id, model_fingerprint=state.artifacts.searcher().emb.model_fingerprint)
        found = got is not None
        sc = got.scenes if found else []
        doc = {"id": item.id, "duration": item.duration, "done": found,
               "scenes": [{"index": j, "start": s.start, "end": s.end} for j, s in enumerate(sc)]}
        if sc and not doc["duration"]:
            doc["duration"] = sc[-1].end
        return json_response(request, doc)

    @app.get("/api/items/{item_id}/match-ad", tags=["query"])
    async def match_ad_item(
        request: Request, item_id: ItemId, k: K = 10,
        scenes: Annotated[bool, Query(description="best scenes and break candidates per movie")] = False,
        per_movie: Annotated[int, Query(ge=1, le=20)] = 3,
        explain: bool = False,
        exclude_genre: Labels = [], exclude_kind: Labels = [], exclude_flag: Labels = [],  # noqa: B006
        require_genre: Labels = [],  # noqa: B006
    ):
        """Movies for the catalogue commercial ``item_id`` (the ``match-ad`` JSON), optionally by scene."""
        state.fresh()
        ex = exclusions_of(exclude_genre, exclude_kind, exclude_flag, require_genre)

        def run() -> dict:
            item = state.catalog.get(item_id)
            return state.served.match_ad(item.id, k=k, scenes=scenes, scenes_per_movie=per_movie, explain=explain,
                                         exclusions=ex).to_dict()

        return json_response(request, await run_in_threadpool(run))
