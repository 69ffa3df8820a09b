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
    """Dataclasses (their ``to_dict()`` when they have one), tuples and paths to plain JSON values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        if isinstance(obj, StageConfig):
            return obj.to_dict()
        return _fields_jsonable(obj)
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _fields_jsonable(obj) -> dict:
    return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


class StageConfig:
    """Base of the frozen stage-config dataclasses: fingerprint, dict form, field errors.

    ``config.fingerprint``: short hash of the canonical JSON form (see :func:`fingerprint`);
    ``config.to_dict()``: that JSON form (nested configs as dicts, tuples as lists);
    ``Config.from_dict(doc)``: the config back, nested configs and tuples rebuilt
    from the field types, an unknown field an ``InputError`` naming it;
    ``self.invalid(field, why)``: the ``InputError`` for a bad field, naming the
    config, the field and its value (for ``__post_init__`` checks).
    """

    #: fields left out of the fingerprint while they hold their default (added after artifacts existed)
    FINGERPRINT_OMIT_DEFAULTS: tuple[str, ...] = ()
    #: fields left out of the dict form (sidecars, so also the fingerprint) while they hold their
    #: default: an artifact made with the default is described as before the field existed
    DICT_OMIT_DEFAULTS: tuple[str, ...] = ()
    #: fields added after artifacts existed whose default later changed: field -> the value every
    #: artifact made before had. Left out of the fingerprint while they hold it, and what
    #: ``from_dict`` fills in when a stored document lacks the field (so old artifacts keep
    #: their fingerprint and are never redone)
    LEGACY_VALUES: dict = {}

    @property
    def fingerprint(self) -> str:
        return fingerprint(self)

    def to_dict(self) -> dict:
        out = _fields_jsonable(self)
        for f in dataclasses.fields(self):
            if f.name in self.DICT_OMIT_DEFAULTS and out.get(f.name) == to_jsonable(f.default):
                out.pop(f.name)
        return out

    @classmethod
    def from_dict(cls, doc: dict):
        from reelmatch.errors import InputError

        if not isinstance(doc, dict):
            raise InputError(f"{cls.__name__}: expected a JSON object, got {type(doc).__name__}")
        known = {f.name: f for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(doc) - set(known))
        if unknown:
            raise InputError(f"{cls.__name__}: unknown field(s) {', '.join(unknown)}; known: {', '.join(known)}")
        hints = _type_hints(cls)
        doc = {**{k: v for k, v in cls.LEGACY_VALUES.items() if k in known}, **doc}
        return cls(**{k: _from_json(v, hints.get(k)) for k, v in doc.items()})

    def invalid(self, name: str, why: str):
        """The ``InputError`` to raise for field ``name``: ``ClipConfig.size = 4: must be at least 8``."""
        from reelmatch.errors import InputError

        return InputError(f"{type(self).__name__}.{name} = {getattr(self, name)!r}: {why}")


def _type_hints(cls) -> dict:
    import typing

    try:  # a config whose field types are imported lazily names them in ``_hint_namespace()``
        return typing.get_type_hints(cls, localns=getattr(cls, "_hint_namespace", dict)())
    except Exception:  # noqa: BLE001 - an unresolvable annotation: values are taken as they are
        return {}


def _from_json(value: Any, hint: Any) -> Any:
    """``value`` (from JSON) as the type ``hint`` says: nested StageConfigs and tuples rebuilt."""
    import typing

    if hint is None or value is None:
        return value
    origin = typing.get_origin(hint)
    if origin is typing.Union or type(hint).__name__ == "UnionType":
        for arg in typing.get_args(hint):
            if arg is type(None):
                continue
            if isinstance(arg, type) and issubclass(arg, StageConfig) and isinstance(value, dict):
                return arg.from_dict(value)
        return value
    if isinstance(hint, type) and issubclass(hint, StageConfig) and isinstance(value, dict):
        return hint.from_dict(value)
    if origin is tuple and isinstance(value, (list, tuple)):
        args = typing.get_args(hint)
        inner = args[0] if args else None
        return tuple(_from_json(v, inner) for v in value)
    return value


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
    for name, value in getattr(config, "LEGACY_VALUES", {}).items():
        if name in fields and fields[name] == to_jsonable(value):
            fields.pop(name)
    resolved = getattr(config, "fingerprint_resolved", None)  # e.g. "auto" -> the value it stands for
    if resolved is not None:
        fields.update(resolved())
    omit = getattr(config, "fingerprint_omit", None)
    for name in omit() if omit is not None else ():
        fields.pop(name, None)
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


def newest_artifact_dir(root: Path, **match) -> Path | None:
    """The newest directory ``root/<name>`` whose sidecar ``root/<name>.json`` has every ``key: value`` of ``match``."""
    best, best_time = None, None
    for side in Path(root).glob("*.json"):
        try:
            doc = json.loads(side.read_text())
        except (OSError, ValueError):
            continue
        d = Path(root) / side.stem
        if all(doc.get(k) == v for k, v in match.items()) and d.is_dir():
            t = side.stat().st_mtime
            if best_time is None or t > best_time:
                best, best_time = d, t
    return best
