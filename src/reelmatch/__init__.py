"""reelmatch: recommend movie trailers by how they look and sound.

Library first: every stage is a function over a :class:`Workspace`; the
``reelmatch`` command line is a thin layer on top. Heavy libraries (torch, av,
faiss, ray, fastapi) are imported only where they are used.
"""

__version__ = "0.1.0"

__all__ = ["Workspace", "ReelmatchError", "__version__"]


def __getattr__(name):  # lazy, keeps `import reelmatch` light
    if name == "Workspace":
        from reelmatch.workspace import Workspace

        return Workspace
    if name == "ReelmatchError":
        from reelmatch.errors import ReelmatchError

        return ReelmatchError
    raise AttributeError(name)
