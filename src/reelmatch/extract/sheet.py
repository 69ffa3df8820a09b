"""Contact sheet: a PNG of what the model sees for one clip (frames + spectrogram)."""

from __future__ import annotations

import numpy as np

#: anchor colours of the spectrogram colour map (dark blue -> magenta -> yellow)
_CMAP = np.array(
    [[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21], [250, 193, 39], [252, 255, 164]],
    dtype=np.float32,
)


def colorize(x: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] (float [H, W]) to uint8 RGB [H, W, 3]."""
    x = np.clip(np.nan_to_num(x.astype(np.float32)), 0.0, 1.0) * (len(_CMAP) - 1)
    i = np.minimum(np.floor(x).astype(np.int64), len(_CMAP) - 2)
    f = (x - i)[..., None]
    return (_CMAP[i] * (1 - f) + _CMAP[i + 1] * f).astype(np.uint8)


def spectrogram_image(spec: np.ndarray) -> np.ndarray:
    """uint8 RGB [H, W, 3] of a clip's spectrogram (low frequencies at the bottom)."""
    if spec.ndim == 3:  # the recipe's picture already is one
        return np.ascontiguousarray(spec.astype(np.uint8))
    hi = float(spec.max()) if spec.size else 0.0
    return colorize(spec[::-1] / hi if hi > 0 else spec[::-1])


def contact_sheet(clip, title: str | None = None, columns: int = 5):
    """A PIL image: the K frames in a grid (timestamps under each, padding greyed) and the spectrogram."""
    from PIL import Image, ImageDraw

    k, s = clip.frames.shape[0], clip.frames.shape[1]
    columns = max(min(columns, k), 1)
    rows = (k + columns - 1) // columns
    pad, label_h, head_h = 6, 16, 22
    spec = spectrogram_image(clip.spectrogram)
    width = columns * (s + pad) + pad
    spec_w = width - 2 * pad
    spec_h = max(int(round(spec.shape[0] * spec_w / max(spec.shape[1], 1))), 48)
    spec_h = min(spec_h, 2 * s)
    height = head_h + rows * (s + label_h + pad) + pad + label_h + spec_h + pad
    sheet = Image.new("RGB", (width, height), (24, 24, 28))
    draw = ImageDraw.Draw(sheet)
    head = f"{title or clip.meta.get('title') or clip.id}  [{clip.id}]  split={clip.split}"
    draw.text((pad, 4), head, fill=(235, 235, 235))
    for n in range(k):
        r, c = divmod(n, columns)
        x, y = pad + c * (s + pad), head_h + r * (s + label_h + pad)
        if clip.mask[n]:
            sheet.paste(Image.fromarray(clip.frames[n]), (x, y))
            label = f"#{n}  {float(clip.timestamps[n]):.2f} s"
        else:
            draw.rectangle([x, y, x + s - 1, y + s - 1], fill=(60, 60, 64))
            draw.line([x, y, x + s - 1, y + s - 1], fill=(90, 90, 96))
            label = f"#{n}  padding"
        draw.text((x, y + s + 2), label, fill=(200, 200, 200))
    y = head_h + rows * (s + label_h + pad) + pad
    kind = "log-mel" if clip.spectrogram.ndim == 2 else "showspectrumpic"
    audio = "audio" if clip.has_audio else "NO AUDIO (zeros)"
    draw.text((pad, y), f"spectrogram ({kind}, {audio})", fill=(235, 235, 235))
    sheet.paste(Image.fromarray(spec).resize((spec_w, spec_h), Image.BILINEAR), (pad, y + label_h))
    return sheet
