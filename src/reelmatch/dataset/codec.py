"""Frame codecs of clip records: raw uint8 arrays, or JPEG/WebP pictures decoded on read.

``encode_frames(frames uint8 [K,S,S,3], mask bool [K], codec, quality)`` gives one
picture per real frame, member suffix -> bytes, in the WebDataset convention
(``<key>.f00.jpg``, ``<key>.f01.jpg``...: the extension names the decoder);
padding frames are not stored (they are zeros, the mask says which).
``decode_frames(members, mask, shape)`` rebuilds the uint8 array.
"""

from __future__ import annotations

import io

import numpy as np

#: codec -> (file extension of its members, Pillow format name)
LOSSY = {"jpeg": ("jpg", "JPEG"), "webp": ("webp", "WEBP")}


def frame_suffix(n: int, codec: str) -> str:
    """Member suffix of frame ``n``: ``f03.jpg``."""
    return f"f{n:02d}.{LOSSY[codec][0]}"


def encode_frames(frames: np.ndarray, mask: np.ndarray, codec: str, quality: int) -> dict[str, bytes]:
    """One compressed picture per real frame of ``frames`` (uint8 [K,S,S,3]): ``{suffix: bytes}``."""
    from PIL import Image

    ext, fmt = LOSSY[codec]
    options = {"quality": int(quality)}
    if fmt == "JPEG":
        # 4:4:4 from q90; optimised Huffman tables: ~13% smaller, the same pixels decoded
        options.update(subsampling=0 if quality >= 90 else 2, optimize=True)
    else:
        options.update(method=4)
    out = {}
    for n in np.flatnonzero(np.asarray(mask, dtype=bool)):
        image = Image.fromarray(np.ascontiguousarray(frames[n]), "RGB")
        buf = io.BytesIO()
        try:
            image.save(buf, fmt, **options)
        except OSError:  # Pillow's optimising encoder can run out of buffer (seen at q100): plain tables
            if not options.get("optimize"):
                raise
            buf = io.BytesIO()
            image.save(buf, fmt, **{**options, "optimize": False})
        out[frame_suffix(int(n), codec)] = buf.getvalue()
    return out


def decode_frames(members: dict[str, bytes], mask: np.ndarray, shape: tuple[int, ...], codec: str,
                  where: str = "record") -> np.ndarray:
    """The uint8 [K,S,S,3] frames of a record whose real frames are ``members`` pictures.

    A missing or undecodable picture, or one of the wrong size, is a ``ValueError`` naming
    ``where`` and the member.
    """
    from PIL import Image

    frames = np.zeros(shape, np.uint8)
    for n in np.flatnonzero(np.asarray(mask, dtype=bool)):
        suffix = frame_suffix(int(n), codec)
        data = members.get(suffix)
        if data is None:
            raise ValueError(f"{where}: member {suffix} is missing")
        try:
            with Image.open(io.BytesIO(data)) as im:
                a = np.asarray(im.convert("RGB"))
        except Exception as e:  # noqa: BLE001 - any decoder error names the member
            raise ValueError(f"{where}: member {suffix} does not decode ({type(e).__name__}: {e})") from None
        if a.shape != tuple(shape[1:]):
            raise ValueError(f"{where}: member {suffix} is {a.shape}, expected {tuple(shape[1:])}")
        frames[n] = a
    return frames
