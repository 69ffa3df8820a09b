"""The sampling config of a clip: :class:`reelmatch.dataset.clip.ClipConfig` (it lives next to ``Clip``).

Defaults are the recipe's: skip the first 5 s, use the next 125 s, take K = 10
frames one every 12 s, 224x224 pixels.
"""

from reelmatch.dataset.clip import GEOMETRIES, SAMPLINGS, SPECTROGRAMS, ClipConfig

#: modules an extract worker needs, imported once by the local engine's fork server
WORKER_MODULES = ("av", "reelmatch.extract.clip", "reelmatch.extract.video", "reelmatch.extract.audio",
                  "reelmatch.dataset.store", "PIL.Image")

__all__ = ["GEOMETRIES", "SAMPLINGS", "SPECTROGRAMS", "WORKER_MODULES", "ClipConfig"]
