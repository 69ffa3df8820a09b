"""The HTTP API and the web page: ``create_app(ws) -> FastAPI``.

Endpoints (OpenAPI docs at ``/docs``):

```
GET   /api/health                         liveness + counts
GET   /api/genres                         genre vocabulary
GET   /api/items?q=&genre=&kind=&limit=&offset=     titles, paged
GET   /api/items/{id}                     one item
PATCH /api/items/{id}                     edit title/genres/year/plot (--allow-writes only)
GET   /api/items/{id}/similar?k=&genre=&kind=&explain=&exclude_genre=&exclude_kind=&exclude_flag=&require_genre=
                                          neighbours (the `similar` JSON)
POST  /api/similar                        many ids in one request (a list of `similar` JSONs)
GET   /api/items/{id}/thumbnail?format=jpeg|png
GET   /api/items/{id}/contact-sheet?format=
GET   /api/items/{id}/spectrogram?format=
GET   /api/items/{id}/video               the media, with HTTP Range (206) support
POST  /api/match?mode=ad|similar&k=&scenes=&explain=&exclude_...=    an uploaded video -> ranked movies
GET   /api/items/{id}/scenes, /api/items/{id}/match-ad   scenes, ad placement (reelmatch.serve.scenes)
```

The server never takes a file path from a request (see ``reelmatch.serve.files``).
Errors are JSON ``{"error": "..."}``: unknown id 404, bad parameters 422, upload
too large 413, not a video 415, busy 503, too slow 504; an unexpected bug is a
500 with a one-line message (the traceback goes to the server log only).
Reads take no global lock (see :mod:`reelmatch.serve.state`): per-thread
read-only catalogue connections, shared embeddings/index/neighbour table swapped
atomically when rebuilt. Uploads are decoded and embedded in their own bounded
pool of processes (:mod:`reelmatch.serve.uploads`), so they never hold up reads.
JSON is serialised once with orjson,
with an ETag (304 on ``If-None-Match``) and gzip when accepted
(:mod:`reelmatch.serve.responses`).
"""

# no ``from __future__ import annotations``: FastAPI reads the annotations of the
# endpoints below at runtime, and their limits come from the config in a closure.
import asyncio
import logging
import re
import shutil
import tempfile
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from fastapi import Body, FastAPI, File, HTTPException, Path as PathParam, Query, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from reelmatch import __version__
from reelmatch.errors import InputError, NotFoundError, ReelmatchError
from reelmatch.query.search import NeedsIndexSearch
from reelmatch.serve import pictures
from reelmatch.serve.config import ServeConfig
from reelmatch.serve.files import VIDEO_TYPES, servable_media
from reelmatch.serve.responses import dumps, etag_matches, json_response, picture_etag
from reelmatch.serve.state import Artifacts, CacheMiss, ReadCatalog, ServedWorkspace
from reelmatch.serve.uploads import UploadEmbedder

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
STAGES = ("download", "extract", "features", "embed", "dedupe", "scenes")

ItemId = Annotated[str, PathParam(min_length=1, max_length=200, description="catalogue item id")]
Kind = Literal["trailer", "ad"]
ImageFormat = Literal["jpeg", "png"]


class _State:
    """What the endpoints share: read views, artifacts, the upload executor, a picture cache."""

    def __init__(self, ws, config: ServeConfig):
        self.ws = ws  # the writable workspace: PATCH (with --allow-writes) only, behind write_lock
        self.config = config
        self.reads = ReadCatalog(ws.catalog_path)
        self.artifacts = Artifacts(ws, table=config.neighbour_table)
        self.served = ServedWorkspace(ws, self.reads, self.artifacts)
        # what the event loop may answer inline: cached rows, loaded arrays, no SQLite, no index search
        self.inline = ServedWorkspace(ws, self.reads, self.artifacts, cache_only=True)
        self.write_lock = threading.Lock()
        self.uploads = threading.BoundedSemaphore(config.max_concurrent_uploads)
        # upload jobs (save, probe, search) run on these threads; decoding and embedding in upload processes
        self.upload_pool = ThreadPoolExecutor(config.max_concurrent_uploads, thread_name_prefix="reelmatch-upload")
        self.upload_embedder = UploadEmbedder(ws.root, config.max_concurrent_uploads)
        self.served.embed_file = self.upload_embedder
        self._cache: OrderedDict[tuple, bytes] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._stores = threading.local()

    @property
    def catalog(self):
        """The calling thread's read-only catalogue (item rows cached until the catalogue changes)."""
        return self.reads.view()

    def fresh(self) -> None:
        """Once per request: notice catalogue commits made since the last request."""
        self.reads.check()

    # ------------------------------------------------------------ catalogue
    def item(self, item_id: str):
        return self.catalog.get(item_id)  # NotFoundError -> 404

    def clip(self, item_id: str):
        """The item's clip record, or None when it has none (or no store exists yet)."""
        # one store per thread (its file handles seek), reopened when an extract run changes the clip config
        stamp = self.clip_stamp()
        local = self._stores
        if getattr(local, "stamp", "unset") != stamp:
            if getattr(local, "store", None) is not None:
                local.store.close()
            local.store, local.stamp = None, stamp
            try:
                from reelmatch.dataset.store import ClipStore

                local.store = ClipStore(self.ws)
            except (ImportError, ReelmatchError) as e:
                log.debug("no clip store: %s", e)
        if local.store is None:
            return None
        try:
            return local.store.get(item_id)
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
        try:
            searcher = self.artifacts.searcher()
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


def _detail(catalog, item) -> dict:
    base = f"/api/items/{item.id}"
    recorded = catalog.stages_of(item.id)
    pending = {"status": "pending", "error": None}
    stages = {stage: recorded.get(stage, pending) for stage in STAGES}
    doc = _summary(item)
    doc.update(
        {
            "plot": item.plot,
            "flags": list(item.flags),
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


def _error(status: int, message: str, **extra) -> Response:
    return Response(dumps({"error": message, "status": status, **extra}), status_code=status,
                    media_type="application/json")


PICTURE_CACHE = "public, max-age=600"


def _picture(request: Request, key: tuple, make, fmt: str, state: "_State") -> Response:
    """A picture with a strong ETag of what it is made of: 304 before drawing when it matches."""
    tag = picture_etag(*key)
    headers = {"etag": tag, "cache-control": PICTURE_CACHE}
    if etag_matches(request, tag):
        return Response(status_code=304, headers=headers)
    return Response(state.cached(key, make), media_type=pictures.FORMATS[fmt], headers=headers)


class SimilarBatch(BaseModel):
    """``POST /api/similar``: the neighbours of many catalogue items in one request."""

    ids: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, description="catalogue item ids", examples=[["file-0123456789ab", "file-ba9876543210"]])
    k: int = Field(10, ge=1, description="results per id")
    genre: str | None = Field(None, max_length=100)
    kind: Kind | None = None


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
    async def health(request: Request):  # inline: counts are cached per catalogue version
        """Liveness, catalogue size, and what answers ``similar``: ``embeddings`` is
        ``{"mode": "model"|"backbone", "vectors": n}``, or null before ``embed``/``index``."""
        state.fresh()
        doc = {"ok": True, "version": __version__, "items": state.catalog.count(), "writes": config.allow_writes,
               "embeddings": state.embeddings()}
        return json_response(request, doc, etag=False)

    @app.get("/api/genres", tags=["catalogue"])
    def genres(request: Request):
        return json_response(request, {"genres": state.catalog.genre_vocabulary()})

    @app.get("/api/items", tags=["catalogue"])
    def list_items(
        request: Request,
        q: Annotated[str | None, Query(max_length=200, description="text the title contains")] = None,
        genre: Annotated[str | None, Query(max_length=100)] = None,
        kind: Kind | None = None,
        limit: Annotated[int, Query(ge=1, le=config.max_page)] = 24,
        offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    ):
        """Titles by name, paged; ``q`` is a case-insensitive substring of the title."""
        state.fresh()
        catalog = state.catalog
        rows = catalog.search(q or None, genre=genre or None, kind=kind, limit=limit + 1, offset=offset)
        total = catalog.count() if not (q or genre or kind) else None
        doc = {
            "items": [_summary(it) for it in rows[:limit]],
            "offset": offset,
            "limit": limit,
            "has_more": len(rows) > limit,
            "total": total,
        }
        return json_response(request, doc)

    @app.get("/api/items/{item_id}", tags=["catalogue"])
    def get_item(request: Request, item_id: ItemId):
        """One item: labels, per-stage status and the URLs of its media (ETag; 304 on ``If-None-Match``)."""
        state.fresh()
        catalog = state.catalog
        return json_response(request, _detail(catalog, catalog.get(item_id)))

    @app.patch("/api/items/{item_id}", tags=["catalogue"])
    def edit_item(
        request: Request,
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
        with state.write_lock:  # the one writable connection
            ws.catalog.get(item_id)
            ws.catalog.update_fields(item_id, **changes)
        state.fresh()  # the read views see the commit
        return json_response(request, _detail(state.catalog, state.catalog.get(item_id)), etag=False)

    # -------------------------------------------------------------- queries
    from reelmatch.serve.scenes import Labels, add_scene_routes, exclusions_of

    def similar_doc(item_id: str, k: int, genre: str | None, kind: str | None, *, explain: bool = False,
                    exclusions=None) -> dict:
        item = state.catalog.get(item_id)  # an id from the catalogue, never a path
        return state.served.similar(item.id, k=k, genre=genre or None, kind=kind, explain=explain,
                                    exclusions=exclusions).to_dict()

    def similar_inline(item_id: str, k: int, genre: str | None, kind: str | None) -> dict | None:
        """The document when the neighbour table and the item cache answer it alone, else None."""
        try:
            item = state.inline.catalog.get(item_id)
            return state.inline.similar(item.id, k=k, genre=genre or None, kind=kind, fallback=False).to_dict()
        except (CacheMiss, NeedsIndexSearch):
            return None

    @app.get("/api/items/{item_id}/similar", tags=["query"])
    async def similar(request: Request, item_id: ItemId, k: K = 10,
                      genre: Annotated[str | None, Query(max_length=100)] = None, kind: Kind | None = None,
                      explain: Annotated[bool, Query(description="explain each result")] = False,
                      exclude_genre: Labels = [], exclude_kind: Labels = [], exclude_flag: Labels = [],  # noqa: B006
                      require_genre: Labels = []):  # noqa: B006
        """The items that look and sound most like this one (the ``similar`` JSON of DESIGN.md);
        exclusions apply inside the search, ``explain`` adds each result's explanation."""
        state.fresh()
        ex = exclusions_of(exclude_genre, exclude_kind, exclude_flag, require_genre)
        # answered on the event loop when the table and cached rows suffice (microseconds), else in a thread
        doc = similar_inline(item_id, k, genre, kind) if ex is None and not explain else None
        if doc is None:
            doc = await run_in_threadpool(lambda: similar_doc(item_id, k, genre, kind, explain=explain, exclusions=ex))
        return json_response(request, doc)

    def similar_before_routing(request, item_id: str, k: int, genre: str | None, kind: str | None):
        state.fresh()
        doc = similar_inline(item_id, k, genre, kind)
        return None if doc is None else json_response(request, doc)

    if config.inline_route:  # the plain, table-answered similar skips routing and validation (same bytes)
        from reelmatch.serve.fastpath import InlineSimilar

        app.add_middleware(InlineSimilar, answer=similar_before_routing, max_k=config.max_k)

    @app.post("/api/similar", tags=["query"])
    def similar_batch(request: Request, batch: SimilarBatch):
        """Many catalogue items in one request: ``{"results": [...]}``, one entry per id in order, each
        the ``similar`` JSON of that id or ``{"query": {"id"}, "error", "status"}`` (404 unknown id, 503 not built)."""
        if len(batch.ids) > config.max_batch:
            raise HTTPException(422, f"ids: at most {config.max_batch} ids per request, got {len(batch.ids)}")
        if batch.k > config.max_k:
            raise HTTPException(422, f"k: at most {config.max_k}, got {batch.k}")
        state.fresh()
        out = []
        for item_id in batch.ids:
            try:
                out.append(similar_doc(item_id, batch.k, batch.genre, batch.kind))
            except ReelmatchError as e:
                status = 404 if isinstance(e, NotFoundError) else 422 if isinstance(e, InputError) else 503
                out.append({"query": {"id": item_id}, "error": str(e), "status": status})
        return json_response(request, {"results": out}, etag=False)

    @app.post("/api/match", tags=["query"], max_body_size=config.max_upload_bytes + 1024 * 1024)
    async def match(
        file: Annotated[UploadFile, File(description="a video: a commercial, a trailer, any clip")],
        request: Request,
        mode: Annotated[
            Literal["ad", "similar"],
            Query(description="ad: movie trailers for a commercial, with per-modality scores; similar: any items"),
        ] = "ad",
        k: K = 10,
        genre: Annotated[str | None, Query(max_length=100)] = None,
        kind: Annotated[Kind | None, Query(description="mode=similar only (mode=ad answers trailers)")] = None,
        scenes: Annotated[bool, Query(description="mode=ad: best scenes and break candidates per movie")] = False,
        explain: bool = False,
        exclude_genre: Labels = [], exclude_kind: Labels = [], exclude_flag: Labels = [],  # noqa: B006
        require_genre: Labels = [],  # noqa: B006
    ):
        """Match an uploaded video: the ``match-ad`` JSON (mode=ad) or the ``similar`` JSON.

        The file is checked by content (PyAV decodes a frame) before any work, never
        added to the catalogue, and removed when the request ends. Uploads are
        decoded and embedded on their own executor (``max_concurrent_uploads``
        at once, 503 beyond), so reads never wait for them.
        """
        if file.size is not None and file.size > config.max_upload_bytes:
            raise HTTPException(413, f"the upload is larger than {config.max_upload_bytes} bytes")
        ex = exclusions_of(exclude_genre, exclude_kind, exclude_flag, require_genre)
        name = Path((file.filename or "upload").replace("\\", "/")).name or "upload"
        suffix = Path(name).suffix.lower()
        # the file's stem becomes the query's title; the folder is private to this request
        stem = re.sub(r"[^\w .,()+-]", "_", Path(name).stem).strip(" .")[:100] or "upload"
        if not state.uploads.acquire(blocking=False):
            raise HTTPException(503, "too many uploads are being matched; try again in a moment")
        tmpdir = Path(tempfile.mkdtemp(prefix="reelmatch-upload-"))
        path = tmpdir / (stem + (suffix if suffix in VIDEO_TYPES else ".bin"))

        def job() -> dict:
            try:
                file.file.seek(0)
                with open(path, "wb") as out:
                    shutil.copyfileobj(file.file, out, 1024 * 1024)
                    size = out.tell()
                if size > config.max_upload_bytes:
                    raise HTTPException(413, f"the upload is larger than {config.max_upload_bytes} bytes")
                if size == 0:
                    raise HTTPException(422, f"{name}: the upload is empty")
                from reelmatch.ingest.probe import probe_video  # content check, not the suffix

                try:
                    probe_video(path)
                except InputError as e:
                    raise _NotVideo(f"{name}: {e}") from None
                state.fresh()
                # the path of this request's own temporary file: never one from the client
                if mode == "ad":
                    result = state.served.match_ad(str(path), k=k, genre=genre or None, scenes=scenes,
                                                   explain=explain, exclusions=ex)
                else:
                    result = state.served.similar(str(path), k=k, genre=genre or None, kind=kind, explain=explain,
                                                  exclusions=ex)
                doc = result.to_dict()
                doc["query"] = {**doc.get("query", {}), "path": name, "title": doc.get("query", {}).get("title") or name}
                return doc
            finally:
                state.uploads.release()
                shutil.rmtree(tmpdir, ignore_errors=True)

        try:
            future = asyncio.get_running_loop().run_in_executor(state.upload_pool, job)
        except BaseException:
            state.uploads.release()
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise
        try:
            # on time-out the job goes on in its thread (or waits for one) and then frees its slot
            doc = await asyncio.wait_for(asyncio.shield(future), config.query_timeout)
        except TimeoutError:
            future.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved: no "never retrieved" noise
            raise HTTPException(504, f"matching {name} took longer than {config.query_timeout:g} s") from None
        except _NotVideo as e:
            raise HTTPException(415, str(e)) from None
        return json_response(request, doc, etag=False)

    # ---------------------------------------------------------------- media
    @app.get("/api/items/{item_id}/thumbnail", tags=["media"], response_class=Response)
    def thumbnail(request: Request, item_id: ItemId, format: ImageFormat = "jpeg"):
        """A frame of the item's clip (or of its video when it has no clip yet); ETag, 304 on ``If-None-Match``."""
        state.fresh()
        item = state.item(item_id)

        def make() -> bytes:
            clip = state.clip(item.id)
            if clip is not None and clip.num_valid:
                return pictures.encode(pictures.clip_thumbnail(clip.frames, clip.mask), format)
            path, _ = servable_media(ws, item)
            try:
                return pictures.encode(pictures.video_frame(path), format, max_side=480)
            except Exception as e:  # undecodable media: the item simply has no picture
                raise NotFoundError(f"item {item.id}: no frame to show ({type(e).__name__})") from None

        key = ("thumb", item.id, item.sha256, item.media_path, state.clip_stamp(), format)
        return _picture(request, key, make, format, state)

    @app.get("/api/items/{item_id}/contact-sheet", tags=["media"], response_class=Response)
    def contact_sheet(request: Request, item_id: ItemId, format: ImageFormat = "jpeg"):
        state.fresh()
        item = state.item(item_id)

        def make() -> bytes:
            clip = state.require_clip(item)
            from reelmatch.extract.sheet import contact_sheet as draw_sheet

            return pictures.encode(np.asarray(draw_sheet(clip, title=item.title).convert("RGB")), format)

        key = ("sheet", item.id, item.sha256, item.title, state.clip_stamp(), format)
        return _picture(request, key, make, format, state)

    @app.get("/api/items/{item_id}/spectrogram", tags=["media"], response_class=Response)
    def spectrogram(request: Request, item_id: ItemId, format: ImageFormat = "png"):
        state.fresh()
        item = state.item(item_id)

        def make() -> bytes:
            clip = state.require_clip(item)
            if not clip.has_audio:
                raise NotFoundError(f"item {item.id} has no audio")
            from reelmatch.extract.sheet import spectrogram_image

            return pictures.encode(spectrogram_image(clip.spectrogram), format)

        key = ("spec", item.id, item.sha256, state.clip_stamp(), format)
        return _picture(request, key, make, format, state)

    @app.get(
        "/api/items/{item_id}/video",
        tags=["media"],
        response_class=FileResponse,
        responses={206: {"description": "the requested byte range"}, 416: {"description": "range not satisfiable"}},
    )
    def video(item_id: ItemId):
        """The item's media file; answers HTTP Range requests so a browser plays and seeks."""
        state.fresh()
        item = state.item(item_id)
        path, ctype = servable_media(ws, item)
        # FileResponse answers Range requests (206, Accept-Ranges, Content-Range, 416) and sends an ETag
        return FileResponse(path, media_type=ctype, headers={"Cache-Control": PICTURE_CACHE})

    # issue 17: copy pairs with segments and frames at a time (kept in their own module)
    from reelmatch.serve.copies import add_copy_routes

    add_copy_routes(app, state, ws)
    # issue 19: scenes, ad placement by scene (reelmatch.serve.scenes)
    add_scene_routes(app, state, ws, config.max_k)
    return app


class _NotVideo(Exception):
    pass


__all__ = ["create_app", "ServeConfig"]
