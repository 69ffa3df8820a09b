"""The workspace: one directory holding everything reelmatch makes.

```
<workspace>/
  workspace.json   marker with the layout version
  catalog.db       SQLite catalogue (items, genres, per-stage status)
  media/           downloaded media
  clips/           clip records (sharded) + index
  features/        per-frame backbone feature caches
  models/          checkpoints (safetensors + config.json)
  embeddings/      vectors + ids + model fingerprint
  index/           ANN indexes + sidecars
  dedupe/          copy-detection descriptors
  reports/         evaluation metrics, plots, HTML
  tmp/             scratch (safe to delete)
```

Library code never uses paths relative to the current directory: every path
is under ``Workspace.root`` (absolute).

A workspace may keep its payload elsewhere: ``Workspace.init(path, storage=URL)``
(``reelmatch init --storage URL``) records an fsspec URL (``s3://bucket/ws``,
``gs://...``, ``file:///mnt/big/ws``) in ``workspace.json``, and the shards of
every clip store made from then on go under ``<URL>/clips/`` (see
:mod:`reelmatch.dataset.store`); the catalogue, the indexes and the sidecars
stay in the directory.
"""

from __future__ import annotations

import json
import os
import time
from functools import cached_property
from pathlib import Path

from reelmatch.errors import NotFoundError, WorkspaceError

LAYOUT_VERSION = 1
SUBDIRS = ("media", "clips", "features", "models", "embeddings", "index", "dedupe", "reports", "tmp", "scenes")
ENV_VAR = "REELMATCH_WORKSPACE"


class Workspace:
    """An initialised workspace directory.

    ``Workspace(path)`` opens an existing workspace (``WorkspaceError`` if none);
    ``Workspace.init(path)`` creates one (idempotent).
    """

    def __init__(self, path: str | os.PathLike):
        self.root = Path(path).expanduser().resolve()
        marker = self.root / "workspace.json"
        if not marker.exists():
            raise WorkspaceError(
                f"{self.root} is not a reelmatch workspace: run 'reelmatch -w {self.root} init'"
            )
        try:
            meta = json.loads(marker.read_text())
        except (OSError, ValueError) as e:
            raise WorkspaceError(f"{marker} is unreadable: {e}") from e
        if meta.get("layout_version") != LAYOUT_VERSION:
            raise WorkspaceError(
                f"{self.root} has workspace layout {meta.get('layout_version')}, this reelmatch reads {LAYOUT_VERSION}"
            )
        #: fsspec URL under which new clip stores put their shards (``None``: in the workspace)
        self.storage: str | None = meta.get("storage") or None
        for d in SUBDIRS:
            (self.root / d).mkdir(exist_ok=True)

    @classmethod
    def init(cls, path: str | os.PathLike, storage: str | None = None) -> "Workspace":
        """Create (or reopen) a workspace at ``path``.

        ``storage``: an fsspec URL where clip stores made from now on put their shards
        (recorded in ``workspace.json``; stores made before keep theirs where they are).
        """
        from reelmatch.catalog import Catalog
        from reelmatch.errors import InputError
        from reelmatch.runtime import is_url

        if storage is not None and not is_url(storage):
            raise InputError(f"--storage must be an fsspec URL (s3://bucket/ws, gs://..., file:///path), got {storage!r}")

        root = Path(path).expanduser().resolve()
        if root.exists() and not root.is_dir():
            raise WorkspaceError(f"{root} exists and is not a directory")
        root.mkdir(parents=True, exist_ok=True)
        marker = root / "workspace.json"
        if not marker.exists():
            if (root / "catalog.db").exists():
                raise WorkspaceError(f"{root} has a catalog.db but no workspace.json; refusing to overwrite")
            for d in SUBDIRS:
                (root / d).mkdir(exist_ok=True)
            Catalog.create(root / "catalog.db").close()
            marker.write_text(
                json.dumps({"layout_version": LAYOUT_VERSION, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=2)
                + "\n"
            )
        if storage is not None:
            meta = json.loads(marker.read_text())
            if meta.get("storage") != storage:
                meta["storage"] = storage.rstrip("/")
                tmp = marker.with_name(marker.name + ".tmp")
                tmp.write_text(json.dumps(meta, indent=2) + "\n")
                os.replace(tmp, marker)
        return cls(root)

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    # ----------------------------------------------------------------- paths
    def dir(self, name: str) -> Path:
        if name not in SUBDIRS:
            raise ValueError(f"unknown workspace directory {name!r}")
        return self.root / name

    @property
    def catalog_path(self) -> Path:
        return self.root / "catalog.db"

    @cached_property
    def catalog(self):
        """The :class:`reelmatch.catalog.Catalog` of this workspace."""
        from reelmatch.catalog import Catalog

        return Catalog(self.catalog_path)

    def close(self) -> None:
        if "catalog" in self.__dict__:
            self.catalog.close()
            del self.__dict__["catalog"]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def media_file(self, item) -> Path:
        """Absolute path of an item's local media (``NotFoundError`` if it has none)."""
        if not item.media_path:
            raise NotFoundError(f"item {item.id} ({item.title}) has no local media yet")
        p = Path(item.media_path)
        return p if p.is_absolute() else self.root / p

    def owns(self, path: str | os.PathLike) -> bool:
        """True if ``path`` resolves (symlinks followed) inside the workspace."""
        try:
            Path(path).resolve().relative_to(self.root)
        except (ValueError, OSError):
            return False
        return True

    def status(self) -> dict:
        """The ``status`` JSON document (see DESIGN.md)."""
        return self.catalog.status()

    # ------------------------------------------------------------ python API
    def resolve(self, ref: str):
        """An item by id or exact title (case-insensitive).

        Raises ``NotFoundError`` for an unknown reference and for an ambiguous
        title (listing the candidates' ids).
        """
        item = self.catalog.maybe_get(ref)
        if item is not None:
            return item
        matches = self.catalog.find_title(ref)
        if not matches:
            raise NotFoundError(f"no item with id or title {ref!r}")
        if len(matches) > 1:
            cands = "; ".join(f"{m.id} ({m.title}, {m.year or '?'}, {m.kind})" for m in matches[:10])
            raise NotFoundError(f"title {ref!r} is ambiguous, use an id: {cands}")
        return matches[0]

    def similar(self, ref, k: int = 10, **options):
        """Items most like ``ref`` (item id, title or video file): a :class:`reelmatch.query.QueryResult`.

        Options: ``genre``, ``kind``, ``exclude_ids``, ``exclude_same_title``, ``add``
        (see :func:`reelmatch.query.similar`).
        """
        from reelmatch.query import similar

        return similar(self, ref, k, **options)

    def match_ad(self, ref, k: int = 10, **options):
        """Trailers ranked for a commercial ``ref`` (ad file, id or title), with per-modality scores.

        See :func:`reelmatch.query.match_ad`.
        """
        from reelmatch.query import match_ad

        return match_ad(self, ref, k, **options)
