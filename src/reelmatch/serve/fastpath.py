"""``GET /api/items/{id}/similar`` answered before routing, when the answer is inline.

The busiest request of a recommender is "the neighbours of this catalogue item", and
with the neighbour table it costs tens of microseconds; FastAPI's routing and
parameter validation around it cost twice that again. :class:`InlineSimilar` is a
pure ASGI middleware that recognises the plain form of that request (``GET``, the
path ``/api/items/<id>/similar``, a query string of at most ``k``, ``genre`` and
``kind`` with valid values) and answers it when the table and the cached rows
suffice. Everything else -- another endpoint, another parameter (``explain``,
exclusions), a value FastAPI would refuse, an id not cached yet, any error -- goes
to the app unchanged, so the route, its validation, its error documents and its
OpenAPI description stay the app's, and both paths build the same bytes
(``tests/test_serve_api.py`` compares them).
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from starlette.datastructures import Headers

log = logging.getLogger(__name__)

PREFIX = "/api/items/"
SUFFIX = "/similar"
KINDS = ("trailer", "ad")
MAX_ID = 200
MAX_GENRE = 100


class _Request:
    """What :func:`reelmatch.serve.responses.json_response` reads of a request: its headers."""

    __slots__ = ("headers",)

    def __init__(self, scope):
        self.headers = Headers(scope=scope)


def plain_similar(scope, max_k: int) -> tuple[str, int, str | None, str | None] | None:
    """``(id, k, genre, kind)`` when ``scope`` is a plain, valid similar request, else None."""
    if scope["type"] != "http" or scope["method"] != "GET":
        return None
    path = scope["path"]
    if not (path.startswith(PREFIX) and path.endswith(SUFFIX)):
        return None
    item_id = path[len(PREFIX):-len(SUFFIX)]
    if not 1 <= len(item_id) <= MAX_ID or "/" in item_id:
        return None
    k, genre, kind, seen = 10, None, None, set()
    qs = scope.get("query_string", b"")
    if qs:
        for key, value in parse_qsl(qs.decode("latin-1"), keep_blank_values=True):
            if key in seen:  # a repeated parameter: the app decides what it means
                return None
            seen.add(key)
            if key == "k":
                if not (value.isascii() and value.isdigit() and len(value) <= 6):
                    return None
                k = int(value)
                if not 1 <= k <= max_k:
                    return None
            elif key == "genre":
                if len(value) > MAX_GENRE:
                    return None
                genre = value or None
            elif key == "kind":
                if value not in KINDS:
                    return None
                kind = value
            else:
                return None
    return item_id, k, genre, kind


class InlineSimilar:
    """Pure ASGI middleware: ``answer(request, id, k, genre, kind)`` -> a Response, or None for the app."""

    def __init__(self, app, *, answer, max_k: int):
        self.app = app
        self.answer = answer
        self.max_k = max_k

    async def __call__(self, scope, receive, send):
        plain = plain_similar(scope, self.max_k)
        if plain is not None:
            try:
                response = self.answer(_Request(scope), *plain)
            except Exception:  # the app answers it again, with its own error handling
                log.debug("inline similar fell back to the app", exc_info=True)
                response = None
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
