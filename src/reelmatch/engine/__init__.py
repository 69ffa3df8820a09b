"""Engines map a per-item function over items; the function knows nothing of scheduling.

``reelmatch.engine.local`` runs it in a process pool that survives hung and
crashing items (see :func:`reelmatch.engine.local.run_items`);
``reelmatch.engine.ray`` runs the same functions with Ray Data on a cluster.
``get_engine("local" | "ray", address=...)`` gives an object with
``map(fn, items)`` and ``map_batches(make_fn, batches)`` (see
:mod:`reelmatch.engine.base`).
"""

from reelmatch.engine.local import ItemFailure, run_items

#: engine names accepted by get_engine and the CLI's --engine
ENGINES = ("local", "ray")


def get_engine(engine=None, *, address: str | None = None, workers: int | None = None, **options):
    """An engine from its name (``None``/``"local"``: the process pool; ``"ray"``) or an engine as is.

    ``address`` (Ray only) is the cluster to connect to; ``workers`` the
    parallelism (processes for local, concurrent tasks or actors for Ray).
    """
    from reelmatch.errors import InputError

    if engine is not None and not isinstance(engine, str):
        return engine
    name = engine or "local"
    if name == "local":
        if address:
            raise InputError("--address is for --engine ray only")
        from reelmatch.engine.base import LocalEngine

        return LocalEngine(workers=workers)
    if name == "ray":
        from reelmatch.engine.ray import RayEngine

        return RayEngine(address, workers=workers, **options)
    raise InputError(f"unknown engine {name!r}: known engines are {', '.join(ENGINES)}")


__all__ = ["ENGINES", "ItemFailure", "get_engine", "run_items"]
