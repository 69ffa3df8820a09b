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


def encode_spectrogram_png(spec: np.ndarray) -> tuple[bytes, list[float]]:
    """A float [H,W] spectrogram as an 8-bit grayscale PNG over its range: ``(png bytes, [lo, hi])``.

    Values map linearly from ``[lo, hi]`` (``lo = min(0, spec.min())``, ``hi = max(1, spec.max())``:
    the log-mel's [0, 1] scale unless it goes beyond) to 0..255, so the error is at most
    ``(hi - lo) / 510`` (0.16 dB of the 80 dB log-mel scale). Deterministic bytes.
    """
    from PIL import Image

    spec = np.asarray(spec, dtype=np.float32)
    if spec.ndim != 2:
        raise ValueError(f"spectrogram PNG needs a 2-D array, got shape {spec.shape}")
    if not np.isfinite(spec).all():
        raise ValueError("spectrogram PNG needs finite values (NaN or inf found)")
    lo, hi = min(0.0, float(spec.min())), max(1.0, float(spec.max()))
    q = np.rint((spec - lo) * (255.0 / (hi - lo))).clip(0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(q, "L").save(buf, "PNG", optimize=True)
    return buf.getvalue(), [lo, hi]


def decode_spectrogram_png(data: bytes, value_range, shape, where: str = "record") -> np.ndarray:
    """The float32 [H,W] spectrogram of :func:`encode_spectrogram_png`'s bytes and range."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            q = np.asarray(im.convert("L"))
    except Exception as e:  # noqa: BLE001 - any decoder error names the member
        raise ValueError(f"{where}: member spectrogram.png does not decode ({type(e).__name__}: {e})") from None
    if q.shape != tuple(shape):
        raise ValueError(f"{where}: member spectrogram.png is {q.shape}, expected {tuple(shape)}")
    lo, hi = (float(v) for v in value_range)
    return (lo + q.astype(np.float32) * np.float32((hi - lo) / 255.0)).astype(np.float32)
