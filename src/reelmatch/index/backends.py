"""Index backend registry: ``list_backends()``, ``backend_class(name)``.

Registered (the default first): ``faiss`` (:class:`~reelmatch.index.faiss_backend.FaissIndex`,
incremental add/remove) and ``annoy`` (:class:`~reelmatch.index.annoy_backend.AnnoyIndex`,
the recipe's; rebuilt on change). A backend's module is imported only when its
class is asked for, so listing the names stays light (``reelmatch --help``).
"""

from __future__ import annotations

import importlib

from reelmatch.errors import InputError

#: name -> "module:class", in the order listed (the default first)
_REGISTRY: dict[str, str] = {}


def register(name: str, target: str) -> None:
    """Register the index class ``target`` (``"package.module:Class"``) as backend ``name``."""
    _REGISTRY[name] = target


register("faiss", "reelmatch.index.faiss_backend:FaissIndex")
register("annoy", "reelmatch.index.annoy_backend:AnnoyIndex")


def list_backends() -> list[str]:
    """Names accepted by :func:`backend_class` and ``IndexConfig(backend=...)``, the default first."""
    return list(_REGISTRY)


def backend_class(name: str):
    """The :class:`~reelmatch.index.base.Index` subclass of backend ``name``."""
    if name not in _REGISTRY:
        raise InputError(f"index backend {name!r} is not one of {', '.join(list_backends())}")
    module, cls = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)
