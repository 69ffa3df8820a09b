"""Crawler against a local site on 127.0.0.1 shaped like IMDb title pages.

The site: title pages with schema.org Movie JSON-LD (a direct trailer, a
trailer only on a linked video page, none at all), pages without JSON-LD and
with malformed JSON-LD, a 404, a 429 that succeeds on retry, a page forbidden
by robots.txt, and the trailer media files themselves.
"""

from __future__ import annotations

import html
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from reelmatch.crawl.config import PROJECT_URL, CrawlConfig
from reelmatch.crawl.jsonld import PageProblem, parse_title_page, parse_video_page
from reelmatch.crawl.manifest import read_manifest_ids

GOOD = {"tt0000001", "tt0000002", "tt0000006", "tt0000010"}
PROBLEMS = {"tt0000003", "tt0000004", "tt0000005", "tt0000007", "tt0000008"}
ALL_IDS = sorted(GOOD | PROBLEMS)

#: tiny delays so the whole crawl takes a few seconds
FAST = CrawlConfig(
    download_delay=0.0, autothrottle_start_delay=0.01, autothrottle_max_delay=0.2,
    concurrency_per_domain=4, retry_times=2, backoff_base=0.05, backoff_max=0.3, download_timeout=10,
)  # fmt: skip


def _ld(obj) -> str:
    return f'<script type="application/ld+json">{json.dumps(obj)}</script>'


def title_page(base: str, tid: str, *, ld: str | None, body: str = "") -> str:
    return (
        f'<!DOCTYPE html><html lang="en-US"><head><meta charset="utf-8"><title>{tid} - IMDb</title>'
        f'<meta property="og:type" content="video.movie">{ld or ""}</head>'
        f'<body><div id="__next"><main><section data-testid="hero-parent"><h1>{tid}</h1>{body}'
        f'<a href="/title/{tid}/reviews/?ref_=tt_ov_rt">User reviews</a>'
        "</section></main></div></body></html>"
    )


def movie(base: str, tid: str, name: str, genres, date: str | None, trailer=None) -> dict:
    d = {
        "@context": "https://schema.org", "@type": "Movie", "url": f"{base}/title/{tid}/", "name": name,
        "image": f"{base}/images/{tid}.jpg", "description": f"The plot of {html.unescape(name)}.",
        "genre": genres, "contentRating": "PG-13",
        "aggregateRating": {"@type": "AggregateRating", "ratingCount": 12, "ratingValue": 7.1},
    }  # fmt: skip
    if date:
        d["datePublished"] = date
    if trailer is not None:
        d["trailer"] = trailer
    return d


class Site:
    """The pages, and a record of what was requested (path -> hits, user agents)."""

    def __init__(self, root: Path):
        self.root = root
        self.hits: Counter = Counter()
        self.agents: set[str] = set()
        self.routes: dict[str, tuple[int, str, bytes, dict]] = {}
        self.once_429: set[str] = set()
        self.slow: dict[str, float] = {}  # path -> seconds before answering
        self.lock = threading.Lock()

    def build(self, base: str, media: dict[str, Path]) -> None:
        r = self.routes

        def page(path, text, status=200):
            r[path] = (status, "text/html; charset=utf-8", text.encode(), {})

        r["/robots.txt"] = (200, "text/plain", b"User-agent: *\nDisallow: /title/tt0000007/\nDisallow: /private/\n", {})
        for name, p in media.items():
            r[f"/media/{name}"] = (200, "video/mp4" if name.endswith(".mp4") else "video/webm", p.read_bytes(), {})
        # 1: trailer with a direct contentUrl, HTML entities in the name as IMDb writes them
        page("/title/tt0000001/", title_page(base, "tt0000001", ld=_ld(movie(
            base, "tt0000001", "The Red Box&apos;s Return", ["Drama", "Thriller"], "1994-10-14",
            {"@type": "VideoObject", "name": "Official Trailer", "contentUrl": f"{base}/media/red.mp4",
             "embedUrl": f"{base}/video/imdb/vi0000001", "duration": "PT2S"}))))  # fmt: skip
        # 2: the trailer object points to its video page; the video page has the contentUrl
        page("/title/tt0000002/", title_page(base, "tt0000002", ld=_ld(movie(
            base, "tt0000002", "Blue Skies", "Comedy", "2001",
            {"@type": "VideoObject", "name": "Trailer", "url": f"{base}/video/vi0000002/"}))))  # fmt: skip
        page("/video/vi0000002/", "<html><head>" + _ld({
            "@context": "https://schema.org", "@type": "VideoObject", "name": "Blue Skies trailer",
            "contentUrl": f"{base}/media/blue.webm", "uploadDate": "2001-01-01"}) + "</head><body></body></html>")  # fmt: skip
        # 10: no trailer in JSON-LD, only a link to the video page, which has a <video> tag
        page("/title/tt0000010/", title_page(base, "tt0000010", ld=_ld(movie(
            base, "tt0000010", "Green Fields", ["Drama", "Romance"], "2010-05-01")),
            body='<a href="/video/vi0000010/?ref_=tt_ov_vi" aria-label="Trailer">Play trailer 0:02</a>'))  # fmt: skip
        page("/video/vi0000010/", '<html><body><video controls><source src="/media/green.mp4" type="video/mp4"></video></body></html>')
        # 11: the trailer is on another site: used as is (for yt-dlp), not crawled
        page("/title/tt0000011/", title_page(base, "tt0000011", ld=_ld(movie(
            base, "tt0000011", "Elsewhere", ["Documentary"], "2019",
            {"@type": "VideoObject", "url": "https://www.youtube.com/watch?v=aaaaaaaaaaa"}))))  # fmt: skip
        # 3: no JSON-LD; 4: malformed JSON-LD; 8: no trailer anywhere
        page("/title/tt0000003/", title_page(base, "tt0000003", ld=None))
        page("/title/tt0000004/", title_page(base, "tt0000004", ld='<script type="application/ld+json">{"@type": "Movie", "name": "Broken",</script>'))
        page("/title/tt0000008/", title_page(base, "tt0000008", ld=_ld(movie(base, "tt0000008", "No Trailer", ["Horror"], "1980"))))
        # 6: 429 once (Retry-After), then the page; 7: forbidden by robots.txt; 5: absent (404)
        page("/title/tt0000006/", title_page(base, "tt0000006", ld=_ld(movie(
            base, "tt0000006", "Busy Server", ["Action"], "2015-03-03",
            {"@type": "VideoObject", "contentUrl": f"{base}/media/red.mp4"}))))  # fmt: skip
        self.once_429.add("/title/tt0000006/")
        # 100-111: plain good titles, each answering slowly (for the interruption test)
        for n in range(100, 112):
            tid = f"tt{n:07d}"
            page(f"/title/{tid}/", title_page(base, tid, ld=_ld(movie(
                base, tid, f"Slow {n}", ["Drama"], "2000", {"@type": "VideoObject", "contentUrl": f"{base}/media/red.mp4"}))))  # fmt: skip
            self.slow[f"/title/{tid}/"] = 0.25
        page("/title/tt0000007/", title_page(base, "tt0000007", ld=_ld(movie(
            base, "tt0000007", "Private", ["Drama"], "1999", {"@type": "VideoObject", "contentUrl": f"{base}/media/red.mp4"}))))  # fmt: skip


def _handler(site: Site):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_HEAD(self):
            self._serve(body=False)

        def do_GET(self):
            self._serve(body=True)

        def _serve(self, body: bool):
            path = self.path.split("?", 1)[0]
            with site.lock:
                site.hits[path] += 1
                site.agents.add(self.headers.get("User-Agent", ""))
                first_429 = path in site.once_429
                site.once_429.discard(path)
                delay = site.slow.get(path, 0.0)
            if delay:
                time.sleep(delay)
            if first_429:
                status, ctype, data, headers = 429, "text/html", b"<html>Too Many Requests</html>", {"Retry-After": "1"}
            else:
                status, ctype, data, headers = site.routes.get(path, (404, "text/html", b"<html>404 Not Found</html>", {}))
            start, end = 0, len(data)
            rng = self.headers.get("Range")
            if status == 200 and rng and rng.startswith("bytes="):
                a, _, b = rng[6:].partition("-")
                start = int(a or 0)
                end = min(int(b) + 1 if b else len(data), len(data))
                status = 206
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(end - start))
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            if body:
                self.wfile.write(data[start:end])

    return H


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # clients closing early are normal (downloads)
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


@pytest.fixture(scope="module")
def site_media(tmp_path_factory) -> dict[str, Path]:
    """The trailers the site serves: 2 s, 64x64, H.264/AAC, VP8/Opus, and silent H.264."""
    from reelmatch.samples.media import moving_box_frames, tone, write_video

    d = tmp_path_factory.mktemp("site")
    media = {"red.mp4": d / "red.mp4", "blue.webm": d / "blue.webm", "green.mp4": d / "green.mp4"}
    write_video(media["red.mp4"], frames=moving_box_frames(64, 64, color=(230, 40, 40)), audio=tone(440))
    write_video(media["blue.webm"], frames=moving_box_frames(64, 64, color=(40, 40, 230)), audio=tone(660))
    write_video(media["green.mp4"], frames=moving_box_frames(64, 64, color=(40, 230, 40)), audio=False)
    return media


@pytest.fixture
def site(site_media):
    """A fresh local site (hit counters at zero) on 127.0.0.1."""
    media = site_media
    s = Site(media["red.mp4"].parent)
    server = _Server(("127.0.0.1", 0), _handler(s))
    base = f"http://127.0.0.1:{server.server_address[1]}"
    s.build(base, media)
    s.base = base
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield s
    server.shutdown()
    server.server_close()


def _rows(path: Path) -> dict[str, dict]:
    rows = [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), f"duplicate rows: {ids}"
    return {r["id"]: r for r in rows}


# ------------------------------------------------------------- pure parsing
def test_parse_title_page_reads_movie_jsonld():
    ld = json.dumps([{"@type": "BreadcrumbList"}, {"@context": "https://schema.org", "@type": "Movie",
        "name": "Schindler&apos;s List", "genre": ["Biography", "Drama", "History"], "datePublished": "1994-02-04",
        "description": "In German-occupied Poland &amp; more.",
        "trailer": {"@type": "VideoObject", "embedUrl": "https://www.imdb.com/video/imdb/vi1158527769",
                    "url": "https://www.imdb.com/video/vi1158527769/"}}])  # fmt: skip
    info = parse_title_page("tt0108052", [ld], [], "https://www.imdb.com/title/tt0108052/")
    assert info.title == "Schindler's List"
    assert info.genres == ("Biography", "Drama", "History")
    assert info.year == 1994 and info.plot == "In German-occupied Poland & more."
    assert info.trailer_url is None and info.video_page == "https://www.imdb.com/video/vi1158527769/"
    row = info.manifest_row("https://example.org/t.mp4")
    assert row == {"id": "tt0108052", "title": "Schindler's List", "kind": "trailer",
                   "genres": ["Biography", "Drama", "History"], "year": 1994,
                   "plot": "In German-occupied Poland & more.", "url": "https://example.org/t.mp4"}  # fmt: skip


@pytest.mark.parametrize(
    "scripts,reason",
    [([], "no JSON-LD"), (['{"@type": "Movie", "name": '], "malformed JSON-LD"),
     (['{"@type": "Person", "name": "X"}'], "no schema.org Movie"), (['{"@type": "Movie"}'], "has no name")],
)  # fmt: skip
def test_parse_title_page_problems(scripts, reason):
    with pytest.raises(PageProblem, match=reason):
        parse_title_page("tt0000001", scripts, [], "https://x.org/title/tt0000001/")


def test_parse_video_page_prefers_content_url_then_video_tag_then_page():
    page = "https://x.org/video/vi1/"
    ld = json.dumps({"@type": "VideoObject", "contentUrl": "/m/a.mp4"})
    assert parse_video_page([ld], ["/m/b.mp4"], page) == "https://x.org/m/a.mp4"
    assert parse_video_page([], ["/m/b.mp4"], page) == "https://x.org/m/b.mp4"
    assert parse_video_page(["{bad"], [], page) == page


def test_read_manifest_ids_repairs_a_cut_last_line(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text('{"id": "tt0000001", "title": "A"}\n{"id": "tt00000')
    assert read_manifest_ids(p, repair=True) == {"tt0000001"}
    assert p.read_text() == '{"id": "tt0000001", "title": "A"}\n'


def test_backoff_delay_honours_retry_after_and_cap():
    from reelmatch.crawl.spider import backoff_delay, retry_after_seconds

    assert [backoff_delay(n, 5, 300) for n in (1, 2, 3)] == [5, 10, 20]
    assert backoff_delay(9, 5, 300) == 300
    assert backoff_delay(1, 5, 300, retry_after_seconds(b"7")) == 7
    assert retry_after_seconds(b"Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


# ------------------------------------------------------------ the real crawl
def test_crawl_local_site(site, tmp_path):
    import dataclasses

    from reelmatch.crawl import crawl_imdb

    out = tmp_path / "manifest.jsonl"
    cfg = dataclasses.replace(FAST, base_url=site.base)
    events = []
    report = crawl_imdb(ALL_IDS + ["tt0000011"], out, cfg, work_dir=tmp_path / "crawl", on_event=events.append)
    assert report.reason == "finished"
    rows = _rows(out)
    assert rows.pop("tt0000011")["url"] == "https://www.youtube.com/watch?v=aaaaaaaaaaa"  # off-site: not followed
    assert set(rows) == GOOD, report.problems
    reasons = {p["id"]: p["reason"] for p in report.problems}
    assert set(reasons) == PROBLEMS
    assert "no JSON-LD" in reasons["tt0000003"]
    assert "malformed JSON-LD" in reasons["tt0000004"]
    assert reasons["tt0000005"] == "HTTP 404"
    assert reasons["tt0000007"] == "forbidden by robots.txt"
    assert "no trailer" in reasons["tt0000008"]
    assert all("\n" not in r for r in reasons.values())

    r1 = rows["tt0000001"]
    assert r1 == {"id": "tt0000001", "title": "The Red Box's Return", "kind": "trailer",
                  "genres": ["Drama", "Thriller"], "year": 1994, "plot": "The plot of The Red Box's Return.",
                  "url": f"{site.base}/media/red.mp4"}  # fmt: skip
    assert rows["tt0000002"]["url"] == f"{site.base}/media/blue.webm"  # followed to the video page
    assert rows["tt0000002"]["genres"] == ["Comedy"] and rows["tt0000002"]["year"] == 2001
    assert rows["tt0000010"]["url"] == f"{site.base}/media/green.mp4"  # linked video page, <video> tag
    assert rows["tt0000006"]["title"] == "Busy Server"  # 429 then success

    assert site.hits["/robots.txt"] >= 1
    assert site.hits["/title/tt0000007/"] == 0  # robots.txt obeyed
    assert site.hits["/title/tt0000006/"] == 2  # one 429, one retry
    assert site.hits["/media/red.mp4"] == 0  # the crawler does not download media
    assert any(a.startswith("reelmatch/") and PROJECT_URL in a for a in site.agents), site.agents
    assert {e["id"] for e in events if e["event"] == "item"} == GOOD | {"tt0000011"}

    # a second run: done ids skipped, cached pages not fetched again, no duplicate rows
    before = Counter(site.hits)
    report2 = crawl_imdb(ALL_IDS + ["tt0000001"], out, cfg, work_dir=tmp_path / "crawl")
    assert report2.reason == "finished" and report2.skipped == len(GOOD) and report2.written == 0
    assert set(_rows(out)) == GOOD | {"tt0000011"}
    assert site.hits["/title/tt0000001/"] == before["/title/tt0000001/"]  # skipped
    assert site.hits["/title/tt0000003/"] == before["/title/tt0000003/"]  # retried from the disk cache
    assert site.hits["/title/tt0000005/"] == before["/title/tt0000005/"] + 1  # 404s are not cached
    assert site.hits["/robots.txt"] == before["/robots.txt"] + 1  # robots.txt is asked afresh
    assert (tmp_path / "crawl" / "httpcache").is_dir()


# ------------------------------------------------- the CLI, end to end
def test_cli_crawl_import_download_extract_end_to_end(site, tmp_path, run_cli):
    ws = tmp_path / "ws"
    assert run_cli("-w", ws, "init").returncode == 0
    ids = tmp_path / "ids.txt"
    ids.write_text(
        "# titles to crawl\n" + "\n".join(ALL_IDS[:-2]) + "\n"
        + f"https://www.imdb.com/title/{ALL_IDS[-2]}/?ref_=fn_al_tt_1\n"
        + "not an id\n"
    )  # fmt: skip
    manifest = tmp_path / "manifest.jsonl"
    r = run_cli(
        "-w", ws, "crawl", "imdb", ids, "--ids", ALL_IDS[-1], "-o", manifest, "--base-url", site.base,
        "--delay", "0", "--concurrency", "4", "--retries", "2", "--json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["reason"] == "finished" and doc["written"] == len(GOOD) and doc["requested"] == len(ALL_IDS)
    assert {p["id"] for p in doc["problems"]} == PROBLEMS
    assert "ids.txt:" in r.stderr and "'not an id'" in r.stderr  # the bad line, named
    for pid in PROBLEMS:  # one line per problem
        assert sum(1 for ln in r.stderr.splitlines() if ln.startswith(f"problem: {pid}:")) == 1, r.stderr
    assert (ws / "tmp" / "crawl" / "httpcache").is_dir()  # the cache lives in the workspace

    r = run_cli("-w", ws, "import", manifest, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["inserted"] == len(GOOD)

    r = run_cli("-w", ws, "download", "--workers", "2", "--json")
    assert r.returncode == 0, r.stderr

    from reelmatch.workspace import Workspace

    with Workspace(ws) as w:
        items = {it.id: it for it in w.catalog.items()}
        assert set(items) == GOOD
        assert items["tt0000001"].genres == ("Drama", "Thriller") and items["tt0000001"].year == 1994
        assert items["tt0000001"].extra.get("imdb_id") == "tt0000001"
        assert sorted(w.catalog.done_ids("download")) == sorted(GOOD)
        assert w.media_file(items["tt0000002"]).read_bytes() == site.routes["/media/blue.webm"][2]
        assert w.media_file(items["tt0000010"]).read_bytes() == site.routes["/media/green.mp4"][2]

    r = run_cli("-w", ws, "extract", "--workers", "1", "--start", "0", "--window", "2", "--frames", "2",
                "--interval", "1", "--no-progress")  # fmt: skip
    assert r.returncode == 0, r.stderr
    with Workspace(ws) as w:
        assert sorted(w.catalog.done_ids("extract")) == sorted(GOOD), w.status()["failures"]
        assert w.status()["failures"] == []
        from reelmatch.dataset.store import ClipStore

        store = ClipStore(w)
        assert set(store.ids()) == GOOD
        red, green = store.get("tt0000001"), store.get("tt0000010")
        assert red.mask.all() and red.has_audio and not green.has_audio  # green.mp4 is silent
        # really decoded: the red box shows in the red channel, the green box in the green one
        assert red.frames[..., 0].mean() > green.frames[..., 0].mean() + 2
        assert green.frames[..., 1].mean() > red.frames[..., 1].mean() + 2

    # IMDb's dataset file adds genres to the crawled items, matched by IMDb id
    import gzip

    from reelmatch.ingest.imdb import BASICS_COLUMNS

    basics = tmp_path / "title.basics.tsv.gz"
    with gzip.open(basics, "wt", encoding="utf-8") as f:
        f.write("\t".join(BASICS_COLUMNS) + "\n")
        f.write("tt0000001\tmovie\tThe Red Box's Return\tRed Box\t0\t1994\t\\N\t2\tDrama,Mystery\n")
        f.write("tt0000002\tmovie\tBlue Skies\tBlue Skies\t0\t\\N\t\\N\t\\N\t\\N\n")
        f.write("tt0000099\tmovie\tElsewhere\tElsewhere\t0\t1950\t\\N\t90\tWestern\n")
    r = run_cli("-w", ws, "import", "--imdb-basics", basics, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["matched"] == 2 and doc["updated"] == 2 and sorted(doc["not_found"]) == ["tt0000006", "tt0000010"]
    assert "2 items matched" in r.stderr
    with Workspace(ws) as w:
        assert w.catalog.get("tt0000001").genres == ("Drama", "Thriller", "Mystery")
        assert w.catalog.get("tt0000002").genres == ("Comedy",)


def test_interrupted_crawl_resumes_without_losing_or_repeating(site, tmp_path):
    import signal
    import subprocess
    import sys

    slow_ids = [f"tt{n:07d}" for n in range(100, 112)]
    manifest = tmp_path / "m.jsonl"
    cmd = [sys.executable, "-m", "reelmatch", "-w", tmp_path / "nows", "crawl", "imdb", "--ids", *slow_ids,
           "-o", manifest, "--base-url", site.base, "--delay", "0", "--concurrency", "1", "--no-cache"]  # fmt: skip
    proc = subprocess.Popen(list(map(str, cmd)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and len(read_manifest_ids(manifest)) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # Ctrl-C on the command: the crawl shuts down cleanly
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    first = read_manifest_ids(manifest)
    assert 3 <= len(first) < len(slow_ids), first
    jobs = tmp_path / ".reelmatch-crawl" / "jobs"
    assert any(jobs.iterdir()), "the interrupted job state is kept"
    hits_before = Counter(site.hits)

    r = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert set(_rows(manifest)) == set(slow_ids)  # nothing lost, nothing twice
    for tid in first:  # finished titles are not fetched again
        assert site.hits[f"/title/{tid}/"] == hits_before[f"/title/{tid}/"]
    assert not any(jobs.iterdir()), "a finished job leaves no state"


def test_crawl_help_names_terms_and_missing_scrapy_is_one_clear_line(tmp_path, run_cli):
    import subprocess
    import sys

    r = run_cli("crawl", "--help")
    assert r.returncode == 0 and "terms of use" in r.stdout and "robots.txt" in r.stdout
    code = (
        "import sys\nsys.modules['scrapy'] = None  # as if reelmatch[crawl] were not installed\n"
        "from reelmatch.cli.main import main\n"
        f"sys.exit(main(['crawl', 'imdb', '--ids', 'tt0111161', '-o', {str(tmp_path / 'm.jsonl')!r}]))\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert p.stderr.strip().count("\n") == 0 and "pip install 'reelmatch[crawl]'" in p.stderr, p.stderr


def test_crawl_rejects_bad_ids_and_no_ids(tmp_path, run_cli):
    from reelmatch.crawl import crawl_imdb
    from reelmatch.errors import InputError

    with pytest.raises(InputError, match="not an IMDb title id"):
        crawl_imdb(["tt0111161", "nm0000001"], tmp_path / "m.jsonl", work_dir=tmp_path / "c")
    r = run_cli("crawl", "imdb", "-o", tmp_path / "m.jsonl")
    assert r.returncode == 2 and "no title ids" in r.stderr
    r = run_cli("crawl", "imdb", "--ids", "tt0111161", "--base-url", "ftp://x", "-o", tmp_path / "m.jsonl")
    assert r.returncode == 2 and "--base-url" in r.stderr
