"""Engines map a per-item function over items; the function knows nothing of scheduling.

``reelmatch.engine.local`` runs it in a process pool that survives hung and
crashing items (see :func:`reelmatch.engine.local.run_items`);
``reelmatch.engine.ray`` runs the same functions with Ray Data on a cluster.
``get_engine("local" | "ray", address=...)`` gives an object with
``map(fn, items)`` and ``map_batches(make_fn, batches)`` (see
:mod:`reelmatch.engine.base`). Engines are a registry, like the backbones:
``register_engine(name)`` adds one, ``list_engines()`` names them.

Stages never import this package: :func:`reelmatch.runner.run_stage` maps their
per-item functions on whichever engine it is given.
"""

from __future__ import annotations

from collections.abc import Callable

from reelmatch.errors import ItemFailure

_ENGINES: dict[str, Callable] = {}


def register_engine(name: str):
    """Decorator: ``factory(address=None, workers=None, **options) -> engine`` is known as ``name``."""

    def deco(factory):
        _ENGINES[name] = factory
        return factory

    return deco


def list_engines() -> list[str]:
    """Names accepted by :func:`get_engine` and the CLI's ``--engine``, in registration order."""
    return list(_ENGINES)


@register_engine("local")
def _local(address: str | None = None, workers: int | None = None, **options):
    from reelmatch.engine.base import LocalEngine
    from reelmatch.errors import InputError

    if address:
        raise InputError("--address is for --engine ray only")
    if options:
        raise InputError(f"the local engine takes no options {sorted(options)}")
    return LocalEngine(workers=workers)


@register_engine("ray")
def _ray(address: str | None = None, workers: int | None = None, **options):
    from reelmatch.engine.ray import RayEngine

    return RayEngine(address, workers=workers, **options)


#: engine names accepted by get_engine and the CLI's --engine
ENGINES = tuple(list_engines())


def get_engine(engine=None, *, address: str | None = None, workers: int | None = None, **options):
    """An engine from its name (``None``/``"local"``: the process pool; ``"ray"``) or an engine as is.

    ``address`` (Ray only) is the cluster to connect to; ``workers`` the
    parallelism (processes for local, concurrent tasks or actors for Ray).
    """
    from reelmatch.errors import InputError

    if engine is not None and not isinstance(engine, str):
        return engine
    name = engine or "local"
    if name not in _ENGINES:
        raise InputError(f"unknown engine {name!r}: known engines are {', '.join(list_engines())}")
    return _ENGINES[name](address=address, workers=workers, **options)


def run_items(*args, **kwargs):
    """:func:`reelmatch.engine.local.run_items` (imported lazily)."""
    from reelmatch.engine.local import run_items as run

    return run(*args, **kwargs)


__all__ = ["ENGINES", "ItemFailure", "get_engine", "list_engines", "register_engine", "run_items"]
