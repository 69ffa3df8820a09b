"""The server under concurrency: no global lock, uploads on their own executor,
caching headers and gzip, the batch endpoint, N processes, an index rebuilt under load.

Real uvicorn servers on 127.0.0.1 (threads and ``reelmatch serve --workers 2``),
real SQLite, real FAISS, real generated videos.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from reelmatch.serve.app import create_app  # noqa: E402
from reelmatch.serve.config import ServeConfig  # noqa: E402
from reelmatch.serve.server import ServerThread  # noqa: E402
from served import wait_for_url  # noqa: E402


def titles(ws) -> dict[str, str]:
    return {it.title: it.id for it in ws.catalog.items()}


def test_etag_304_and_gzip(served_workspace):
    ws, _ = served_workspace
    t = titles(ws)
    with TestClient(create_app(ws)) as c:
        item = c.get(f"/api/items/{t['Scarlet Run']}")
        tag = item.headers["etag"]
        assert item.status_code == 200 and tag.startswith('W/"') and item.headers["cache-control"] == "no-cache"
        again = c.get(f"/api/items/{t['Scarlet Run']}", headers={"If-None-Match": tag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag
        assert c.get(f"/api/items/{t['Scarlet Run']}", headers={"If-None-Match": 'W/"other"'}).status_code == 200

        thumb = c.get(f"/api/items/{t['Scarlet Run']}/thumbnail")
        assert thumb.status_code == 200 and thumb.headers["cache-control"] == "public, max-age=600"
        cached = c.get(f"/api/items/{t['Scarlet Run']}/thumbnail", headers={"If-None-Match": thumb.headers["etag"]})
        assert cached.status_code == 304 and cached.content == b""
        png = c.get(f"/api/items/{t['Scarlet Run']}/thumbnail", params={"format": "png"})
        assert png.headers["etag"] != thumb.headers["etag"]

        # JSON is gzipped for clients that accept it, plain for the others; the document is the same
        zipped = c.get(f"/api/items/{t['Crimson Chase']}/similar", params={"k": 6}, headers={"Accept-Encoding": "gzip"})
        plain = c.get(f"/api/items/{t['Crimson Chase']}/similar", params={"k": 6}, headers={"Accept-Encoding": "identity"})
        assert zipped.headers["content-encoding"] == "gzip" and "content-encoding" not in plain.headers
        assert zipped.headers["vary"] == "Accept-Encoding"
        assert int(zipped.headers["content-length"]) < len(plain.content)
        assert zipped.json() == plain.json() == ws.similar(t["Crimson Chase"], k=6).to_dict()
        # errors stay one-line JSON
        r = c.get("/api/items/nope", headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 404 and r.json() == {"error": "no item with id 'nope'", "status": 404}


def test_item_cache_follows_catalogue_commits(served_workspace):
    """A commit by anyone (another process's connection here) is seen by the next request; the
    server's own connections are read-only."""
    import sqlite3

    ws, _ = served_workspace
    item_id = titles(ws)["Blue Harbour"]
    app = create_app(ws)
    with TestClient(app) as c:
        first = c.get(f"/api/items/{item_id}")
        assert first.json()["year"] is None
        assert c.get("/api/items", params={"q": "redux"}).json()["items"] == []  # a page, now cached
        ws.catalog.update_fields(item_id, year=1999, title="Blue Harbour Redux")
        try:
            second = c.get(f"/api/items/{item_id}", headers={"If-None-Match": first.headers["etag"]})
            assert second.status_code == 200 and second.json()["year"] == 1999
            assert [i["id"] for i in c.get("/api/items", params={"q": "redux"}).json()["items"]] == [item_id]
        finally:
            ws.catalog.update_fields(item_id, year=None, title="Blue Harbour")
        with pytest.raises(sqlite3.OperationalError):
            app.state.reelmatch.catalog.update_fields(item_id, year=1)
        assert ws.catalog.get(item_id).year is None


def test_batch_similar(served_workspace):
    ws, _ = served_workspace
    t = titles(ws)
    ids = [t["Crimson Chase"], t["Azure Tides"], "no-such-item", t["Fizzy Soda"]]
    with TestClient(create_app(ws, ServeConfig(max_batch=4))) as c:
        doc = c.post("/api/similar", json={"ids": ids, "k": 3, "kind": "trailer"}).json()
        assert len(doc["results"]) == 4
        for item_id, res in zip(ids, doc["results"]):
            if item_id == "no-such-item":
                assert res["status"] == 404 and res["query"] == {"id": item_id} and "no-such-item" in res["error"]
            else:
                assert res == c.get(f"/api/items/{item_id}/similar", params={"k": 3, "kind": "trailer"}).json()
        for body in ({"ids": []}, {"ids": ids + ["x"]}, {"ids": ids, "k": 0}, {"ids": ids, "k": 101},
                     {"ids": "Crimson"}, {"ids": ids, "kind": "documentary"}):
            r = c.post("/api/similar", json=body)
            assert r.status_code == 422 and r.json()["error"], body


def test_reads_answer_while_uploads_are_busy(served_workspace):
    """Both upload slots taken (their executor held): reads from 8 threads all answer, a third
    upload is 503, and once released the uploads finish with their documents."""
    ws, upload = served_workspace
    t = titles(ws)
    app = create_app(ws, ServeConfig(max_concurrent_uploads=2))
    state = app.state.reelmatch
    hold = threading.Event()
    for _ in range(2):
        state.upload_pool.submit(hold.wait, 60)  # the upload executor is busy with two jobs
    data = upload.read_bytes()
    with ServerThread(app) as url, ThreadPoolExecutor(10) as pool:
        uploads = [pool.submit(httpx.post, url + "/api/match", files={"file": ("Lemon Ad.mp4", data)}, timeout=120)
                   for _ in range(2)]
        time.sleep(0.3)  # both are in, waiting for the executor
        try:
            third = httpx.post(url + "/api/match", files={"file": ("Lemon Ad.mp4", data)}, timeout=30)
            assert third.status_code == 503 and third.json()["error"]
            urls = [f"/api/items/{i}/similar?k=4" for i in t.values()] + ["/api/health", "/api/items?q=a",
                                                                          f"/api/items/{t['Sunny Side']}"]

            def reads(n: int) -> list[int]:
                with httpx.Client(base_url=url, timeout=30) as cl:
                    return [cl.get(urls[(n + j) % len(urls)]).status_code for j in range(30)]

            statuses = [s for f in [pool.submit(reads, n) for n in range(8)] for s in f.result(60)]
            assert statuses == [200] * 240
            assert not any(u.done() for u in uploads)  # the reads did not wait for them
        finally:
            hold.set()
        for u in uploads:
            r = u.result(120)
            assert r.status_code == 200, r.text
            assert r.json()["query"]["path"] == "Lemon Ad.mp4" and len(r.json()["results"]) == 6


def test_guarantees_hold_under_concurrency(served_workspace, tmp_path):
    """Many threads mixing ranges, traversal attempts, bad parameters and queries: no 5xx,
    no traceback, no byte of a file outside what the catalogue lists."""
    ws, _ = served_workspace
    t = titles(ws)
    some = t["Golden Laughs"]
    media = ws.media_file(ws.catalog.get(some)).read_bytes()
    cases = [
        (f"/api/items/{some}/video", {"Range": "bytes=10-99"}, {206}),
        (f"/api/items/{some}/video", {"Range": f"bytes={len(media) + 9}-"}, {416}),
        ("/static/../pyproject.toml", {}, {404}),
        ("/api/items/..%2f..%2fcatalog.db/video", {}, {404}),
        ("/api/items/%2Fetc%2Fpasswd/video", {}, {404}),
        (f"/api/items/{some}/similar?k=0", {}, {422}),
        (f"/api/items/{some}/similar?k=5&genre=Comedy", {}, {200}),
        (f"/api/items/{some}/contact-sheet", {}, {200}),
        ("/api/items?limit=100000", {}, {422}),
        ("/api/health", {}, {200}),
    ]
    with ServerThread(create_app(ws)) as url:

        def run(n: int) -> list[str]:
            problems = []
            with httpx.Client(base_url=url, timeout=30) as cl:
                for j in range(40):
                    path, headers, ok = cases[(n + j) % len(cases)]
                    r = cl.get(path, headers=headers)
                    if r.status_code not in ok or b"Traceback" in r.content or b"root:" in r.content:
                        problems.append(f"{path}: {r.status_code} {r.content[:100]!r}")
                    if r.status_code == 206 and r.content != media[10:100]:
                        problems.append(f"{path}: wrong range bytes")
                    if r.status_code == 416 and r.headers["content-range"] != f"bytes */{len(media)}":
                        problems.append(f"{path}: 416 without Content-Range")
                    elif r.status_code >= 400 and r.status_code != 416 and not r.json().get("error"):
                        problems.append(f"{path}: error without a JSON message")
            return problems

        with ThreadPoolExecutor(8) as pool:
            problems = [p for f in [pool.submit(run, n) for n in range(8)] for p in f.result(120)]
    assert problems == []


@pytest.mark.slow
def test_two_processes_pick_up_an_index_rebuilt_under_load(ws, tmp_path):
    """``serve --workers 2`` under load from 6 threads while the embeddings are rewritten and
    re-indexed three times: every answer is 200 and is the answer of one whole generation
    (never a mix), and the new generation is served soon after it is written."""
    from reelmatch.embed.config import EmbedConfig
    from reelmatch.embed.vectors import embeddings_path, load_embeddings, save_embeddings
    from reelmatch.index import run_index
    from reelmatch.index.synthetic import ClusteredDataset, synthetic_catalogue
    from reelmatch.workspace import Workspace

    ids = synthetic_catalogue(ws, 400, d=32, seed=0)
    run_index(ws, neighbours=10)
    probe = ids[:12]

    def answers() -> dict[str, list[str]]:
        fresh = Workspace(ws.root)
        try:
            return {i: [r["id"] for r in fresh.similar(i, k=5).to_dict()["results"]] for i in probe}
        finally:
            fresh.close()

    generations = [answers()]
    log = tmp_path / "serve.log"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "reelmatch", "-w", str(ws.root), "serve", "--port", "0",
                                 "--workers", "2"], stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    stop = threading.Event()
    threads: list[threading.Thread] = []
    seen: list[tuple[str, int, list[str] | None]] = []
    try:
        url = wait_for_url(log, proc)
        deadline = time.monotonic() + 60
        ready = False
        while not ready and time.monotonic() < deadline:  # the worker processes listen a moment after the log line
            try:
                ready = httpx.get(url + "/api/health").json()["embeddings"] is not None
            except httpx.TransportError:
                time.sleep(0.1)
        assert ready, log.read_text()

        def hammer(n: int) -> None:
            with httpx.Client(base_url=url, timeout=30) as cl:
                j = n
                while not stop.is_set():
                    item = probe[j % len(probe)]
                    j += 1
                    r = cl.get(f"/api/items/{item}/similar", params={"k": 5})
                    got = [x["id"] for x in r.json()["results"]] if r.status_code == 200 else None
                    seen.append((item, r.status_code, got))

        threads += [threading.Thread(target=hammer, args=(n,)) for n in range(6)]
        for th in threads:
            th.start()
        emb = load_embeddings(ws)
        for seed in (1, 2, 3):
            time.sleep(1.0)
            other = ClusteredDataset(len(ids), nq=1, d=32, seed=seed).base
            emb.vectors = other
            save_embeddings(emb, embeddings_path(ws), EmbedConfig(use_model=False))
            run_index(ws, neighbours=10)
            generations.append(answers())
        # the last generation is served by both processes within a few seconds
        final = generations[-1]
        deadline = time.monotonic() + 20
        streak = 0
        while streak < 40 and time.monotonic() < deadline:  # a new connection each: both processes answer
            item = probe[streak % len(probe)]
            r = httpx.get(f"{url}/api/items/{item}/similar", params={"k": 5}, headers={"Connection": "close"})
            streak = streak + 1 if [x["id"] for x in r.json()["results"]] == final[item] else 0
        assert streak >= 40, "the rebuilt index was not picked up"
    finally:
        stop.set()
        for th in threads:
            th.join(30)
        os.killpg(proc.pid, signal.SIGINT)  # the server and its two workers
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert len(seen) > 100
    assert {s for _, s, _ in seen} == {200}
    for item, _, got in seen:
        assert any(got == g[item] for g in generations), (item, got)
    assert len({tuple(g[probe[0]]) for g in generations}) > 1  # the generations do differ


def test_the_server_runs_on_the_standard_event_loop_unless_asked():
    """The default loop is asyncio's (bounded tail under overload, docs/serve.md); uvloop on request."""
    import asyncio

    import httpx
    import pytest
    from fastapi import FastAPI

    from reelmatch.errors import InputError
    from reelmatch.serve.server import ServerThread, check_loop

    app = FastAPI()

    @app.get("/loop")
    async def which():
        return {"module": type(asyncio.get_running_loop()).__module__}

    with ServerThread(app) as url:
        assert httpx.get(url + "/loop").json()["module"].startswith("asyncio")
    with ServerThread(app, loop="uvloop") as url:
        assert httpx.get(url + "/loop").json()["module"].startswith("uvloop")
    with pytest.raises(InputError, match="unknown event loop 'libev'"):
        check_loop("libev")


def test_worker_sockets_share_one_port_and_split_connections_evenly():
    """``serve --workers N`` listens on N ``SO_REUSEPORT`` sockets of one port before any worker runs:
    early clients wait in a backlog, and the kernel spreads connections over the sockets (uvicorn's
    one shared socket let one of two workers take 184 of 256 connections)."""
    import socket as so

    from reelmatch.serve.workers import listening_sockets, reuseport_available

    if not reuseport_available():
        pytest.skip("no SO_REUSEPORT on this platform")  # pragma: no cover - Linux has it
    socks = listening_sockets("127.0.0.1", 0, 2, 256)
    clients = []
    try:
        port = socks[0].getsockname()[1]
        assert port > 0 and socks[1].getsockname()[1] == port
        for _ in range(64):  # nobody accepts yet: every connect still succeeds (queued)
            clients.append(so.create_connection(("127.0.0.1", port), timeout=5))
        counts = []
        for s in socks:
            s.setblocking(False)
            n = 0
            while True:
                try:
                    conn, _ = s.accept()
                except BlockingIOError:
                    break
                conn.close()
                n += 1
            counts.append(n)
        assert sum(counts) == 64 and min(counts) >= 16, counts  # binomial(64, 1/2): below 16 has p < 1e-4
    finally:
        for c in clients:
            c.close()
        for s in socks:
            s.close()


@pytest.mark.slow
def test_a_killed_worker_is_started_again_on_its_socket(ws, tmp_path):
    """SIGKILL one of ``serve --workers 2``'s processes: the supervisor starts another on the
    same socket, so every new connection is answered again (none lands on a dead socket)."""
    from reelmatch.index import run_index
    from reelmatch.index.synthetic import synthetic_catalogue

    synthetic_catalogue(ws, 50, d=16, seed=0)
    run_index(ws, neighbours=5)
    log = tmp_path / "serve.log"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "reelmatch", "-w", str(ws.root), "serve", "--port", "0",
                                 "--workers", "2"], stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    try:
        url = wait_for_url(log, proc)

        def workers() -> set[int]:
            return {int(p) for p in re.findall(r"Started server process \[(\d+)\]", log.read_text())}

        deadline = time.monotonic() + 60
        while len(workers()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        first = workers()
        assert len(first) == 2, log.read_text()
        victim = sorted(first)[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while len(workers() - first) < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert workers() - first, log.read_text()
        ok = 0
        deadline = time.monotonic() + 30
        while ok < 40 and time.monotonic() < deadline:  # new connections: both sockets must answer
            try:
                r = httpx.get(url + "/api/health", headers={"Connection": "close"}, timeout=5)
                ok = ok + 1 if r.status_code == 200 and r.json().get("embeddings") else 0
            except httpx.TransportError:
                ok = 0
                time.sleep(0.1)
        assert ok >= 40, log.read_text()
        assert "exited with -9; starting it again" in log.read_text()
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, log.read_text()
