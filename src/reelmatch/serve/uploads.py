"""Uploads are embedded in their own processes, so their decoding and inference
never hold the server's GIL (a thread doing it would stall every read).

``UploadEmbedder(root, processes)`` is a lazily started process pool (spawn:
the server has threads); each process runs at a lower CPU priority, keeps the
embedder it rebuilt from the embeddings' metadata (one model load per process
and model), and answers :func:`reelmatch.query.search.file_vectors` for a file.
The server's upload threads wait on it; the search itself runs in the server.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

log = logging.getLogger(__name__)

_embedders: dict = {}  # per worker process: model fingerprint -> embedder


def _init() -> None:
    try:
        os.nice(10)  # below the server's processes
    except OSError:
        pass


def _embed(root: str, path: str, meta: dict) -> dict:
    from reelmatch.embed.embedder import embedder_for
    from reelmatch.query.search import file_vectors
    from reelmatch.workspace import Workspace

    ws = Workspace(root)
    try:
        key = meta.get("model_fingerprint")
        if key not in _embedders:
            _embedders.clear()
            _embedders[key] = embedder_for(ws, meta)
        v = file_vectors(ws, meta, Path(path), _embedders[key])
        v.pop("clip", None)  # not sent back: an upload's explanations have no frame pair (no backbone run here)
        return v
    finally:
        ws.close()


def _ready() -> bool:
    import reelmatch.query.search  # noqa: F401 - the imports a first upload would pay for

    return True


class UploadEmbedder:
    """``embed(path, meta) -> vectors`` in a pool of ``processes`` worker processes."""

    def __init__(self, root: Path, processes: int):
        self.root = str(root)
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _get(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_init)
            return self._pool

    def start(self) -> None:
        """Start the processes now (a server does it at start-up, so the first upload does not wait for them)."""
        pool = self._get()
        for _ in range(self.processes):
            pool.submit(_ready)

    def __call__(self, path: Path, meta: dict) -> dict:
        from concurrent.futures.process import BrokenProcessPool

        try:
            return self._get().submit(_embed, self.root, str(path), meta).result()
        except BrokenProcessPool:  # a worker died (killed, out of memory): a fresh pool for the next upload
            self.close()
            from reelmatch.errors import ReelmatchError

            raise ReelmatchError("the upload worker process stopped; try again") from None

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
