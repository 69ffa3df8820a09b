"""The sampling config of a clip: :class:`reelmatch.dataset.clip.ClipConfig` (it lives next to ``Clip``).

Defaults are the recipe's: skip the first 5 s, use the next 125 s, take K = 10
frames one every 12 s, 224x224 pixels.
"""

from reelmatch.dataset.clip import GEOMETRIES, SAMPLINGS, SPECTROGRAMS, ClipConfig

#: modules an extract worker needs, imported once by the local engine's fork server (every
#: module a worker would import on its first item: each worker would pay for the rest again;
#: the PIL plugins are the ones ``Image.save`` loads on first use)
WORKER_MODULES = ("av", "reelmatch.extract.run", "reelmatch.extract.clip", "reelmatch.extract.video",
                  "reelmatch.extract.audio", "reelmatch.extract.convert", "reelmatch.media",
                  "reelmatch.dataset.splits", "reelmatch.dataset.store", "PIL.Image", "PIL.BmpImagePlugin",
                  "PIL.GifImagePlugin", "PIL.JpegImagePlugin", "PIL.PpmImagePlugin", "PIL.PngImagePlugin")

__all__ = ["GEOMETRIES", "SAMPLINGS", "SPECTROGRAMS", "WORKER_MODULES", "ClipConfig"]
