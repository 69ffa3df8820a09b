"""HTTP API of ``reelmatch serve``: catalogue, media with ranges, safety rules, errors.

Real SQLite catalogue, real generated videos, real decoding; FastAPI's TestClient.
"""

from __future__ import annotations

import os
import re

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from reelmatch.catalog import Item  # noqa: E402
from reelmatch.serve.app import create_app  # noqa: E402
from reelmatch.serve.config import ServeConfig  # noqa: E402

GENRES = {
    "Red Planet": ("Action", "Sci-Fi"),
    "Blue Lagoon": ("Drama", "Romance"),
    "Green Hills": ("Drama", "Family"),
}


@pytest.fixture
def catalogue_ws(ws, media_dir, tmp_path):
    """A workspace with three trailers (media under the workspace and outside it) and one ad."""
    import shutil

    media = ws.dir("media")
    shutil.copy(media_dir / "red box.mp4", media / "red.mp4")
    shutil.copy(media_dir / "blue box.webm", media / "blue.webm")
    ws.catalog.upsert(Item(id="t-red", title="Red Planet", genres=GENRES["Red Planet"], year=2001, media_path="media/red.mp4"))
    ws.catalog.upsert(Item(id="t-blue", title="Blue Lagoon", genres=GENRES["Blue Lagoon"], media_path=str(media / "blue.webm")))
    # media outside the workspace, listed by the catalogue (``reelmatch add`` of a file in place)
    ws.catalog.upsert(Item(id="t-green", title="Green Hills", genres=GENRES["Green Hills"], media_path=str(media_dir / "silent.mkv")))
    ws.catalog.upsert(Item(id="a-soda", title="Fizzy Soda", kind="ad"))
    return ws


@pytest.fixture
def client(catalogue_ws):
    with TestClient(create_app(catalogue_ws)) as c:
        yield c


def test_list_search_and_paging(client):
    doc = client.get("/api/items").json()
    assert [i["title"] for i in doc["items"]] == ["Blue Lagoon", "Fizzy Soda", "Green Hills", "Red Planet"]
    assert doc["total"] == 4 and doc["has_more"] is False
    assert doc["items"][0]["thumbnail"] == "/api/items/t-blue/thumbnail"

    page = client.get("/api/items", params={"limit": 2, "offset": 1}).json()
    assert [i["id"] for i in page["items"]] == ["a-soda", "t-green"] and page["has_more"] is True

    assert [i["id"] for i in client.get("/api/items", params={"q": "lag"}).json()["items"]] == ["t-blue"]
    assert [i["id"] for i in client.get("/api/items", params={"genre": "drama"}).json()["items"]] == ["t-blue", "t-green"]
    assert [i["id"] for i in client.get("/api/items", params={"kind": "ad"}).json()["items"]] == ["a-soda"]
    # LIKE wildcards in the text are literal
    assert client.get("/api/items", params={"q": "%"}).json()["items"] == []
    assert client.get("/api/genres").json()["genres"] == ["Action", "Drama", "Family", "Romance", "Sci-Fi"]
    health = client.get("/api/health").json()
    assert health["items"] == 4 and health["writes"] is False and health["embeddings"] is None  # not built


def test_item_detail_hides_local_paths(client):
    doc = client.get("/api/items/t-red").json()
    assert doc["title"] == "Red Planet" and doc["genres"] == ["Action", "Sci-Fi"] and doc["year"] == 2001
    assert doc["media"]["video"] == "/api/items/t-red/video" and doc["has_media"] is True
    assert doc["stages"]["extract"]["status"] == "pending"
    assert "media_path" not in doc and doc["source"] is None


@pytest.mark.parametrize(
    "url, params",
    [
        ("/api/items", {"limit": 0}),
        ("/api/items", {"limit": 10_000}),
        ("/api/items", {"offset": -1}),
        ("/api/items", {"kind": "documentary"}),
        ("/api/items/t-red/thumbnail", {"format": "gif"}),
        ("/api/items/t-red/similar", {"k": 0}),
        ("/api/items/t-red/similar", {"k": "many"}),
        ("/api/items/t-red/similar", {"k": 101}),
    ],
)
def test_bad_parameters_are_422_json(client, url, params):
    r = client.get(url, params=params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/json" and r.json()["error"]


@pytest.mark.parametrize("suffix", ["", "/thumbnail", "/contact-sheet", "/spectrogram", "/video", "/similar"])
def test_unknown_id_is_404_json(client, suffix):
    r = client.get(f"/api/items/no-such-item{suffix}")
    assert r.status_code == 404, r.text
    assert "no-such-item" in r.json()["error"]


def test_video_range_requests(client, catalogue_ws):
    data = (catalogue_ws.dir("media") / "red.mp4").read_bytes()
    full = client.get("/api/items/t-red/video")
    assert full.status_code == 200 and full.content == data
    assert full.headers["content-type"] == "video/mp4" and full.headers["accept-ranges"] == "bytes"

    part = client.get("/api/items/t-red/video", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    assert part.content == data[100:200]

    tail = client.get("/api/items/t-red/video", headers={"Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == data[-50:]
    open_ended = client.get("/api/items/t-red/video", headers={"Range": f"bytes={len(data) - 10}-"})
    assert open_ended.status_code == 206 and open_ended.content == data[-10:]

    beyond = client.get("/api/items/t-red/video", headers={"Range": f"bytes={len(data) + 5}-"})
    assert beyond.status_code == 416
    assert client.get("/api/items/t-blue/video").headers["content-type"] == "video/webm"
    # media listed by the catalogue outside the workspace is served too
    assert client.get("/api/items/t-green/video").headers["content-type"] == "video/x-matroska"


def test_items_without_media_or_with_missing_media_are_404(client, catalogue_ws):
    assert client.get("/api/items/a-soda/video").status_code == 404
    catalogue_ws.catalog.upsert(Item(id="t-gone", title="Gone", media_path="media/gone.mp4"))
    r = client.get("/api/items/t-gone/video")
    assert r.status_code == 404 and "missing" in r.json()["error"]


def test_no_symlink_escape_and_no_non_video_files(client, catalogue_ws, tmp_path):
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"not for the web")
    link = catalogue_ws.dir("media") / "escape.mp4"
    os.symlink(secret, link)
    catalogue_ws.catalog.upsert(Item(id="t-link", title="Link", media_path="media/escape.mp4"))
    r = client.get("/api/items/t-link/video")
    assert r.status_code == 404 and b"not for the web" not in r.content
    # a relative path climbing out of the workspace through a symlinked folder
    os.symlink(tmp_path, catalogue_ws.dir("media") / "up")
    catalogue_ws.catalog.upsert(Item(id="t-up", title="Up", media_path="media/up/secret.mp4"))
    assert client.get("/api/items/t-up/video").status_code == 404
    # a workspace file that is not a video (the catalogue database itself)
    catalogue_ws.catalog.upsert(Item(id="t-db", title="Db", media_path="catalog.db"))
    assert client.get("/api/items/t-db/video").status_code == 404
    # a symlink inside the workspace to a workspace video is fine
    os.symlink(catalogue_ws.dir("media") / "red.mp4", catalogue_ws.dir("media") / "alias.mp4")
    catalogue_ws.catalog.upsert(Item(id="t-alias", title="Alias", media_path="media/alias.mp4"))
    assert client.get("/api/items/t-alias/video").status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/static/../pyproject.toml",
        "/static/%2e%2e/%2e%2e/catalog.db",
        "/static/..%2f..%2fapp.py",
        "/api/items/..%2f..%2fcatalog.db/video",
        "/api/items/%2Fetc%2Fpasswd/video",
        "/api/items/..%2Fmedia%2Fred.mp4/similar",
        "/api/items/t-red/video/../../../../etc/passwd",
    ],
)
def test_no_path_traversal(client, url):
    r = client.get(url)
    assert r.status_code in (404, 422), (url, r.status_code)
    assert b"root:" not in r.content and b"SQLite" not in r.content


def test_query_parameters_never_take_paths(client):
    # no endpoint declares a parameter that could name a file: files are reached by item id only
    spec = client.get("/openapi.json").json()
    params = [(route, p["name"]) for route, ops in spec["paths"].items() for op in ops.values()
              for p in op.get("parameters", [])]
    assert params and ("/api/items/{item_id}/thumbnail", "format") in params  # the listing itself works
    suspicious = re.compile(r"path|file|dir|url|uri|src|location", re.I)
    assert [p for p in params if suspicious.search(p[1])] == []
    # and a path smuggled in as an undeclared parameter changes nothing
    plain = client.get("/api/items/t-red/thumbnail")
    r = client.get("/api/items/t-red/thumbnail", params={"path": "/etc/passwd", "file": "../catalog.db"})
    assert r.status_code == plain.status_code == 200 and r.content == plain.content


def test_thumbnail_falls_back_to_the_video(client):
    from io import BytesIO

    from PIL import Image

    r = client.get("/api/items/t-red/thumbnail")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    im = Image.open(BytesIO(r.content))
    assert im.size == (64, 64)
    png = client.get("/api/items/t-blue/thumbnail", params={"format": "png"})
    assert png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    # an item without media has no thumbnail (404, not 500)
    assert client.get("/api/items/a-soda/thumbnail").status_code == 404


def test_page_and_openapi(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'id="dropzone"' in page.text and "/static/app.js" in page.text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/style.css").status_code == 200
    spec = client.get("/openapi.json").json()
    for path in ("/api/items", "/api/items/{item_id}", "/api/items/{item_id}/similar", "/api/match", "/api/items/{item_id}/video"):
        assert path in spec["paths"], path
    assert client.get("/docs").status_code == 200


def test_read_only_by_default_and_writes_when_allowed(client, catalogue_ws):
    r = client.patch("/api/items/t-red", json={"genres": ["Horror"]})
    assert r.status_code == 403 and "--allow-writes" in r.json()["error"]
    assert catalogue_ws.catalog.get("t-red").genres == ("Action", "Sci-Fi")
    assert client.post("/api/items").status_code == 405
    with TestClient(create_app(catalogue_ws, ServeConfig(allow_writes=True))) as rw:
        doc = rw.patch("/api/items/t-red", json={"genres": ["Horror"], "year": 1999}).json()
        assert doc["genres"] == ["Horror"] and doc["year"] == 1999
        assert rw.patch("/api/items/t-red", json={"media_path": "/etc/passwd"}).status_code == 422
        assert rw.patch("/api/items/t-red", json={"year": "soon"}).status_code == 422
        assert rw.patch("/api/items/nope", json={"year": 1}).status_code == 404


def test_unexpected_errors_are_json_500_without_traceback(catalogue_ws):
    app = create_app(catalogue_ws)

    @app.get("/api/boom")
    def boom():
        raise RuntimeError("kaput\nsecond line")

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/api/boom")
    assert r.status_code == 500
    assert r.json()["error"] == "internal error: RuntimeError: kaput second line"
    assert "Traceback" not in r.text


def test_upload_too_large_is_413(catalogue_ws, media_dir):
    app = create_app(catalogue_ws, ServeConfig(max_upload_bytes=1000))
    with TestClient(app) as c:
        data = (media_dir / "red box.mp4").read_bytes()
        r = c.post("/api/match", files={"file": ("big.mp4", data, "video/mp4")})
        assert r.status_code == 413, r.text
        assert r.json()["error"]


def test_upload_not_a_video_is_415(client):
    r = client.post("/api/match", files={"file": ("notes.mp4", b"hello, this is text" * 100, "video/mp4")})
    assert r.status_code == 415, r.text
    assert "notes.mp4" in r.json()["error"]
    assert client.post("/api/match", files={"file": ("empty.mp4", b"", "video/mp4")}).status_code == 422
    assert client.post("/api/match").status_code == 422
    assert client.post("/api/match", params={"mode": "dance"}, files={"file": ("a.mp4", b"x", "video/mp4")}).status_code == 422


def test_pictures_from_clips(catalogue_ws, media_dir):
    from io import BytesIO

    from PIL import Image

    from reelmatch.extract import ClipConfig, run_extract

    app = create_app(catalogue_ws)
    with TestClient(app) as c:  # before extraction: a frame of the video
        assert Image.open(BytesIO(c.get("/api/items/t-red/thumbnail").content)).size == (64, 64)
    config = ClipConfig(start=0.0, window=2.0, num_frames=4, interval=0.5, size=32)
    summary = run_extract(catalogue_ws, config, workers=0)
    assert summary["done"] == 3, summary
    with TestClient(app) as c:  # the running app sees the new clips
        thumb = c.get("/api/items/t-red/thumbnail", params={"format": "png"})
        assert thumb.status_code == 200
        assert Image.open(BytesIO(thumb.content)).size == (32, 32)  # the clip's frame, not the video's
        sheet = c.get("/api/items/t-red/contact-sheet")
        assert sheet.status_code == 200 and sheet.headers["content-type"] == "image/jpeg"
        assert Image.open(BytesIO(sheet.content)).size[0] > 4 * 32
        spec = c.get("/api/items/t-blue/spectrogram")
        assert spec.status_code == 200 and spec.content[:8] == b"\x89PNG\r\n\x1a\n"
        # the silent video has a clip but no audio; the ad has no clip
        assert c.get("/api/items/t-green/spectrogram").status_code == 404
        assert c.get("/api/items/a-soda/contact-sheet").status_code == 404
        detail = c.get("/api/items/t-red").json()
        assert detail["stages"]["extract"]["status"] == "done"


def test_cli_serves_on_loopback(catalogue_ws, tmp_path):
    """``reelmatch serve --port 0`` binds 127.0.0.1, answers, and stops on SIGINT."""
    import signal
    import subprocess
    import sys

    import httpx
    from served import wait_for_url

    log = tmp_path / "serve.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reelmatch", "-w", str(catalogue_ws.root), "serve", "--port", "0"],
            stdout=subprocess.DEVNULL, stderr=err, text=True,
        )
    try:
        url = wait_for_url(log, proc)
        assert httpx.get(url + "/api/health").json()["items"] == 4
        assert httpx.patch(url + "/api/items/t-red", json={"year": 1}).status_code == 403
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(20)
    assert "read-only" in log.read_text()
