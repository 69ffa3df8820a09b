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


class BusyError(ReelmatchError):
    """Another process is writing the same stage of this workspace."""


class ItemFailure(ReelmatchError):
    """One item failed. ``kind`` is ``"error"``, ``"timeout"`` or ``"crash"``; ``str()`` is one line.

    Engines yield it in place of a result (never raise it); stages record its
    ``reason`` in the catalogue.
    """

    def __init__(self, reason: str, kind: str = "error", error_type: str | None = None):
        self.reason = " ".join(str(reason).split()) or "unknown error"
        self.kind = kind
        self.error_type = error_type
        super().__init__(self.reason)

    def __reduce__(self):
        return (ItemFailure, (self.reason, self.kind, self.error_type))


def failure_from_exception(e: BaseException) -> ItemFailure:
    """An :class:`ItemFailure` with a one-line reason for ``e``.

    reelmatch errors keep their own message (it is written for users); other
    exceptions are prefixed with their type so the reason stays meaningful.
    """
    if isinstance(e, ItemFailure):
        return e
    msg = " ".join(str(e).split())
    if isinstance(e, ReelmatchError):
        reason = msg or type(e).__name__
    else:
        reason = f"{type(e).__name__}: {msg}" if msg else type(e).__name__
    return ItemFailure(reason, "error", type(e).__name__)


def one_line(e: BaseException, *, with_type: bool = False, limit: int | None = None) -> str:
    """One line describing ``e``: FFmpeg (and OS) errors by their message alone,
    without errno and file path; whitespace collapsed; the type name when the
    message is empty (or always, before it, with ``with_type``); cut to ``limit``."""
    strerror = getattr(e, "strerror", None)
    msg = " ".join((strerror if isinstance(strerror, str) and strerror else str(e)).split())
    if with_type:
        msg = f"{type(e).__name__}: {msg}" if msg else type(e).__name__
    msg = msg or type(e).__name__
    return msg[:limit] if limit else msg


def require(module: str, extra: str):
    """Import ``module`` or raise a clear "install reelmatch[extra]" error."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:  # pragma: no cover - depends on environment
        raise MissingDependencyError(
            f"{module} is not installed: pip install 'reelmatch[{extra}]' ({e})"
        ) from e
