"""The two frame geometries as pure functions: sizes and the libavfilter chain.

* ``recipe``: ``scale=560:-1,crop=224:224`` exactly as the recipe's ffmpeg call
  (display rotation applied first, as the ffmpeg CLI does; sample aspect ratio
  ignored, as ``scale=560:-1`` does). For other sizes the scale width is
  ``2.5 * size``.
* ``fit`` (default): rotation and sample aspect ratio applied, then the short
  side scaled to ``size`` and the centre cropped to a square. Beyond 2:1
  (ultra-wide, tall strips) a square crop would lose more than half the picture,
  so the crop keeps the central half of the long side and is letterboxed (black
  bars) into the square. Tiny videos are scaled up. Works for every shape.

:class:`reelmatch.extract.convert.FrameConverter` runs the chain on decoded frames.
"""

from __future__ import annotations

from fractions import Fraction

#: the fit geometry never crops away more than 1 - 1/FIT_MAX_ASPECT of the long side
FIT_MAX_ASPECT = 2.0


def _rotation_filters(rotation: int) -> list[tuple[str, str]]:
    # rotation is counter-clockwise (av_display_rotation_get); the ffmpeg CLI
    # turns 90 into transpose=cclock, 270 (= -90) into transpose=clock
    if rotation == 90:
        return [("transpose", "cclock")]
    if rotation == 180:
        return [("hflip", ""), ("vflip", "")]
    if rotation == 270:
        return [("transpose", "clock")]
    return []


def fit_box(width: int, height: int, size: int, max_loss: float = FIT_MAX_ASPECT):
    """Geometry of the fit mode for a display frame of ``width x height``.

    Returns ``(scaled_w, scaled_h, crop_w, crop_h)``: scale to ``scaled``, take the
    centred ``crop`` region, pad it (centred, black) to ``size x size``. The crop
    is square while that keeps at least ``1/max_loss`` of the long side (aspect
    up to 2:1); beyond, it keeps exactly that fraction and is letterboxed, so no
    video loses more than half its picture and the geometry varies continuously.
    """
    aspect = width / height
    long_ratio = max(aspect, 1 / aspect)
    crop_ratio = max(1.0, long_ratio / max_loss)  # long side : short side of the kept region
    short = max(int(round(size / crop_ratio)), 1)
    if aspect >= 1:
        crop_w, crop_h = size, short
        scale = crop_h / height
    else:
        crop_w, crop_h = short, size
        scale = crop_w / width
    scaled_w = max(int(round(width * scale)), crop_w)
    scaled_h = max(int(round(height * scale)), crop_h)
    return scaled_w, scaled_h, crop_w, crop_h


def geometry_filters(geometry: str, size: int, width: int, height: int, sar: Fraction, rotation: int):
    """The libavfilter chain ``[(name, args)]`` turning a decoded frame into ``size x size`` RGB."""
    chain = _rotation_filters(rotation)
    if rotation in (90, 270):
        width, height = height, width
        sar = 1 / sar if sar else sar
    if geometry == "recipe":
        sw = int(round(size * 2.5))
        chain += [("scale", f"{sw}:-1"), ("crop", f"{size}:{size}")]
    else:
        dw = width * float(sar) if sar and sar > 0 else float(width)
        scaled_w, scaled_h, crop_w, crop_h = fit_box(max(int(round(dw)), 1), height, size)
        chain += [("scale", f"{scaled_w}:{scaled_h}:flags=area"), ("setsar", "1")]
        if (scaled_w, scaled_h) != (crop_w, crop_h):
            chain.append(("crop", f"{crop_w}:{crop_h}:exact=1"))
        if (crop_w, crop_h) != (size, size):
            chain.append(("pad", f"{size}:{size}:(ow-iw)/2:(oh-ih)/2:black"))
    chain.append(("format", "rgb24"))
    return chain
