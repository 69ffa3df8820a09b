"""Memory-mapped reading of ``np.savez`` files (numpy's own ``mmap_mode`` ignores ``.npz``).

``np.savez`` stores each array as an uncompressed ``.npy`` member of a zip file,
so a member's bytes can be mapped in place: several processes reading the same
file then share one copy in the page cache. Used for the neighbour table and,
in the server, the embeddings.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np


def load_npz(path: str | Path, *, mmap: bool = True) -> dict[str, np.ndarray]:
    """Arrays of an ``np.savez`` file; members stored uncompressed are memory-mapped
    read-only when ``mmap`` (numpy's own ``mmap_mode`` ignores ``.npz``)."""
    path = Path(path)
    out: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as zf, open(path, "rb") as raw:
        for info in zf.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if not mmap or info.compress_type != zipfile.ZIP_STORED:
                with zf.open(info) as f:
                    out[name] = np.lib.format.read_array(f, allow_pickle=False)
                continue
            raw.seek(info.header_offset)
            local = raw.read(30)
            if local[:4] != b"PK\x03\x04":
                raise ValueError(f"{path}: bad zip member header for {info.filename}")
            name_len, extra_len = int.from_bytes(local[26:28], "little"), int.from_bytes(local[28:30], "little")
            raw.seek(info.header_offset + 30 + name_len + extra_len)
            version = np.lib.format.read_magic(raw)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(raw)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(raw)
            else:
                raise ValueError(f"{path}: member {name} has npy format {version}")
            if dtype.hasobject:
                raise ValueError(f"{path}: member {name} holds objects")
            offset = raw.tell()
            if 0 in shape or dtype.itemsize == 0 or shape == ():
                raw.seek(offset)
                out[name] = np.frombuffer(raw.read(int(np.prod(shape)) * dtype.itemsize), dtype=dtype).reshape(shape)
            else:
                out[name] = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape,
                                      order="F" if fortran else "C")
    return out
