"""Scenes of long videos: boundaries (PySceneDetect over frames decoded by the media layer),
one embedding per scene from the same towers as items, and ad placement by scene.

>>> run_scenes(ws)                                     # the resumable ``scenes`` stage
>>> load_scenes(ws, item_id).scenes                    # [Scene(start, end)]
>>> ws.match_ad("spot.mp4", scenes=True)               # best scenes and break candidates per movie
"""

from reelmatch.scenes.config import ScenesConfig
from reelmatch.scenes.detect import Scene, boundary_f1, detect_scenes, scenes_from_cuts
from reelmatch.scenes.stage import SCENES, load_scenes, run_scenes

__all__ = ["SCENES", "Scene", "ScenesConfig", "boundary_f1", "detect_scenes", "load_scenes", "run_scenes",
           "scenes_from_cuts"]
