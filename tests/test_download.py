"""Download against a real HTTP server on 127.0.0.1 (no network, real yt-dlp, real decoding)."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reelmatch.catalog import Item, item_id_for
from reelmatch.download import DownloadConfig, download_all, parse_rate
from reelmatch.ingest import import_manifest, probe_video, sha256_file

FAST = DownloadConfig(retries=1, backoff=0.01, http_retries=1, socket_timeout=5, min_interval=0.0)


class _Files(BaseHTTPRequestHandler):
    """Serves ``server.files``; paths in ``server.drop_always`` send half the body and hang up;
    paths in ``server.drop_once`` do that on their first full download only (then honour ranges)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_HEAD(self):
        self._serve(head=True)

    def do_GET(self):
        self._serve(head=False)

    def _serve(self, head: bool):
        srv = self.server
        name = self.path.lstrip("/").split("?")[0]
        srv.requests.append((self.command, name, self.headers.get("Range")))
        body = srv.files.get(name)
        if body is None:
            data = b"not here"
            self.send_response(404)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if not head:
                self.wfile.write(data)
            return
        rng = self.headers.get("Range")
        start = 0
        m = re.match(r"bytes=(\d+)-", rng or "")
        ctype = "video/webm" if name.endswith(".webm") else "video/mp4"
        drop = False
        if not head and name in srv.drop_always:
            drop = True
        elif not head and name in srv.drop_once and not m and self.headers.get("Range") is None:
            if srv.dropped.get(name, 0) == 0 and srv.gets.get(name, 0) >= srv.sniff_gets:
                drop = True
                srv.dropped[name] = 1
        srv.gets[name] = srv.gets.get(name, 0) + (0 if head else 1)
        if m and name not in srv.drop_always:
            start = int(m.group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body) - start))
        if drop:
            self.send_header("Connection", "close")
        self.end_headers()
        if head:
            return
        if drop:
            self.wfile.write(body[start : start + (len(body) - start) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(body[start:])


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # clients hanging up mid-body are expected here
        pass


@pytest.fixture
def server(tmp_path_factory):
    from reelmatch.samples.media import moving_box_frames, write_video

    d = tmp_path_factory.mktemp("served")
    files = {
        "good.mp4": write_video(d / "good.mp4", frames=moving_box_frames(64, 64, color=(200, 30, 30))).read_bytes(),
        "good2.webm": write_video(d / "good2.webm", frames=moving_box_frames(64, 64, color=(30, 30, 200))).read_bytes(),
        "flaky.mp4": write_video(d / "flaky.mp4", seconds=3, frames=moving_box_frames(64, 64, color=(30, 200, 30))).read_bytes(),
        "drops.mp4": write_video(d / "drops.mp4", frames=moving_box_frames(64, 64, color=(200, 200, 30))).read_bytes(),
        "garbage.mp4": b"this is not a video at all\n" * 200,
    }
    srv = _QuietServer(("127.0.0.1", 0), _Files)
    srv.files = files
    srv.drop_always = {"drops.mp4"}
    srv.drop_once = {"flaky.mp4"}
    srv.dropped, srv.gets, srv.requests = {}, {}, []
    srv.sniff_gets = 1  # yt-dlp's generic extractor first GETs the URL to sniff it
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    srv.url = lambda name: f"http://127.0.0.1:{srv.server_address[1]}/{name}"
    yield srv
    srv.shutdown()
    srv.server_close()


def _add_urls(ws, srv, names):
    ids = {}
    for name in names:
        url = srv.url(name)
        iid = item_id_for("url", url)
        ws.catalog.upsert(Item(id=iid, title=name, genres=("Test",), source=url))
        ids[name] = iid
    return ids


def test_download_good_bad_resume_and_retry(ws, server):
    ids = _add_urls(ws, server, ["good.mp4", "good2.webm", "flaky.mp4", "missing.mp4", "drops.mp4", "garbage.mp4"])
    seen = []
    rep = download_all(ws, FAST, workers=3, progress=lambda item, res: seen.append((item.id, res.ok)))
    assert len(seen) == 6
    assert (rep.done, rep.failed) == (3, 3), rep.to_dict()
    cat = ws.catalog
    for name in ("good.mp4", "good2.webm", "flaky.mp4"):
        st = cat.stage_of(ids[name], "download")
        assert st["status"] == "done", (name, st)
        item = cat.get(ids[name])
        f = ws.media_file(item)
        assert f.is_file() and not f.name.endswith(".part") and ws.owns(f)
        assert f.read_bytes() == server.files[name]  # complete, byte for byte
        assert item.sha256 == sha256_file(f)
        assert item.duration == pytest.approx(probe_video(f).duration)
        assert item.duration > 1.5
    # the flaky one was resumed with a range request after the drop
    assert any(n == "flaky.mp4" and r for _, n, r in server.requests), server.requests
    reasons = {name: cat.stage_of(ids[name], "download") for name in ("missing.mp4", "drops.mp4", "garbage.mp4")}
    for name, st in reasons.items():
        assert st["status"] == "failed", name
        assert "\n" not in st["error"] and st["error"]
    assert "404" in reasons["missing.mp4"]["error"]
    assert "decode" in reasons["garbage.mp4"]["error"]
    assert reasons["drops.mp4"]["error"]
    # nothing half-done counts: no final file for the failures
    for name in ("missing.mp4", "drops.mp4", "garbage.mp4"):
        assert cat.get(ids[name]).media_path is None
        assert not [p for p in ws.dir("media").glob(f"{ids[name]}.*") if not p.name.endswith(".part")]
    doc = ws.status()
    assert doc["stages"]["download"] == {"done": 3, "failed": 3, "pending": 0}
    assert {f["id"] for f in doc["failures"]} == {ids["missing.mp4"], ids["drops.mp4"], ids["garbage.mp4"]}

    # a rerun skips what is done and does not retry failures
    n_requests = len(server.requests)
    rep2 = download_all(ws, FAST, workers=2)
    assert (rep2.done, rep2.failed) == (0, 0)
    assert len(server.requests) == n_requests

    # --retry-failed tries the failed ones again; fix one on the server first
    server.files["missing.mp4"] = server.files["good.mp4"]
    rep3 = download_all(ws, FAST, workers=2, retry_failed=True)
    assert (rep3.done, rep3.failed) == (1, 2)
    assert cat.stage_of(ids["missing.mp4"], "download")["status"] == "done"
    assert cat.stage_of(ids["missing.mp4"], "download")["attempts"] == 2


def test_partial_file_is_resumed_not_trusted(ws, server):
    ids = _add_urls(ws, server, ["good.mp4"])
    body = server.files["good.mp4"]
    part = ws.dir("media") / f"{ids['good.mp4']}.mp4.part"
    part.write_bytes(body[: len(body) // 3])  # left by a killed run
    rep = download_all(ws, FAST, workers=1)
    assert rep.done == 1
    f = ws.media_file(ws.catalog.get(ids["good.mp4"]))
    assert f.read_bytes() == body
    assert not part.exists()
    ranges = [r for _, n, r in server.requests if n == "good.mp4" and r]
    assert ranges and ranges[0].startswith(f"bytes={len(body) // 3}-")


def test_local_media_given_with_url_is_not_downloaded(ws, server, media_dir, tmp_path):
    man = tmp_path / "m.jsonl"
    man.write_text(json.dumps({"title": "Red", "url": server.url("good.mp4"), "path": str(media_dir / "red box.mp4")}) + "\n")
    assert import_manifest(ws, man).inserted == 1
    rep = download_all(ws, FAST, workers=1)
    assert (rep.done, rep.already) == (0, 1)
    assert server.requests == []
    assert ws.status()["stages"]["download"]["done"] == 1


def test_config_and_rate_parsing():
    assert parse_rate("2M") == 2 * 1024 * 1024
    assert parse_rate("500K") == 500 * 1024
    assert parse_rate("1.5m") == int(1.5 * 1024 * 1024)
    assert parse_rate(None) is None and parse_rate("") is None
    with pytest.raises(ValueError):
        parse_rate("fast")
    c = DownloadConfig()
    assert "height<=?720" in c.format_spec(can_merge=False)
    assert "+" not in c.format_spec(can_merge=False)  # no merging without ffmpeg
    assert "+ba" in c.format_spec(can_merge=True)
    # speed settings do not change what is downloaded; the resolution does
    assert DownloadConfig(rate_limit=1000, retries=9).fingerprint() == c.fingerprint()
    assert DownloadConfig(max_height=480).fingerprint() != c.fingerprint()


def test_cli_download(ws, server, cli):
    _add_urls(ws, server, ["good.mp4", "missing.mp4"])
    r = cli("-w", ws.root, "download", "--workers", "2", "--max-height", "480", "--rate-limit", "50M", "--retries", "0")
    assert r.returncode == 1, r.stderr  # one failure
    assert "1 downloaded, 1 failed" in r.stderr
    assert "404" in r.stderr
    r = cli("-w", ws.root, "status", "--json")
    doc = json.loads(r.stdout)
    assert doc["stages"]["download"] == {"done": 1, "failed": 1, "pending": 0}


def test_finished_file_not_yet_recorded_is_verified_not_refetched(ws, server):
    """A run killed after the file was complete but before the catalogue said so."""
    ids = _add_urls(ws, server, ["good.mp4"])
    assert download_all(ws, FAST, workers=1).done == 1
    iid = ids["good.mp4"]
    ws.catalog.clear_stage("download", iid)
    ws.catalog.update_fields(iid, media_path=None, sha256=None, duration=None)
    rep = download_all(ws, FAST, workers=1)
    assert rep.done == 1
    item = ws.catalog.get(iid)
    assert ws.media_file(item).read_bytes() == server.files["good.mp4"]
    assert len(list(ws.dir("media").glob(f"{iid}*"))) == 1  # no second copy, no leftovers


def test_rate_limit_slows_the_transfer(ws, server):
    import time

    big = server.files["flaky.mp4"]
    server.files["big.mp4"] = big
    _add_urls(ws, server, ["big.mp4"])
    rate = 16 * 1024
    t0 = time.monotonic()
    rep = download_all(ws, DownloadConfig(rate_limit=rate, retries=0, min_interval=0.0), workers=1)
    elapsed = time.monotonic() - t0
    assert rep.done == 1
    assert elapsed >= 0.6 * len(big) / rate, (elapsed, len(big))


def test_new_resolution_fetches_again(ws, server):
    ids = _add_urls(ws, server, ["good.mp4"])
    iid = ids["good.mp4"]
    assert download_all(ws, FAST, workers=1).done == 1
    ws.catalog.mark_done(iid, "extract", "clipfp")
    small = DownloadConfig(max_height=480, retries=0, backoff=0.01, http_retries=0, min_interval=0.0)
    server.files["good.mp4"] = server.files["good2.webm"][:100]  # the site now serves junk
    rep = download_all(ws, small, workers=1)
    assert rep.failed == 1
    item = ws.catalog.get(iid)
    assert item.media_path is None and item.sha256 is None  # the old file was replaced, not mixed
    assert ws.catalog.stage_of(iid, "extract") is None
    server.files["good.mp4"] = server.files["flaky.mp4"]
    rep = download_all(ws, small, workers=1, retry_failed=True)
    assert rep.done == 1
    assert ws.media_file(ws.catalog.get(iid)).read_bytes() == server.files["flaky.mp4"]
