"""Ingest: video files, CSV/JSONL manifests and MovieLens files into the catalogue.

- :func:`add_paths` files and folders (videos recognised by content);
- :func:`import_manifest` CSV/TSV/JSONL manifests;
- :func:`import_movielens` MovieLens ``movies.csv`` + ``links.csv`` + ``ml-youtube.csv``;
- :func:`reelmatch.ingest.tmdb.import_tmdb` plots and genres from TMDB CSVs, joined by TMDB/IMDb id.

Each returns an :class:`IngestReport` (counts and the rows/files skipped, each
with its file, line, field and reason). Light to import: PyAV is loaded only when
a file is probed.
"""

from reelmatch.ingest.files import add_paths
from reelmatch.ingest.manifest import import_manifest
from reelmatch.ingest.movielens import import_movielens
from reelmatch.ingest.probe import VideoInfo, probe_video, sha256_file
from reelmatch.ingest.report import IngestReport, RowError

__all__ = [
    "IngestReport",
    "RowError",
    "VideoInfo",
    "add_paths",
    "import_manifest",
    "import_movielens",
    "probe_video",
    "sha256_file",
]
