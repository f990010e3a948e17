"""Errors a user can act on.

The CLI prints a `PairlessError` as one line (`error: ...`) and exits with code 2; anything else is a bug.
"""


class PairlessError(Exception):
    """A problem with the user's input, options or files; the message says what to change."""


class BadImageError(PairlessError):
    """An image file that cannot be read or decoded."""


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
