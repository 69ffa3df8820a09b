"""The crawler's output: a JSONL manifest ``reelmatch import`` reads."""

from __future__ import annotations

import json
import os
from pathlib import Path


def read_manifest_ids(path: str | os.PathLike, *, repair: bool = False) -> set[str]:
    """Ids of the rows already in a JSONL manifest (empty set if there is none).

    A last line cut short by a killed crawl is not a row; with ``repair=True``
    it is removed (a complete last line without newline gets its newline).
    """
    p = Path(path)
    if not p.exists():
        return set()
    data = p.read_bytes()
    ids: set[str] = set()
    lines = data.split(b"\n")
    for raw in lines:
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except ValueError:
            continue
        if isinstance(row, dict) and row.get("id"):
            ids.add(str(row["id"]))
    if repair and data and not data.endswith(b"\n"):
        tail = lines[-1]
        try:
            json.loads(tail)
            complete = True
        except ValueError:
            complete = False
        with open(p, "r+b") as f:
            if complete:
                f.seek(0, os.SEEK_END)
                f.write(b"\n")
            else:
                f.truncate(len(data) - len(tail))
    return ids
