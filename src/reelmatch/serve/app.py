"""The HTTP API and the web page: ``create_app(ws) -> FastAPI``.

Endpoints (OpenAPI docs at ``/docs``):

```
GET   /api/health                         liveness + counts
GET   /api/genres                         genre vocabulary
GET   /api/items?q=&genre=&kind=&limit=&offset=     titles, paged
GET   /api/items/{id}                     one item
PATCH /api/items/{id}                     edit title/genres/year/plot (--allow-writes only)
GET   /api/items/{id}/similar?k=&genre=&kind=       neighbours (the `similar` JSON)
GET   /api/items/{id}/thumbnail?format=jpeg|png
GET   /api/items/{id}/contact-sheet?format=
GET   /api/items/{id}/spectrogram?format=
GET   /api/items/{id}/video               the media, with HTTP Range (206) support
POST  /api/match?mode=ad|similar&k=       an uploaded video -> ranked movies
```

The server never takes a file path from a request (see ``reelmatch.serve.files``).
Errors are JSON ``{"error": "..."}``: unknown id 404, bad parameters 422, upload
too large 413, not a video 415, busy 503, too slow 504; an unexpected bug is a
500 with a one-line message (the traceback goes to the server log only).
Blocking work runs in worker threads; the workspace (one SQLite connection,
loaded index and model) is used by one thread at a time.
"""

# no ``from __future__ import annotations``: FastAPI reads the annotations of the
# endpoints below at runtime, and their limits come from the config in a closure.
import logging
import re
import shutil
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Annotated, Literal

import anyio
import numpy as np
from fastapi import Body, FastAPI, File, HTTPException, Path as PathParam, Query, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from reelmatch import __version__
from reelmatch.errors import InputError, NotFoundError, ReelmatchError
from reelmatch.serve import pictures
from reelmatch.serve.config import ServeConfig
from reelmatch.serve.files import VIDEO_TYPES, servable_media

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
STAGES = ("download", "extract", "features", "embed", "dedupe")

ItemId = Annotated[str, PathParam(min_length=1, max_length=200, description="catalogue item id")]
Kind = Literal["trailer", "ad"]
ImageFormat = Literal["jpeg", "png"]


class _State:
    """What the endpoints share: the workspace behind a lock, a picture cache."""

    def __init__(self, ws, config: ServeConfig):
        self.ws = ws
        self.config = config
        self.lock = threading.RLock()
        self.uploads = threading.BoundedSemaphore(config.max_concurrent_uploads)
        self._cache: OrderedDict[tuple, bytes] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._store = None
        self._store_stamp = None

    # ------------------------------------------------------------ catalogue
    def item(self, item_id: str):
        with self.lock:
            return self.ws.catalog.get(item_id)  # NotFoundError -> 404

    def clip(self, item_id: str):
        """The item's clip record, or None when it has none (or no store exists yet)."""
        with self.lock:
            # reopened when an extract run changes the current clip config
            stamp = self.clip_stamp()
            if self._store is None or stamp != self._store_stamp:
                if self._store is not None:
                    self._store.close()
                self._store, self._store_stamp = None, stamp
                try:
                    from reelmatch.dataset.store import ClipStore

                    self._store = ClipStore(self.ws)
                except (ImportError, ReelmatchError) as e:
                    log.debug("no clip store: %s", e)
                    return None
            try:
                return self._store.get(item_id)
            except (ReelmatchError, KeyError, OSError) as e:  # no clip: the caller falls back or 404s
                log.debug("no clip for %s: %s", item_id, e)
                return None

    def require_clip(self, item):
        """The item's clip record; :class:`NotFoundError` (a 404) when it has none yet."""
        clip = self.clip(item.id)
        if clip is None:
            raise NotFoundError(f"item {item.id} has no clip yet: run 'reelmatch extract'")
        return clip

    def embeddings(self) -> dict | None:
        """``{"mode", "vectors"}`` of the loaded embeddings and index, None when not built."""
        from reelmatch.query import searcher_for

        try:
            searcher = searcher_for(self.ws)
        except ReelmatchError:
            return None
        return {"mode": searcher.mode, "vectors": len(searcher.emb)}

    def clip_stamp(self):
        """Changes when an extract run writes clips (part of the picture cache keys)."""
        current = self.ws.dir("clips") / "current.json"
        try:
            return current.stat().st_mtime_ns
        except OSError:
            return None

    # ---------------------------------------------------------------- cache
    def cached(self, key: tuple, make) -> bytes:
        with self._cache_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        data = make()
        if self.config.thumbnail_cache:
            with self._cache_lock:
                self._cache[key] = data
                while len(self._cache) > self.config.thumbnail_cache:
                    self._cache.popitem(last=False)
        return data


def _summary(item) -> dict:
    base = f"/api/items/{item.id}"
    return {
        "id": item.id,
        "title": item.title,
        "kind": item.kind,
        "genres": list(item.genres),
        "year": item.year,
        "duration": item.duration,
        "thumbnail": f"{base}/thumbnail",
    }


def _detail(ws, item) -> dict:
    base = f"/api/items/{item.id}"
    stages = {}
    for stage in STAGES:
        st = ws.catalog.stage_of(item.id, stage)
        stages[stage] = {"status": st["status"], "error": st["error"]} if st else {"status": "pending", "error": None}
    doc = _summary(item)
    doc.update(
        {
            "plot": item.plot,
            # a local path is the server's business, a URL is public
            "source": item.source if item.is_url else None,
            "has_media": bool(item.media_path),
            "stages": stages,
            "media": {
                "video": f"{base}/video",
                "thumbnail": f"{base}/thumbnail",
                "contact_sheet": f"{base}/contact-sheet",
                "spectrogram": f"{base}/spectrogram",
            },
            "similar": f"{base}/similar",
        }
    )
    return doc


def _error(status: int, message: str, **extra) -> JSONResponse:
    return JSONResponse({"error": message, "status": status, **extra}, status_code=status)


def _image(data: bytes, fmt: str) -> Response:
    return Response(data, media_type=pictures.FORMATS[fmt], headers={"Cache-Control": "public, max-age=600"})


def create_app(ws, config: ServeConfig | None = None) -> FastAPI:
    """The FastAPI app serving ``ws`` (a :class:`reelmatch.workspace.Workspace`)."""
    config = config or ServeConfig()
    state = _State(ws, config)
    K = Annotated[int, Query(ge=1, le=config.max_k, description="number of results")]

    app = FastAPI(
        title="reelmatch",
        version=__version__,
        description="Trailers that look and sound alike: browse, similar, match a commercial.",
    )
    app.state.reelmatch = state

    # --------------------------------------------------------------- errors
    @app.exception_handler(ReelmatchError)
    async def _domain_error(request: Request, exc: ReelmatchError):
        status = 404 if isinstance(exc, NotFoundError) else 422 if isinstance(exc, InputError) else 503
        return _error(status, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        errors = jsonable_encoder(exc.errors(), custom_encoder={Exception: str})
        parts = [f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg')}" for e in errors]
        return _error(422, "; ".join(parts) or "invalid request", detail=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        resp = _error(exc.status_code, str(exc.detail))
        if exc.headers:
            resp.headers.update(exc.headers)
        return resp

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception):
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        msg = " ".join(str(exc).split())[:200]
        return _error(500, f"internal error: {type(exc).__name__}: {msg}")

    # -------------------------------------------------------------- the page
    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # ------------------------------------------------------------ catalogue
    @app.get("/api/health", tags=["catalogue"])
    def health():
        """Liveness, catalogue size, and what answers ``similar``: ``embeddings`` is
        ``{"mode": "model"|"backbone", "vectors": n}``, or null before ``embed``/``index``."""
        with state.lock:
            n = ws.catalog.count()
            embeddings = state.embeddings()
        return {"ok": True, "version": __version__, "items": n, "writes": config.allow_writes, "embeddings": embeddings}

    @app.get("/api/genres", tags=["catalogue"])
    def genres():
        with state.lock:
            return {"genres": ws.catalog.genre_vocabulary()}

    @app.get("/api/items", tags=["catalogue"])
    def list_items(
        q: Annotated[str | None, Query(max_length=200, description="text the title contains")] = None,
        genre: Annotated[str | None, Query(max_length=100)] = None,
        kind: Kind | None = None,
        limit: Annotated[int, Query(ge=1, le=config.max_page)] = 24,
        offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    ):
        """Titles by name, paged; ``q`` is a case-insensitive substring of the title."""
        with state.lock:
            rows = ws.catalog.search(q or None, genre=genre or None, kind=kind, limit=limit + 1, offset=offset)
            total = ws.catalog.count() if not (q or genre or kind) else None
        return {
            "items": [_summary(it) for it in rows[:limit]],
            "offset": offset,
            "limit": limit,
            "has_more": len(rows) > limit,
            "total": total,
        }

    @app.get("/api/items/{item_id}", tags=["catalogue"])
    def get_item(item_id: ItemId):
        """One item: labels, per-stage status and the URLs of its media."""
        with state.lock:
            return _detail(ws, ws.catalog.get(item_id))

    @app.patch("/api/items/{item_id}", tags=["catalogue"])
    def edit_item(
        item_id: ItemId,
        changes: Annotated[
            dict,
            Body(
                description="any of title (str), genres (list of str), year (int), plot (str)",
                examples=[{"genres": ["Animation", "Comedy"]}],
            ),
        ],
    ):
        if not config.allow_writes:
            raise HTTPException(403, "the server is read-only; restart it with 'reelmatch serve --allow-writes'")
        allowed = {"title": str, "genres": list, "year": int, "plot": str}
        bad = [k for k in changes if k not in allowed]
        if bad or not changes:
            raise HTTPException(422, f"editable fields are {', '.join(allowed)}; got {', '.join(map(str, changes)) or 'none'}")
        for key, typ in allowed.items():
            if key in changes and changes[key] is not None and not isinstance(changes[key], typ):
                raise HTTPException(422, f"field {key} must be {typ.__name__}")
        if "genres" in changes and not all(isinstance(g, str) for g in changes["genres"]):
            raise HTTPException(422, "field genres must be a list of strings")
        with state.lock:
            ws.catalog.get(item_id)
            ws.catalog.update_fields(item_id, **changes)
            return _detail(ws, ws.catalog.get(item_id))

    # -------------------------------------------------------------- queries
    @app.get("/api/items/{item_id}/similar", tags=["query"])
    def similar(item_id: ItemId, k: K = 10, genre: Annotated[str | None, Query(max_length=100)] = None, kind: Kind | None = None):
        """The items that look and sound most like this one (the ``similar`` JSON of DESIGN.md)."""
        with state.lock:
            item = ws.catalog.get(item_id)  # an id from the catalogue, never a path
            result = ws.similar(item.id, k=k, genre=genre or None, kind=kind)
            return result.to_dict()

    @app.post("/api/match", tags=["query"], max_body_size=config.max_upload_bytes + 1024 * 1024)
    async def match(
        file: Annotated[UploadFile, File(description="a video: a commercial, a trailer, any clip")],
        mode: Annotated[
            Literal["ad", "similar"],
            Query(description="ad: movie trailers for a commercial, with per-modality scores; similar: any items"),
        ] = "ad",
        k: K = 10,
        genre: Annotated[str | None, Query(max_length=100)] = None,
        kind: Annotated[Kind | None, Query(description="mode=similar only (mode=ad answers trailers)")] = None,
    ):
        """Match an uploaded video: the ``match-ad`` JSON (mode=ad) or the ``similar`` JSON.

        The file is checked by content (PyAV decodes a frame) before any work, never
        added to the catalogue, and removed when the request ends.
        """
        if file.size is not None and file.size > config.max_upload_bytes:
            raise HTTPException(413, f"the upload is larger than {config.max_upload_bytes} bytes")
        name = Path((file.filename or "upload").replace("\\", "/")).name or "upload"
        suffix = Path(name).suffix.lower()
        # the file's stem becomes the query's title; the folder is private to this request
        stem = re.sub(r"[^\w .,()+-]", "_", Path(name).stem).strip(" .")[:100] or "upload"
        tmpdir = Path(tempfile.mkdtemp(prefix="reelmatch-upload-"))
        path = tmpdir / (stem + (suffix if suffix in VIDEO_TYPES else ".bin"))

        def save() -> int:
            file.file.seek(0)
            with open(path, "wb") as out:
                shutil.copyfileobj(file.file, out, 1024 * 1024)
                return out.tell()

        if not state.uploads.acquire(blocking=False):
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise HTTPException(503, "too many uploads are being matched; try again in a moment")

        def work() -> dict:
            try:
                from reelmatch.ingest.probe import probe_video  # content check, not the suffix

                try:
                    probe_video(path)
                except InputError as e:
                    raise _NotVideo(f"{name}: {e}") from None
                with state.lock:
                    # the path of this request's own temporary file: never one from the client
                    if mode == "ad":
                        result = ws.match_ad(str(path), k=k, genre=genre or None)
                    else:
                        result = ws.similar(str(path), k=k, genre=genre or None, kind=kind)
                    doc = result.to_dict()
                doc["query"] = {**doc.get("query", {}), "path": name, "title": doc.get("query", {}).get("title") or name}
                return doc
            finally:
                state.uploads.release()
                shutil.rmtree(tmpdir, ignore_errors=True)

        try:
            size = await anyio.to_thread.run_sync(save)
            if size > config.max_upload_bytes:
                raise HTTPException(413, f"the upload is larger than {config.max_upload_bytes} bytes")
            if size == 0:
                raise HTTPException(422, f"{name}: the upload is empty")
        except BaseException:
            state.uploads.release()
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise
        try:
            with anyio.fail_after(config.query_timeout):
                return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
        except TimeoutError:
            raise HTTPException(504, f"matching {name} took longer than {config.query_timeout:g} s") from None
        except _NotVideo as e:
            raise HTTPException(415, str(e)) from None

    # ---------------------------------------------------------------- media
    @app.get("/api/items/{item_id}/thumbnail", tags=["media"], response_class=Response)
    def thumbnail(item_id: ItemId, format: ImageFormat = "jpeg"):
        """A frame of the item's clip (or of its video when it has no clip yet)."""
        item = state.item(item_id)

        def make() -> bytes:
            clip = state.clip(item.id)
            if clip is not None and clip.num_valid:
                return pictures.encode(pictures.clip_thumbnail(clip.frames, clip.mask), format)
            with state.lock:
                path, _ = servable_media(ws, item)
            try:
                return pictures.encode(pictures.video_frame(path), format, max_side=480)
            except Exception as e:  # undecodable media: the item simply has no picture
                raise NotFoundError(f"item {item.id}: no frame to show ({type(e).__name__})") from None

        return _image(state.cached(("thumb", item.id, item.sha256, state.clip_stamp(), format), make), format)

    @app.get("/api/items/{item_id}/contact-sheet", tags=["media"], response_class=Response)
    def contact_sheet(item_id: ItemId, format: ImageFormat = "jpeg"):
        item = state.item(item_id)

        def make() -> bytes:
            clip = state.require_clip(item)
            from reelmatch.extract.sheet import contact_sheet as draw_sheet

            return pictures.encode(np.asarray(draw_sheet(clip, title=item.title).convert("RGB")), format)

        return _image(state.cached(("sheet", item.id, item.sha256, state.clip_stamp(), format), make), format)

    @app.get("/api/items/{item_id}/spectrogram", tags=["media"], response_class=Response)
    def spectrogram(item_id: ItemId, format: ImageFormat = "png"):
        item = state.item(item_id)

        def make() -> bytes:
            clip = state.require_clip(item)
            if not clip.has_audio:
                raise NotFoundError(f"item {item.id} has no audio")
            from reelmatch.extract.sheet import spectrogram_image

            return pictures.encode(spectrogram_image(clip.spectrogram), format)

        return _image(state.cached(("spec", item.id, item.sha256, state.clip_stamp(), format), make), format)

    @app.get(
        "/api/items/{item_id}/video",
        tags=["media"],
        response_class=FileResponse,
        responses={206: {"description": "the requested byte range"}, 416: {"description": "range not satisfiable"}},
    )
    def video(item_id: ItemId):
        """The item's media file; answers HTTP Range requests so a browser plays and seeks."""
        with state.lock:
            item = ws.catalog.get(item_id)
            path, ctype = servable_media(ws, item)
        # FileResponse answers Range requests (206, Accept-Ranges, Content-Range, 416)
        return FileResponse(path, media_type=ctype, headers={"Cache-Control": "public, max-age=600"})

    # issue 17: copy pairs with segments and frames at a time (kept in their own module)
    from reelmatch.serve.copies import add_copy_routes

    add_copy_routes(app, state, ws)
    return app


class _NotVideo(Exception):
    pass


__all__ = ["create_app", "ServeConfig"]
