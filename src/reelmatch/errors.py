"""Domain exceptions. The CLI turns them into one-line messages and exit codes."""


class ReelmatchError(Exception):
    """Base class: a problem the user can act on. ``str(e)`` is one line."""

    exit_code = 1


class WorkspaceError(ReelmatchError):
    """The workspace is missing, not initialised, or of another schema version."""


class InputError(ReelmatchError):
    """Bad user input: a file, row or field that cannot be used."""

    exit_code = 2


class NotFoundError(ReelmatchError):
    """An id, title or artifact that does not exist."""


class StaleArtifactError(ReelmatchError):
    """An artifact made with another config than the one asked for."""


class MissingDependencyError(ReelmatchError):
    """An optional dependency is not installed; the message says what to install."""


class NotBuiltError(ReelmatchError):
    """A command whose stage is not implemented yet."""


def require(module: str, extra: str):
    """Import ``module`` or raise a clear "install reelmatch[extra]" error."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:  # pragma: no cover - depends on environment
        raise MissingDependencyError(
            f"{module} is not installed: pip install 'reelmatch[{extra}]' ({e})"
        ) from e
