"""HTTP load benchmark of ``reelmatch serve`` with a compiled load generator (wrk), 127.0.0.1 only.

Two servers side by side in one run, on the same workspace:

- **before**: the issue's starting point as flags of the current code: ``--workers 1
  --no-neighbour-table --no-inline-route`` (one process, every query through the
  index and FastAPI's routing); ``--baseline rev`` runs the code of git revision
  ``--baseline-rev`` instead (one global lock), exported with ``git archive``: that
  code reads catalogues of schema 1 only, so only with ``-w`` a workspace it built;
- **after**: the current code with its defaults (``--workers``: one per CPU, at
  most 4; the neighbour table).

For each workspace and each endpoint -- ``similar`` (k=10), catalogue search,
item document, thumbnail (items with media only), health -- ``wrk -t2`` drives
both servers for ``--seconds`` at 32 and at 256 connections (after an uncounted
2 s warm-up each), round-robin over the catalogue's ids. Then ``similar`` at 32
connections again while 2 clients keep uploading a video that is not in the
catalogue (decoded and embedded by the server). Printed: requests/s, p50, p99,
errors (socket errors, timeouts > 5 s, non-2xx) and the after/before ratios,
then each target of issue 16 as measured.

Workspaces: the devdata workspace (the 29 clips of ``../shared/devdata``, built
under a temporary folder: extracted small, embedded with the pretrained backbone
alone, indexed), or ``--items`` generated videos when devdata is absent; and a
``--synthetic``-item catalogue of vectors only (100,000 by default; no media,
so no thumbnail or uploads there).

    .venv/bin/python benchmarks/serve.py                          # both workspaces, 20 s per run
    .venv/bin/python benchmarks/serve.py --seconds 5 --synthetic 0  # quick look
    .venv/bin/python benchmarks/serve.py -w workspace              # an existing built workspace

Needs ``wrk`` (Debian package; ``make system-deps`` installs it). Every run is
bounded (``--seconds``), the servers are stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEVDATA = REPO / ".." / "shared" / "devdata"
BASELINE_REV = "722f46c"  # the last commit before issue 16: one global lock, no neighbour table
GENRES = [("Action",), ("Drama", "Romance"), ("Comedy",), ("Horror", "Thriller"), ("Animation", "Family"), ("Sci-Fi", "Action")]

LUA = r"""
local paths = {}
for line in io.lines(os.getenv("WRK_PATHS")) do paths[#paths + 1] = line end
local i = 0
init = function(args) i = math.random(#paths) end
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "p999_us": %d, "max_us": %d}\n', summary.requests,
    summary.duration, e.connect, e.read, e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg())


# ------------------------------------------------------------------ workspaces
def small_clips():
    from reelmatch.extract import ClipConfig

    return ClipConfig(start=0.0, window=10.0, num_frames=4, interval=2.5, size=112)


def build_devdata(root: Path, devdata: Path) -> Path:
    """The devdata clips added, extracted small, embedded with the pretrained backbone alone, indexed."""
    from reelmatch.embed import EmbedConfig, run_embed
    from reelmatch.extract import run_extract
    from reelmatch.index import run_index
    from reelmatch.ingest import add_paths
    from reelmatch.workspace import Workspace

    t0 = time.perf_counter()
    print(f"building the devdata workspace in {root} ...", flush=True)
    ws = Workspace.init(root)
    add_paths(ws, [devdata])
    run_extract(ws, small_clips(), workers=1)
    run_embed(ws, EmbedConfig(use_model=False))
    run_index(ws)
    n = ws.catalog.count()
    ws.close()
    print(f"  {n} items built in {time.perf_counter() - t0:.0f} s", flush=True)
    return root


def build_generated(root: Path, items: int) -> Path:
    """``items`` generated 2-second videos in six genre styles (10% ads), extracted,
    embedded (the pretrained backbone alone) and indexed: the benchmark without devdata."""
    import numpy as np

    from reelmatch.embed import EmbedConfig, run_embed
    from reelmatch.extract import run_extract
    from reelmatch.index import run_index
    from reelmatch.ingest import add_paths
    from reelmatch.samples.media import moving_box_frames, tone, write_video
    from reelmatch.workspace import Workspace

    t0 = time.perf_counter()
    print(f"building a workspace of {items} generated videos in {root} ...", flush=True)
    ws = Workspace.init(root)
    rng = np.random.default_rng(0)
    for i in range(items):
        style = i % len(GENRES)
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        background = tuple(int(40 * style + c) % 256 for c in rng.integers(0, 60, 3))
        f = write_video(root / "media" / "generated" / f"sample-{i:04d}.mp4",
                        frames=moving_box_frames(64, 64, color=color, background=background, speed=0.5 + style / 2),
                        audio=tone(200.0 * (style + 1) + float(rng.integers(0, 50))))
        ad = i % 10 == 9
        add_paths(ws, [f], title=f"{'Ad' if ad else 'Sample'} {i:04d}", genres=[] if ad else list(GENRES[style]),
                  kind="ad" if ad else "trailer")
    run_extract(ws, small_clips(), workers=1)
    run_embed(ws, EmbedConfig(use_model=False))
    run_index(ws)
    ws.close()
    print(f"  built in {time.perf_counter() - t0:.0f} s", flush=True)
    return root


def build_synthetic(root: Path, n: int) -> Path:
    from reelmatch.index import run_index
    from reelmatch.index.synthetic import synthetic_catalogue
    from reelmatch.workspace import Workspace

    t0 = time.perf_counter()
    print(f"building a synthetic catalogue of {n} items (vectors only) in {root} ...", flush=True)
    ws = Workspace.init(root)
    synthetic_catalogue(ws, n)
    rep = run_index(ws)
    ws.close()
    print(f"  {rep.summary}, neighbour table of {rep.table_rows} rows, in {time.perf_counter() - t0:.0f} s", flush=True)
    return root


def upload_file(root: Path) -> Path:
    """A 10-second 320x240 video with sound that no catalogue holds (uploads decode and embed it)."""
    from reelmatch.samples.media import moving_box_frames, tone, write_video

    return write_video(root / "upload" / "Upload Spot.mp4", seconds=10.0, width=320, height=240, fps=24,
                       frames=moving_box_frames(320, 240, color=(235, 200, 40), background=(10, 60, 90)),
                       audio=tone(660.0))


def reuse(path: Path) -> Path | None:
    """``path`` when a previous ``--keep`` run left a built workspace there (its neighbour table written last)."""
    if (path / "index" / "default.neighbours.npz").exists():
        print(f"reusing the workspace built in {path}", flush=True)
        return path
    if path.exists():
        shutil.rmtree(path)  # a build that did not finish
    return None


# --------------------------------------------------------------------- servers
def baseline_source(rev: str, into: Path) -> Path | None:
    """``src/`` of git revision ``rev`` exported into ``into``, or None without git or that revision."""
    try:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "src"], capture_output=True, timeout=60)
        if archive.returncode != 0:
            return None
        into.mkdir(parents=True, exist_ok=True)
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return into / "src"


class Server:
    """``reelmatch -w WS serve`` in its own process group on a free loopback port."""

    def __init__(self, label: str, ws: Path, src: Path, args: list[str], log: Path):
        self.label, self.port = label, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(src)}
        cmd = [sys.executable, "-m", "reelmatch", "-w", str(ws), "serve", "--host", "127.0.0.1",
               "--port", str(self.port), *args]
        self.log = open(log, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log, env=env, start_new_session=True)

    def wait(self, timeout: float = 180.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} server exited: {Path(self.log.name).read_text()[-2000:]}")
            try:
                doc = httpx.get(self.url + "/api/health", timeout=5).json()
                if doc.get("embeddings"):
                    return
                if doc.get("error"):  # e.g. a baseline revision that cannot read this workspace
                    raise RuntimeError(f"{self.label} server cannot serve the workspace: {doc['error']}")
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.label} server did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        import signal

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # the server and its worker processes, nothing else
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()


# ------------------------------------------------------------------------ load
#: kernel TCP counters read around every run (``nstat``): a full accept queue (ListenOverflows, ListenDrops)
#: or a lost SYN (TCPSynRetrans) would stall a new connection for a 1 s retransmission, a lost segment
#: (TCPTimeouts) for 200 ms or more; the tail loss probes on loopback under full CPU are spurious (DSACKed)
TCP_COUNTERS = ("TcpExtListenOverflows", "TcpExtListenDrops", "TcpExtTCPSynRetrans", "TcpExtTCPTimeouts")


def tcp_counters() -> dict[str, int]:
    """The machine's :data:`TCP_COUNTERS` now (empty without ``nstat``)."""
    try:
        out = subprocess.run(["nstat", "-az", *TCP_COUNTERS], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    found = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 2 and f[0] in TCP_COUNTERS and f[1].isdigit():
            found[f[0]] = int(f[1])
    return found


def wrk(url: str, paths: list[str], connections: int, seconds: float, workdir: Path) -> dict:
    """One bounded wrk run over ``paths`` (round-robin): requests/s, p50/p99 ms, errors."""
    lua, plist = workdir / "roundrobin.lua", workdir / f"paths-{os.getpid()}-{threading.get_ident()}.txt"
    lua.write_text(LUA)
    plist.write_text("\n".join(paths) + "\n")
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s", "-s", str(lua), url]
    before = tcp_counters()
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "WRK_PATHS": str(plist)},
                         timeout=seconds + 60)
    after = tcp_counters()
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary: {out.stdout[-500:]} {out.stderr[-500:]}")
    r = json.loads(line[len("WRKJSON "):])
    errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    return {"rps": (r["requests"] - errors) / (r["duration_us"] / 1e6), "p50_ms": r["p50_us"] / 1000,
            "p99_ms": r["p99_us"] / 1000, "p999_ms": r["p999_us"] / 1000, "max_ms": r["max_us"] / 1000,
            "errors": errors, "requests": r["requests"],
            "kinds": {k: r[k] for k in ("connect", "read", "write", "status", "timeout") if r[k]},
            "tcp": {k.replace("TcpExt", ""): after[k] - before[k] for k in after if k in before and after[k] != before[k]}}


class Uploads:
    """``n`` clients each POSTing ``file`` to ``/api/match`` over and over until stopped."""

    def __init__(self, url: str, file: Path, n: int = 2):
        self.url, self.data, self.name = url, file.read_bytes(), file.name
        self.stop_event = threading.Event()
        self.done, self.statuses, self.seconds = 0, {}, []
        self.threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(n)]
        self._lock = threading.Lock()

    def _loop(self) -> None:
        import httpx

        with httpx.Client(timeout=120) as c:
            while not self.stop_event.is_set():
                t0 = time.perf_counter()
                try:
                    status = c.post(self.url + "/api/match", files={"file": (self.name, self.data, "video/mp4")}).status_code
                except httpx.HTTPError as e:
                    status = type(e).__name__
                with self._lock:
                    self.statuses[status] = self.statuses.get(status, 0) + 1
                    if status == 200:
                        self.done += 1
                        self.seconds.append(time.perf_counter() - t0)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        for t in self.threads:
            t.join(180)


def endpoint_paths(url: str, with_media: bool, k: int) -> dict[str, list[str]]:
    import httpx

    items = httpx.get(url + "/api/items", params={"kind": "trailer", "limit": 200}, timeout=30).json()["items"]
    ids = [it["id"] for it in items]
    words = sorted({w for it in items for w in it["title"].split() if len(w) > 2})[:50] or ["a"]
    paths = {
        f"GET /api/items/{{id}}/similar?k={k}": [f"/api/items/{i}/similar?k={k}" for i in ids],
        "GET /api/items?q=": [f"/api/items?q={w}&limit=24" for w in words],
        "GET /api/items/{id}": [f"/api/items/{i}" for i in ids],
    }
    if with_media:
        paths["GET /api/items/{id}/thumbnail"] = [f"/api/items/{i}/thumbnail" for i in ids]
    paths["GET /api/health"] = ["/api/health"]
    return paths


def fmt(r: dict | None) -> str:
    if r is None:
        return f"{'-':>8} {'-':>7} {'-':>7} {'-':>5}"
    return f"{r['rps']:>8.0f} {r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} {r['errors']:>5}"


def bench_workspace(name: str, ws: Path, servers: list[Server], args, workdir: Path, upload: Path | None) -> dict:
    for s in servers:
        s.wait()
    with_media = upload is not None
    paths = endpoint_paths(servers[0].url, with_media, args.k)
    if args.endpoints:  # a subset, by a word of their names (similar, items, thumbnail, health)
        paths = {e: p for e, p in paths.items() if any(w in e for w in args.endpoints)}
    print(f"\n== {name}: {len(paths[next(iter(paths))])} ids; {uptime()}", flush=True)
    head = f"{'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'err':>5}"
    print(f"  {'endpoint':<36} {'conns':>5} | before {head} | after  {head} | req/s x  p99 x", flush=True)
    results: dict = {}
    for endpoint, plist in paths.items():
        for conns in args.connections:
            row = {}
            for s in servers:
                wrk(s.url, plist, conns, 2, workdir)  # warm-up, not counted
                row[s.label] = wrk(s.url, plist, conns, args.seconds, workdir)
            results[(endpoint, conns)] = row
            b, a = row["before"], row["after"]
            ratio = f"{a['rps'] / b['rps']:>7.2f}  {a['p99_ms'] / max(b['p99_ms'], 1e-3):>5.2f}" if b["rps"] else ""
            print(f"  {endpoint:<36} {conns:>5} | before {fmt(b)} | after  {fmt(a)} | {ratio}", flush=True)
            for s in servers[2:]:
                print(f"  {'':<36} {'':>5} | {s.label:<{7 + len(head)}} | after  {fmt(row[s.label])}", flush=True)
            for label, r in row.items():
                if r["errors"]:
                    print(f"    {label}: errors {r['kinds']} (wrk: socket errors, timeouts > 5 s, non-2xx)", flush=True)
                if r["p99_ms"] > 250 or r["tcp"]:
                    print(f"    {label}: p99.9 {r['p999_ms']:.1f} ms, max {r['max_ms']:.1f} ms; TCP counters during the run "
                          f"{r['tcp'] or 'unchanged'} (machine-wide)", flush=True)
    if upload is not None and not args.no_uploads:
        endpoint = next(iter(paths))
        row, ups = {}, {}
        for s in servers:
            with Uploads(s.url, upload, 2) as u:
                time.sleep(1.0)  # both uploads are decoding/embedding
                row[s.label] = wrk(s.url, paths[endpoint], 32, args.seconds, workdir)
            ups[s.label] = u
        results[("uploads", 32)] = row
        b, a = row["before"], row["after"]
        label = f"{endpoint} + 2 uploads"
        ratio = f"{a['rps'] / b['rps']:>7.2f}  {a['p99_ms'] / max(b['p99_ms'], 1e-3):>5.2f}" if b["rps"] else ""
        print(f"  {label:<36} {32:>5} | before {fmt(b)} | after  {fmt(a)} | {ratio}", flush=True)
        for s in servers[2:]:
            print(f"  {'':<36} {'':>5} | {s.label:<{7 + len(head)}} | after  {fmt(row[s.label])}", flush=True)
        for s in servers:
            u = ups[s.label]
            mean = sum(u.seconds) / len(u.seconds) if u.seconds else float("nan")
            print(f"    {s.label}: uploads answered {u.statuses} (200 = matched; mean {mean:.1f} s each)", flush=True)
    print(f"  {uptime()}", flush=True)
    return results


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-w", "--workspace", type=Path, default=None, help="a built workspace instead of the devdata one")
    p.add_argument("--devdata", type=Path, default=DEVDATA, help="devdata folder (default ../shared/devdata)")
    p.add_argument("--items", type=int, default=200, help="generated videos when devdata is absent (default 200)")
    p.add_argument("--synthetic", type=int, default=100_000, help="items of the vectors-only catalogue (0 = skip)")
    p.add_argument("--seconds", type=float, default=20.0, help="seconds per run (default 20)")
    p.add_argument("--connections", type=lambda s: [int(x) for x in s.split(",")], default=[32, 256],
                   help="comma-separated connection counts (default 32,256)")
    p.add_argument("-k", type=int, default=10, help="neighbours per similar query (default 10)")
    p.add_argument("--baseline", choices=("rev", "flags"), default="flags",
                   help="before = the current code with --workers 1 --no-neighbour-table --no-inline-route"
                        " (default), or the code of --baseline-rev (it reads catalogues of schema 1 only, so"
                        " only workspaces built by that code)")
    p.add_argument("--baseline-rev", default=BASELINE_REV, help=f"git revision of 'before' (default {BASELINE_REV})")
    p.add_argument("--workers", type=int, default=None, help="after: serve --workers (default: serve's default)")
    p.add_argument("--endpoints", nargs="*", default=None, metavar="WORD",
                   help="only the endpoints whose name contains one of these words (default: all)")
    p.add_argument("--no-uploads", action="store_true", help="skip the reads-while-uploading run")
    p.add_argument("--extra", action="append", default=[], metavar="LABEL:ARGS",
                   help="one more server of the current code, measured side by side and printed under 'after' "
                        "(e.g. 'after-uvloop:--loop uvloop'; repeatable)")
    p.add_argument("--keep", type=Path, default=None,
                   help="build the workspaces in this folder and reuse them in later runs (default: a temporary one)")
    p.add_argument("--json", type=Path, default=None, help="also write every measurement to this JSON file")
    return p


def main(args) -> int:
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk (make system-deps)", file=sys.stderr)
        return 2
    print(f"serve benchmark: {' '.join(sys.argv)}", flush=True)
    print(f"  {os.cpu_count()} CPUs shared by wrk (2 threads), the servers and whatever else runs; {uptime()}", flush=True)
    tmp = tempfile.TemporaryDirectory(prefix="reelmatch-bench-serve-")
    root = Path(tmp.name)
    built = args.keep.expanduser().resolve() if args.keep else root
    src_now = REPO / "src"
    src_before, before_args = None, ["--workers", "1", "--no-neighbour-table", "--no-inline-route"]
    if args.baseline == "rev":
        src_before = baseline_source(args.baseline_rev, root / "baseline")
        if src_before is not None:
            before_args = []
    if src_before is None:
        src_before = src_now
        print(f"  before: the current code, {' '.join(before_args)}", flush=True)
    else:
        print(f"  before: git revision {args.baseline_rev} (one process, one global lock, no neighbour table)", flush=True)
    after_args = [] if args.workers is None else ["--workers", str(args.workers)]
    print(f"  after:  the current code, serve {' '.join(after_args) or '(defaults)'}", flush=True)

    workspaces = []
    if args.workspace is not None:
        workspaces.append((str(args.workspace), args.workspace.expanduser().resolve(), True))
    elif args.devdata.is_dir():
        workspaces.append((f"devdata workspace ({args.devdata.resolve()})",
                           reuse(built / "devdata") or build_devdata(built / "devdata", args.devdata), True))
    else:
        where = built / f"generated-{args.items}"
        workspaces.append((f"{args.items} generated videos (no devdata here)",
                           reuse(where) or build_generated(where, args.items), True))
    if args.synthetic:
        where = built / f"synthetic-{args.synthetic}"
        workspaces.append((f"synthetic catalogue, {args.synthetic} items (vectors only)",
                           reuse(where) or build_synthetic(where, args.synthetic), False))
    upload = upload_file(root)
    all_results = {}
    try:
        for name, ws, media in workspaces:
            servers = [Server("before", ws, src_before, before_args, root / f"before-{len(all_results)}.log"),
                       Server("after", ws, src_now, after_args, root / f"after-{len(all_results)}.log")]
            for spec in args.extra:
                label, _, extra = spec.partition(":")
                servers.append(Server(label, ws, src_now, after_args + extra.split(), root / f"{label}-{len(all_results)}.log"))
            try:
                all_results[name] = bench_workspace(name, ws, servers, args, root, upload if media else None)
            finally:
                for s in servers:
                    s.stop()
    finally:
        tmp.cleanup()
    if args.json is not None:
        doc = {name: [{"endpoint": e, "connections": c, **{k: v for k, v in row.items()}} for (e, c), row in res.items()]
               for name, res in all_results.items()}
        args.json.write_text(json.dumps(doc, indent=1))
    return report(all_results, args)


def _before(row: dict) -> str:
    """"(before: req/s, p99)" of a row: today's behaviour, measured side by side."""
    b = row.get("before")
    if b is None:
        return ""
    err = f", {b['errors']} errors" if b["errors"] else ""
    return f" [before: {b['rps']:.0f} req/s, p99 {b['p99_ms']:.1f} ms{err}]"


def report(all_results: dict, args) -> int:
    """Each target of issue 16, as measured by the 'after' server, with 'before' of the same run next to it."""
    sim = f"GET /api/items/{{id}}/similar?k={args.k}"
    print("\ntargets (after) [before: the same run's baseline]:")
    names = list(all_results)
    first = all_results[names[0]]
    if (sim, 32) in first:
        for name, res in all_results.items():
            if (sim, 32) in res:
                a = res[(sim, 32)]["after"]
                ok = a["rps"] >= 2000 and a["p99_ms"] < 30
                print(f"  similar at 32 connections, {name.split(' (')[0]}: {a['rps']:.0f} req/s (>= 2000), p99 "
                      f"{a['p99_ms']:.1f} ms (< 30): {'met' if ok else 'NOT met'}{_before(res[(sim, 32)])}")
    if 256 in args.connections:
        for name, res in all_results.items():
            if (sim, 256) in res:
                a = res[(sim, 256)]["after"]
                ok = a["errors"] == 0 and a["p99_ms"] < 250
                print(f"  similar at 256 connections, {name.split(' (')[0]}: {a['errors']} errors (0), p99 "
                      f"{a['p99_ms']:.1f} ms (< 250): {'met' if ok else 'NOT met'}{_before(res[(sim, 256)])}")
        worst, errors, where, brow = 0.0, 0, "", {}
        for name, res in all_results.items():
            for (endpoint, conns), row in res.items():
                if conns == 256:
                    errors += row["after"]["errors"]
                    if row["after"]["p99_ms"] > worst:
                        worst, where, brow = row["after"]["p99_ms"], f"{endpoint}, {name.split(' (')[0]}", row
        ok = errors == 0 and worst < 250
        print(f"  256 connections, every endpoint: {errors} errors (0), worst p99 {worst:.1f} ms ({where}) (< 250): "
              f"{'met' if ok else 'NOT met'}{_before(brow)}")
    if ("uploads", 32) in first:
        a = first[("uploads", 32)]["after"]
        print(f"  reads while 2 uploads embed: p99 {a['p99_ms']:.1f} ms (< 100), {a['errors']} errors: "
              f"{'met' if a['p99_ms'] < 100 and a['errors'] == 0 else 'NOT met'}{_before(first[('uploads', 32)])}")
    if len(names) > 1:
        for conns in args.connections:
            if (sim, conns) in first and (sim, conns) in all_results[names[1]]:
                s_row, b_row = first[(sim, conns)], all_results[names[1]][(sim, conns)]
                small, big = s_row["after"], b_row["after"]
                ratio = big["p99_ms"] / max(small["p99_ms"], 1e-3)
                line = (f"  similar at {conns} connections, {names[1].split(',')[1].strip()} vs "
                        f"{names[0].split(' (')[0]}: p99 {big['p99_ms']:.1f} vs {small['p99_ms']:.1f} ms (ratio "
                        f"{ratio:.2f}), {big['rps']:.0f} vs {small['rps']:.0f} req/s (ratio "
                        f"{big['rps'] / max(small['rps'], 1e-9):.2f})")
                if conns == 32:  # the target: the same p99
                    line += f"; 'same p99' taken as <= 1.25: {'met' if ratio <= 1.25 else 'NOT met'}"
                if "before" in s_row and "before" in b_row:
                    line += (f" [before: p99 ratio {b_row['before']['p99_ms'] / max(s_row['before']['p99_ms'], 1e-3):.2f},"
                             f" req/s ratio {b_row['before']['rps'] / max(s_row['before']['rps'], 1e-9):.2f}]")
                print(line)
    total_errors = sum(r[s]["errors"] for res in all_results.values() for r in res.values() for s in r)
    print(f"errors in all runs (before and after): {total_errors}")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
