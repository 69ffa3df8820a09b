"""How the server answers: JSON bytes (orjson), gzip when accepted, ETag and 304.

``json_response(request, doc)`` serialises ``doc`` once (no response-model
validation: the documents are built by :mod:`reelmatch.query` and the endpoints,
which own the contract), adds a weak ``ETag`` of the bytes and answers ``304``
when ``If-None-Match`` names it, and gzips bodies of ``gzip_min`` bytes or more
for clients that accept it (``Vary: Accept-Encoding``). Pictures get a strong
``ETag`` computed from what they are made of, before they are drawn.
"""

from __future__ import annotations

import gzip
import hashlib
import json

from starlette.responses import Response

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency of the serve extra
    orjson = None

#: bodies at least this long are gzipped when the client accepts it
GZIP_MIN = 512


def dumps(doc) -> bytes:
    """``doc`` as compact UTF-8 JSON (orjson; the stdlib when it is missing)."""
    if orjson is not None:
        return orjson.dumps(doc)
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def accepts_gzip(request) -> bool:
    header = request.headers.get("accept-encoding", "")
    for part in header.split(","):
        token, _, params = part.strip().partition(";")
        if token.strip().lower() in ("gzip", "*"):
            q = params.strip().lower()
            return not (q.startswith("q=") and _q_zero(q[2:]))
    return False


def _q_zero(value: str) -> bool:
    try:
        return float(value) == 0.0
    except ValueError:
        return False


def etag_matches(request, tag: str) -> bool:
    """``If-None-Match`` names ``tag`` (weak comparison) or is ``*``."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    bare = tag.removeprefix("W/")
    return any(t.strip() == "*" or t.strip().removeprefix("W/") == bare for t in header.split(","))


def json_response(request, doc, status: int = 200, *, etag: bool = True, cache: str = "no-cache",
                  gzip_min: int = GZIP_MIN) -> Response:
    """``doc`` as a JSON response; GETs answered 200 carry an ETag (``304`` when it matches)."""
    body = dumps(doc)
    headers = {}
    if etag and status == 200:
        tag = 'W/"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        headers["etag"] = tag
        headers["cache-control"] = cache
        if etag_matches(request, tag):
            return Response(status_code=304, headers=headers)
    if len(body) >= gzip_min:
        headers["vary"] = "Accept-Encoding"
        if accepts_gzip(request):
            body = gzip.compress(body, compresslevel=5, mtime=0)
            headers["content-encoding"] = "gzip"
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def picture_etag(*parts) -> str:
    """A strong ETag from what a picture is made of (item, media hash, clip version, format)."""
    return '"' + hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest() + '"'
