"""Errors a user can act on.

The CLI prints a `PairlessError` as one line (`error: ...`) and exits with code 2; anything else is a bug.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class PairlessError(Exception):
    """A problem with the user's input, options or files; the message says what to change."""


class BadImageError(PairlessError):
    """An image file that cannot be read or decoded."""


class StoppedBySignal(BaseException):
    """Work stopped on a signal (Ctrl-C: SIGINT, or SIGTERM). The CLI exits with the shell's code for a
    process ended by that signal, 128 + its number (130, 143). Like KeyboardInterrupt it passes `except
    Exception`; unlike it, the CLI framework does not turn it into exit code 130 whatever the signal."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def user_message(exc: BaseException) -> str:
    """The one-line message of a `PairlessError`, also when a DataLoader worker re-raised it.

    A worker's exception comes back with the worker's traceback folded into its message; the user needs
    only the original message, which is the traceback's last line after the class name.
    """
    text = str(exc)
    if "Original Traceback" in text:
        marker = f"{type(exc).__name__}: "
        last = text.rstrip().splitlines()[-1]
        text = last.split(marker, 1)[1] if marker in last else last
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def write_failure(path: str | Path, exc: OSError) -> str:
    """What went wrong writing `path`, in the user's terms (a full disk, a file where a folder should be)."""
    path = Path(path)
    if exc.errno == errno.ENOSPC:
        return f"no space left writing {path}"
    if exc.errno == errno.EISDIR:
        return f"cannot write {path}: it is a folder"
    blocking = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if exc.errno in (errno.ENOTDIR, errno.EEXIST) and blocking is not None:
        return f"cannot write {path}: {blocking} is a file, not a folder"
    return f"cannot write {path}: {exc.strerror or exc}"


MACHINE_REFUSALS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS})
"""Errors that come from the machine (a full disk, permissions), not from a bug."""


def is_machine_refusal(exc: OSError) -> bool:
    return exc.errno in MACHINE_REFUSALS


def machine_refusal_message(exc: OSError) -> str:
    """One line for an error of MACHINE_REFUSALS that no `writing` block caught (e.g. a log line)."""
    if exc.errno == errno.ENOSPC and exc.filename:
        return write_failure(exc.filename, exc)
    return f"{exc.strerror}: {exc.filename}" if exc.filename else str(exc.strerror or exc)


@contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Turn an operating-system error while writing `path` into a one-line `PairlessError` naming it."""
    try:
        yield
    except OSError as exc:
        raise PairlessError(write_failure(path, exc)) from None
