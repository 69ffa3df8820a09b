"""Issue 17's additions to the server, kept apart from ``app.py``: copy pairs and frames at a time.

```
GET /api/items/{id}/copies?threshold=     copies of the item: segments, best frame pair
GET /api/items/{id}/frame?t=&format=      the frame of the item's video at t seconds
```
"""

# no ``from __future__ import annotations``: FastAPI reads these annotations at runtime
from pathlib import Path
from typing import Annotated, Literal

from fastapi import FastAPI, Path as PathParam, Query
from fastapi.responses import Response

from reelmatch.errors import NotFoundError
from reelmatch.serve import pictures
from reelmatch.serve.files import servable_media

ItemId = Annotated[str, PathParam(min_length=1, max_length=200, description="catalogue item id")]


def frame_at(path, t: float, *, max_side: int = 320):
    """The RGB frame uint8 [H, W, 3] shown at ``t`` seconds (seek to the keyframe before, decode forward)."""
    from reelmatch.media import decodable_video, open_media

    with open_media(path) as container:
        stream = decodable_video(container, Path(path).name)
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        target = start + max(0.0, t)
        if target > 0:
            container.seek(int(target / stream.time_base), stream=stream, backward=True, any_frame=False)
        last = None
        for frame in container.decode(stream):
            if frame.time is not None and frame.time > target + 1e-3 and last is not None:
                break
            last = frame
        if last is None:
            raise ValueError(f"{path}: no decodable video frame")
        w, h = last.width, last.height
        scale = min(1.0, max_side / max(w, h))
        return last.to_ndarray(width=max(2, int(w * scale)) // 2 * 2, height=max(2, int(h * scale)) // 2 * 2, format="rgb24")


def add_copy_routes(app: FastAPI, state, ws) -> None:
    """Register the copy endpoints on ``app`` (``state``: the app's shared state with its lock and picture cache)."""

    @app.get("/api/items/{item_id}/copies", tags=["query"])
    def copies(item_id: ItemId, threshold: Annotated[float | None, Query(ge=0.0, le=1.0)] = None):
        """Catalogue items that are copies of this one, with matching segments and the best frame pair."""
        from reelmatch.dedupe import DEFAULT_THRESHOLD
        from reelmatch.dedupe.explain import copy_pairs_of

        thr = DEFAULT_THRESHOLD if threshold is None else threshold
        with state.write_lock:  # the workspace's own catalogue connection: one user at a time
            return {"id": item_id, "threshold": thr, "copies": copy_pairs_of(ws, item_id, thr)}

    @app.get("/api/items/{item_id}/frame", tags=["media"], response_class=Response)
    def frame(item_id: ItemId, t: Annotated[float, Query(ge=0.0, le=86400.0)] = 0.0,
              format: Literal["jpeg", "png"] = "jpeg"):  # fmt: skip
        """The frame of the item's video at ``t`` seconds."""
        item = state.item(item_id)

        def make() -> bytes:
            path, _ = servable_media(ws, item)
            try:
                return pictures.encode(frame_at(path, t), format)
            except Exception as e:  # undecodable media: no picture
                raise NotFoundError(f"item {item.id}: no frame at {t:g} s ({type(e).__name__})") from None

        data = state.cached(("frame", item.id, item.sha256, round(t, 2), format), make)
        return Response(data, media_type=pictures.FORMATS[format], headers={"Cache-Control": "public, max-age=600"})
