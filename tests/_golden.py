"""Golden files: a tiny workspace built by every stage, described format by format.

``build_workspace(root)`` makes a deterministic workspace (12 generated 1 s
32x32 trailers, every stage with tiny configs); ``describe(ws)`` turns each
on-disk artifact into a JSON-able description: file layout, JSON documents
(sidecars, status) with the volatile fields (times, versions, run ids, absolute
paths) masked, and per array its dtype, shape and content (an exact digest for
integers, bytes and strings; rounded statistics for floats, whose last bits may
move with thread counts).

``tests/golden/manifest.json`` is ``describe`` of a workspace built by the code
of the commit that wrote it; ``tests/golden/ws_v1/`` is such a workspace itself
(without media), so a test can check that a store written before a change still
opens (``ws_v1.manifest.json`` is its description, from the commit that wrote
it). Regenerate the manifest (only when a format change is intended, with a new
``FORMAT_VERSION``; check its diff) with::

    PYTHONPATH=src python tests/_golden.py --write

``--write --store`` also rewrites ``ws_v1`` and its description: only when old
stores need not open any more.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sqlite3
import zipfile
from pathlib import Path

import numpy as np

GOLDEN = Path(__file__).parent / "golden"
MANIFEST = GOLDEN / "manifest.json"
STORE = GOLDEN / "ws_v1"
#: ``describe`` of ``ws_v1`` when it was written (clip format 1: exact sampling, raw frames)
STORE_MANIFEST = GOLDEN / "ws_v1.manifest.json"

#: JSON keys whose values change from run to run
VOLATILE = {"created", "updated", "versions", "written", "seconds", "started", "finished", "elapsed",
            "file_stat", "created_at", "updated_at", "shards"}


def clip_config():
    from reelmatch.extract import ClipConfig

    return ClipConfig(start=0.0, window=1.0, num_frames=2, interval=0.5, size=16, n_mels=16, spec_frames=32)


def clip_config_v1():
    """The clip config ``ws_v1`` was written with (the defaults of then: exact sampling, raw frames, the 16 ms
    log-mel hop with FFmpeg's default resampler; the log-mel codec of every store before format 3)."""
    import dataclasses

    return dataclasses.replace(clip_config(), sampling="exact", frame_codec="raw", spectrogram_codec="float16",
                               stft_hop=0.25, resample_filter_size=32)


def features_config():
    from reelmatch.train.features import FeaturesConfig

    return FeaturesConfig(backbone="tiny", pretrained=False)


def train_config():
    from reelmatch.train import TrainConfig

    return TrainConfig(backbone="tiny", pretrained=False, hidden=8, audio_dim=8, embed_dim=8, epochs=2,
                       batch_size=8, per_genre=2, val_splits=("val", "test"), seed=1)


def dedupe_config():
    from reelmatch.dedupe import DedupeConfig

    return DedupeConfig(backbone="tiny", pretrained=False, fps=2.0, size=16, decode_side=32, max_seconds=1.0)


def build_workspace(root: Path, *, media_root: Path | None = None):
    """Build the golden workspace at ``root / "ws"``; returns it (open)."""
    from reelmatch.dedupe import describe_catalogue, find_duplicates
    from reelmatch.embed import EmbedConfig, run_embed
    from reelmatch.extract import run_extract
    from reelmatch.index import run_index
    from reelmatch.ingest import import_manifest
    from reelmatch.samples.corpus import generate_corpus
    from reelmatch.train import run_train
    from reelmatch.train.features import compute_features
    from reelmatch.workspace import Workspace

    root = Path(root)
    media_root = Path(media_root or root / "corpus")
    manifest = generate_corpus(media_root, n_items=12, seconds=1.0, size=32, seed=7, genre_look=0.8)
    ws = Workspace.init(root / "ws")
    import_manifest(ws, manifest)
    with one_torch_thread():  # training's rounding depends on the thread count: the golden run uses one
        rep = run_extract(ws, clip_config(), workers=0)
        assert rep["failed"] == 0, rep
        compute_features(ws, config=features_config())
        run_train(ws, train_config())
        run_embed(ws, EmbedConfig(batch_size=4))
        run_index(ws)
        describe_catalogue(ws, dedupe_config(), workers=0)
        find_duplicates(ws, config=dedupe_config())
    return ws


class one_torch_thread:
    """Context manager: torch computes with one thread inside, as many as before after."""

    def __enter__(self):
        import torch

        self.before = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.before)


# ------------------------------------------------------------------ describe
def _mask(doc, ws_root: str):
    if isinstance(doc, dict):
        return {k: ("<volatile>" if k in VOLATILE else _mask(v, ws_root)) for k, v in sorted(doc.items())}
    if isinstance(doc, list):
        return [_mask(v, ws_root) for v in doc]
    if isinstance(doc, str):
        if doc.startswith("{"):
            try:
                return {"json": _mask(json.loads(doc), ws_root)}
            except ValueError:
                pass
        return _mask_path(doc, ws_root)
    if isinstance(doc, float):
        return round(doc, 4)
    return doc


def _mask_path(s: str, ws_root: str) -> str:
    s = s.replace(ws_root, "<ws>")
    # shards are named by run (and by worker when workers write them): their records, not their layout, count
    s = re.sub(r"clips-\d{14}-[0-9a-f]{6}(-[A-Za-z0-9]+-\d+)?-\d{5}\.tar", "clips-<shard>.tar", s)
    if s.startswith("/"):  # media outside the workspace (a temporary directory)
        s = "<media>/" + Path(s).name
    return s


def describe_array(a: np.ndarray) -> dict:
    d = {"dtype": str(a.dtype), "shape": list(a.shape)}
    if a.dtype.kind in "fc":
        x = a.astype(np.float64)
        nan = int(np.isnan(x).sum()) if a.dtype.kind == "f" else 0
        if nan:  # NaN marks "none" (e.g. no audio): counted, and the statistics of the rest
            d["nan"] = nan
            x = x[~np.isnan(x)]
        d["mean"] = round(float(x.mean()), 4) if x.size else 0.0
        d["absmean"] = round(float(np.abs(x).mean()), 4) if x.size else 0.0
    elif a.dtype.kind in "biuSU":
        d["sha256"] = hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]
    return d


def _describe_npz(data: bytes, *, float_payload: bool = True) -> dict:
    out = {}
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        for k in sorted(z.files):
            a = z[k]
            if k == "meta":
                out[k] = {"json": json.loads(str(a))}
            elif k.startswith("payload_"):  # backend bytes: their layout, not their bits
                out[k] = {"dtype": str(a.dtype), "ndim": a.ndim}
            else:
                out[k] = describe_array(a)
    return out


def _rel(p: Path, root: Path) -> str:
    return _mask_path(p.relative_to(root).as_posix(), str(root))


def describe(ws) -> dict:
    """Every artifact of ``ws`` described (see the module docstring)."""
    from reelmatch.dataset.store import decode_npy

    root = ws.root
    r = str(root)
    doc: dict = {"files": sorted({_rel(p, root) for p in root.rglob("*") if p.is_file()
                                 and not p.name.endswith(("-wal", "-shm")) and "/tmp/" not in f"/{_rel(p, root)}"
                                 and not p.relative_to(root).parts[0] in ("tmp", "media", "reports")
                                 and "lightning" not in p.as_posix()})}
    arts: dict = {}
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        rel = _rel(p, root)
        if rel not in doc["files"]:
            continue
        if p.suffix == ".json":
            arts[rel] = _mask(json.loads(p.read_text()), r)
        elif p.suffix == ".npz":
            arts[rel] = _mask(_describe_npz(p.read_bytes()), r)
            arts[rel]["zip_members"] = sorted(zipfile.ZipFile(p).namelist())
        elif p.suffix == ".npy":
            arts[rel] = describe_array(np.load(p, allow_pickle=False))
        elif p.suffix == ".tar":
            import tarfile

            with tarfile.open(p) as t:  # every shard of a store together: the records, whatever the layout
                members = arts.setdefault(rel, {"members": {}})["members"]
                for m in t.getmembers():
                    data = t.extractfile(m).read()
                    if m.name.endswith(".npy.gz"):
                        import gzip

                        members[m.name] = describe_array(decode_npy(gzip.decompress(data)))
                    elif m.name.endswith(".npy"):
                        members[m.name] = describe_array(decode_npy(data))
                    elif m.name.endswith((".jpg", ".webp", ".png")):
                        from PIL import Image

                        with Image.open(io.BytesIO(data)) as im:
                            members[m.name] = {"picture": im.format,
                                              **describe_array(np.asarray(im if im.mode == "L" else im.convert("RGB")))}
                    else:
                        members[m.name] = _mask(json.loads(data), r)
                arts[rel]["members"] = dict(sorted(members.items()))
        elif p.suffix in (".sqlite", ".db"):
            conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
            try:
                schema = [row[0] for row in conn.execute(
                    "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name")]
                tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
                rows = {}
                for t in tables:
                    cols = [c[1] for c in conn.execute(f"PRAGMA table_info({t})")]
                    keep = [c for c in cols if c not in VOLATILE]
                    data = conn.execute(f"SELECT {', '.join(keep)} FROM {t} ORDER BY {', '.join(keep)}").fetchall()
                    rows[t] = [[_mask(v, r) if isinstance(v, str) else v for v in row] for row in data]
                arts[rel] = {"schema": schema, "rows": _mask(rows, r)}
            finally:
                conn.close()
        elif p.suffix == ".safetensors":
            from safetensors.numpy import load_file

            w = load_file(str(p))
            arts[rel] = {k: {"dtype": str(v.dtype), "shape": list(v.shape)} for k, v in sorted(w.items())}
        elif p.suffix == ".faiss":
            arts[rel] = {"bytes_prefix": p.read_bytes()[:4].hex()}
    doc["artifacts"] = arts
    doc["status"] = ws.status()
    return doc


def without_offsets(doc: dict) -> dict:
    """``doc`` without the byte offsets of records in their shard (they follow the order items finished in)."""
    import copy

    doc = copy.deepcopy(doc)
    for name, art in doc["artifacts"].items():
        if name.startswith("clips/") and name.endswith("index.sqlite"):
            for row in art["rows"]["records"]:
                for span in row[2]["json"].values():
                    span[0] = None
    return doc


def compare(got, want, path: str = "") -> list[str]:
    """Differences between two descriptions (floats within 1e-3 relative / 1e-4 absolute)."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = []
        for k in sorted(set(want) | set(got)):
            if k not in got:
                out.append(f"{path}/{k}: missing")
            elif k not in want:
                out.append(f"{path}/{k}: new (not in the golden file)")
            else:
                out += compare(got[k], want[k], f"{path}/{k}")
        return out
    if isinstance(want, list) and isinstance(got, list):
        if len(want) != len(got):
            return [f"{path}: {len(got)} entries, golden has {len(want)}: {got!r:.300} vs {want!r:.300}"]
        return [d for i, (g, w) in enumerate(zip(got, want)) for d in compare(g, w, f"{path}[{i}]")]
    if isinstance(want, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
        return [] if got == want or abs(got - want) <= max(1e-4, 1e-3 * abs(want)) else [f"{path}: {got} != golden {want}"]
    return [] if got == want else [f"{path}: {got!r:.200} != golden {want!r:.200}"]


def checkpoint_sqlite(root: Path) -> None:
    """Fold every SQLite write-ahead log under ``root`` into its database file (so a copy is whole)."""
    for p in list(root.rglob("*.db")) + list(root.rglob("*.sqlite")):
        conn = sqlite3.connect(p)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()


def _write() -> None:
    import shutil
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        ws = build_workspace(Path(tmp))
        doc = describe(ws)
        ws.close()
        checkpoint_sqlite(Path(tmp) / "ws")
        GOLDEN.mkdir(exist_ok=True)
        MANIFEST.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        if "--store" not in sys.argv:
            print(f"wrote {MANIFEST}")
            return
        STORE_MANIFEST.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        if STORE.exists():
            shutil.rmtree(STORE)
        ignore = shutil.ignore_patterns("*-wal", "*-shm", "lightning*", "*.ckpt")
        shutil.copytree(Path(tmp) / "ws", STORE, ignore=ignore)
        for d in ("tmp", "media", "reports"):
            shutil.rmtree(STORE / d, ignore_errors=True)
    print(f"wrote {MANIFEST} and {STORE}")


if __name__ == "__main__":
    import sys

    if "--write" not in sys.argv:
        raise SystemExit("usage: python tests/_golden.py --write")
    _write()
