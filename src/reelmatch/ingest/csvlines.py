"""CSV records with their line numbers, where one broken row never hides the rest.

Python's csv module, fed a whole file, lets one unbalanced quote swallow every
line after it. Here records are cut by quote parity (a quoted field may span
lines, up to ``max_lines``), each is parsed strictly, and a record that does not
parse is reported by its first line; reading restarts on the next line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from reelmatch.errors import InputError
from reelmatch.ingest.report import IngestReport


def read_text_lines(path: Path, report: IngestReport, name: str) -> list[str | None]:
    """The file's lines (ends kept), ``None`` for a line that is not UTF-8 (reported)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from e
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    out: list[str | None] = []
    for n, raw in enumerate(data.splitlines(keepends=True), 1):
        try:
            out.append(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            report.error(name, n, None, f"not UTF-8 text (byte {e.start + 1}); row skipped")
            out.append(None)
    return out


def csv_records(
    lines: list[str | None],
    report: IngestReport,
    name: str,
    *,
    delimiter: str = ",",
    max_lines: int = 200,
    n_fields: int | None = None,
) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` per record, the header included; blank lines left out.

    ``n_fields`` (default: the first record's count) is the expected width: a
    record with more fields is reported, one with fewer is padded with ``""``.
    """
    i, n = 0, len(lines)
    while i < n:
        start = i
        rec = lines[i]
        if rec is None:
            i += 1
            continue
        j = i
        while rec.count('"') % 2 == 1 and j + 1 < n and j + 1 - i < max_lines and lines[j + 1] is not None:
            j += 1
            rec += lines[j]
        if not rec.strip():
            i = j + 1
            continue
        if rec.count('"') % 2 == 1:
            report.error(name, start + 1, None, "broken quoting: a quote is never closed; row skipped")
            i = start + 1
            continue
        try:
            rows = list(csv.reader(io.StringIO(rec, newline=""), delimiter=delimiter, strict=True))
        except csv.Error as e:
            if j > start:  # a stray quote joined lines: blame the first, retry the rest
                report.error(name, start + 1, None, f"broken quoting ({e}); row skipped")
                i = start + 1
                continue
            report.error(name, start + 1, None, f"broken quoting ({e}); row skipped")
            i = j + 1
            continue
        if len(rows) != 1:
            report.error(name, start + 1, None, "broken quoting: one line holds several rows; row skipped")
            i = (start + 1) if j > start else j + 1
            continue
        fields = rows[0]
        if n_fields is None:
            n_fields = len(fields)
        if len(fields) > n_fields:
            report.error(
                name, start + 1, None,
                f"expected {n_fields} fields, found {len(fields)} (a comma in an unquoted field?); row skipped",
            )  # fmt: skip
            i = (start + 1) if j > start else j + 1
            continue
        fields += [""] * (n_fields - len(fields))
        yield start + 1, fields
        i = j + 1
