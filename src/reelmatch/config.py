"""Config fingerprints and JSON sidecars.

Every stage has one frozen dataclass config. Its *fingerprint* is a short hash of
its canonical JSON form; an artifact made with another fingerprint is stale and
is recomputed, never mixed. Every artifact gets a ``<name>.json`` sidecar with the
config, the fingerprint and the library versions that made it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import time
from pathlib import Path
from typing import Any


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, tuples and paths to plain JSON values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def fingerprint(config: Any, length: int = 16) -> str:
    """Stable hex digest of a config (dataclass or JSON-able value).

    Two configs with equal fields give the same fingerprint in any process.
    A dataclass may list in ``FINGERPRINT_OMIT_DEFAULTS`` fields left out while
    they hold their default: a field added later then keeps the fingerprints of
    the artifacts made before it existed.
    """
    fields = to_jsonable(config)
    for name in getattr(config, "FINGERPRINT_OMIT_DEFAULTS", ()):
        default = next(f.default for f in dataclasses.fields(config) if f.name == name)
        if fields.get(name) == to_jsonable(default):
            fields.pop(name)
    payload = json.dumps(
        {"type": type(config).__name__, "fields": fields},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:length]


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape artifacts, for sidecars.

    Only reports modules already imported, so it never makes a light command heavy.
    """
    import sys

    from reelmatch import __version__

    out = {"reelmatch": __version__, "python": platform.python_version()}
    for name in ("numpy", "av", "torch", "torchvision", "faiss", "annoy", "lightning"):
        mod = sys.modules.get(name)
        if mod is not None:
            out[name] = str(getattr(mod, "__version__", "?"))
    return out


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new file, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(Path(path), (json.dumps(to_jsonable(obj), indent=2, sort_keys=True) + "\n").encode())


def sidecar_path(artifact: Path) -> Path:
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + ".json")


def write_sidecar(artifact: Path, config: Any, **extra: Any) -> dict:
    """Write ``<artifact>.json`` describing what made ``artifact``; returns it."""
    doc = {
        "artifact": Path(artifact).name,
        "config_type": type(config).__name__,
        "config": to_jsonable(config),
        "fingerprint": fingerprint(config),
        "versions": library_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **to_jsonable(extra),
    }
    atomic_write_json(sidecar_path(artifact), doc)
    return doc


def read_sidecar(artifact: Path) -> dict | None:
    p = sidecar_path(artifact)
    if not p.exists():
        return None
    return json.loads(p.read_text())
