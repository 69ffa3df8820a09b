"""similar and match over HTTP on a small built workspace (real extraction,
embeddings from the tiny test backbone, FAISS index); FastAPI's TestClient.
"""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from reelmatch.serve.app import create_app  # noqa: E402
from reelmatch.serve.config import ServeConfig  # noqa: E402


@pytest.fixture(scope="module")
def client(served_workspace):
    ws, _ = served_workspace
    with TestClient(create_app(ws)) as c:
        yield c


def ids(ws) -> dict[str, str]:
    return {it.title: it.id for it in ws.catalog.items()}


def test_similar_matches_the_library_and_the_contract(client, served_workspace):
    ws, _ = served_workspace
    t = ids(ws)
    doc = client.get(f"/api/items/{t['Crimson Chase']}/similar", params={"k": 4}).json()
    assert doc == ws.similar(t["Crimson Chase"], k=4).to_dict()
    assert doc["query"]["id"] == t["Crimson Chase"] and doc["query"]["title"] == "Crimson Chase"
    assert [r["rank"] for r in doc["results"]] == [1, 2, 3, 4]
    assert t["Crimson Chase"] not in [r["id"] for r in doc["results"]]
    for r in doc["results"]:
        assert set(r) >= {"rank", "id", "title", "kind", "score", "genres", "shared_genres"}
        assert set(r["shared_genres"]) <= set(r["genres"]) & {"Action", "Thriller"}
    scores = [r["score"] for r in doc["results"]]
    assert scores == sorted(scores, reverse=True)


def test_health_names_the_embeddings(client):
    assert client.get("/api/health").json()["embeddings"] == {"mode": "backbone", "vectors": 7}


def test_similar_filters(client, served_workspace):
    ws, _ = served_workspace
    t = ids(ws)
    drama = client.get(f"/api/items/{t['Azure Tides']}/similar", params={"k": 10, "genre": "Drama"}).json()
    assert [r["title"] for r in drama["results"]] == ["Blue Harbour"]
    ads = client.get(f"/api/items/{t['Azure Tides']}/similar", params={"k": 10, "kind": "ad"}).json()
    assert [r["title"] for r in ads["results"]] == ["Fizzy Soda"]
    trailers = client.get(f"/api/items/{t['Fizzy Soda']}/similar", params={"k": 10, "kind": "trailer"}).json()
    assert len(trailers["results"]) == 6 and {r["kind"] for r in trailers["results"]} == {"trailer"}


def test_match_an_uploaded_commercial(client, served_workspace):
    ws, upload = served_workspace
    with open(upload, "rb") as f:
        r = client.post("/api/match", params={"k": 3}, files={"file": ("Lemon Ad.mp4", f, "video/mp4")})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["query"] == {"path": "Lemon Ad.mp4", "title": "Lemon Ad"}
    assert doc == {**ws.match_ad(upload, k=3).to_dict(), "query": doc["query"]}
    assert len(doc["results"]) == 3 and all(r["kind"] == "trailer" for r in doc["results"])
    for res in doc["results"]:
        assert set(res["scores"]) == {"visual", "audio", "text"} and isinstance(res["scores"]["audio"], float)
    # as any video: the similar document, with ads allowed
    with open(upload, "rb") as f:
        sim = client.post("/api/match", params={"mode": "similar", "k": 7}, files={"file": ("Lemon Ad.mp4", f)}).json()
    assert len(sim["results"]) == 7 and sim["results"][0]["scores"]["text"] is None  # an upload has no plot


def test_uploading_a_catalogue_video_excludes_itself(client, served_workspace):
    ws, _ = served_workspace
    item = ws.catalog.get(ids(ws)["Scarlet Run"])
    data = ws.media_file(item).read_bytes()
    doc = client.post("/api/match", params={"mode": "similar"}, files={"file": ("x.mp4", data)}).json()
    assert doc["query"]["id"] == item.id and item.id not in [r["id"] for r in doc["results"]]


def test_match_errors(served_workspace, tmp_path):
    ws, upload = served_workspace
    with TestClient(create_app(ws, ServeConfig(max_upload_bytes=upload.stat().st_size - 1))) as c:
        r = c.post("/api/match", files={"file": ("Lemon Ad.mp4", upload.read_bytes(), "video/mp4")})
        assert r.status_code == 413
    png = tmp_path / "still.png"
    from PIL import Image

    Image.new("RGB", (64, 64), (200, 30, 30)).save(png)
    with TestClient(create_app(ws)) as c:
        r = c.post("/api/match", files={"file": ("still.mp4", png.read_bytes(), "video/mp4")})
        assert r.status_code == 415 and "still" in r.json()["error"]
        truncated = upload.read_bytes()[:600]
        r = c.post("/api/match", files={"file": ("cut.mp4", truncated, "video/mp4")})
        assert r.status_code in (415, 422) and r.json()["error"]
        assert c.post("/api/match", params={"k": 0}, files={"file": ("a.mp4", upload.read_bytes())}).status_code == 422


def test_match_time_limit_and_busy(served_workspace):
    """A match slower than the limit answers 504 (the work goes on in its thread and frees its slot);
    all upload slots busy is 503 for uploads only: reads still answer."""
    import threading

    ws, upload = served_workspace
    app = create_app(ws, ServeConfig(query_timeout=0.2, max_concurrent_uploads=1))
    state = app.state.reelmatch
    busy = threading.Event()
    with TestClient(app) as c:
        state.upload_pool.submit(busy.wait, 30)  # the upload executor is busy: the match waits past its limit
        try:
            r = c.post("/api/match", files={"file": ("Lemon Ad.mp4", upload.read_bytes())})
            assert r.status_code == 504 and "0.2 s" in r.json()["error"]
            # its job still holds the only upload slot
            r = c.post("/api/match", files={"file": ("Lemon Ad.mp4", upload.read_bytes())})
            assert r.status_code == 503 and r.json()["error"]
            item = ws.catalog.items()[0]
            assert c.get(f"/api/items/{item.id}/similar").status_code == 200  # reads never wait for uploads
            assert c.get("/api/health").status_code == 200
        finally:
            busy.set()
        done = threading.Event()

        def slot_free():
            while not done.is_set():
                if state.uploads.acquire(timeout=0.1):
                    state.uploads.release()
                    done.set()

        t = threading.Thread(target=slot_free)
        t.start()
        t.join(30)
        assert done.is_set()


def test_index_not_built_is_503(ws, media_dir):
    from reelmatch.ingest import add_paths

    add_paths(ws, [media_dir / "red box.mp4"])
    item = ws.catalog.items()[0]
    with TestClient(create_app(ws)) as c:
        r = c.get(f"/api/items/{item.id}/similar")
        assert r.status_code in (404, 503) and r.json()["error"]
        assert "Traceback" not in r.text


def test_similar_before_routing_answers_as_the_route_does(served_workspace, monkeypatch):
    """The plain similar is answered before routing (fastpath) with the route's bytes and headers;
    every other form goes to the app: its validation, its 404 and its explain."""
    from reelmatch.serve import fastpath

    ws, _ = served_workspace
    t = ids(ws)
    answered = []
    real_init = fastpath.InlineSimilar.__init__

    def counting_init(self, app, *, answer, max_k):
        def counted(request, *plain):
            response = answer(request, *plain)
            if response is not None:
                answered.append(plain)
            return response

        real_init(self, app, answer=counted, max_k=max_k)

    monkeypatch.setattr(fastpath.InlineSimilar, "__init__", counting_init)
    with TestClient(create_app(ws)) as fast, TestClient(create_app(ws, ServeConfig(inline_route=False))) as routed:
        queries = [({"k": 4}, {}), ({"k": 10, "genre": "Drama"}, {}), ({"kind": "ad"}, {}), ({}, {}),
                   ({"k": 3}, {"accept-encoding": "gzip"}), ({"k": 10, "genre": ""}, {})]
        for params, headers in queries * 2:  # the second pass is answered from the warm caches
            for title in ("Crimson Chase", "Fizzy Soda"):
                a = fast.get(f"/api/items/{t[title]}/similar", params=params, headers=headers)
                b = routed.get(f"/api/items/{t[title]}/similar", params=params, headers=headers)
                assert a.status_code == b.status_code == 200
                assert a.content == b.content
                drop = {"content-length"} if headers else set()
                assert {k: v for k, v in a.headers.items() if k not in drop} == \
                       {k: v for k, v in b.headers.items() if k not in drop}
        assert len(answered) >= len(queries) * 2  # the warm pass at least went before routing
        tag = fast.get(f"/api/items/{t['Crimson Chase']}/similar", params={"k": 4}).headers["etag"]
        assert fast.get(f"/api/items/{t['Crimson Chase']}/similar", params={"k": 4},
                        headers={"if-none-match": tag}).status_code == 304
        answered.clear()
        base = f"/api/items/{t['Crimson Chase']}/similar"
        for params, status in [({"k": 0}, 422), ({"k": "x"}, 422), ({"k": 101}, 422), ({"kind": "film"}, 422),
                               ({"kind": ""}, 422), ({"genre": "x" * 101}, 422)]:
            a, b = fast.get(base, params=params), routed.get(base, params=params)
            assert a.status_code == b.status_code == status and a.json() == b.json()
        assert fast.get("/api/items/nope/similar").json() == routed.get("/api/items/nope/similar").json()
        assert fast.get("/api/items/nope/similar").status_code == 404
        for extra in ("k=2&k=3", "explain=true", "exclude_genre=Drama", "k=2&extra=1"):
            a, b = fast.get(f"{base}?{extra}"), routed.get(f"{base}?{extra}")
            assert a.status_code == b.status_code and a.content == b.content
        assert answered == []  # none of these was answered before routing
