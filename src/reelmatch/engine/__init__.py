"""Engines map a per-item function over items; the function knows nothing of scheduling.

``reelmatch.engine.local`` runs it in a process pool that survives hung and
crashing items (see :func:`reelmatch.engine.local.run_items`).
"""

from reelmatch.engine.local import ItemFailure, run_items

__all__ = ["ItemFailure", "run_items"]
