"""The sampling config of a clip: :class:`reelmatch.dataset.clip.ClipConfig` (it lives next to ``Clip``).

Defaults are the recipe's: skip the first 5 s, use the next 125 s, take K = 10
frames one every 12 s, 224x224 pixels.
"""

from reelmatch.dataset.clip import GEOMETRIES, SAMPLINGS, SPECTROGRAMS, ClipConfig

__all__ = ["GEOMETRIES", "SAMPLINGS", "SPECTROGRAMS", "ClipConfig"]
