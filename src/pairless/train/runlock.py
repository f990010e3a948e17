"""One training process per run folder: a lock the operating system releases when its holder ends.

`train --out X` while another process trains into X, or `train --resume X` while X is still training, would
mix two runs' configs, checkpoints and metrics in one folder. The lock is an `flock` on a file in the run
folder, taken without waiting; the kernel drops it when the process ends in any way (even killed), so a
lock left behind by a crashed run never blocks a later resume. The file holds the holder's process id for
the message, and is removed (while still locked) when the run ends.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from pairless.checkpoint import LOCK_FILE
from pairless.errors import PairlessError, writing


@contextmanager
def run_folder_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run folder's lock for the block, or refuse at once. A folder it creates and leaves empty (a
    run that stopped before writing anything) is removed again; a file in its place is left for training
    to refuse with its own message."""
    if run_dir.exists() and not run_dir.is_dir():
        yield
        return
    created = not run_dir.exists()
    with writing(run_dir):
        run_dir.mkdir(parents=True, exist_ok=True)
    handle = locked_file(run_dir)
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            (run_dir / LOCK_FILE).unlink(missing_ok=True)
            if created and not any(run_dir.iterdir()):
                run_dir.rmdir()
    finally:
        handle.close()


def locked_file(run_dir: Path) -> IO[str]:
    """The lock file, opened and locked. A holder that ends removes the file while it still holds the lock,
    so a file locked just after that is no longer the one the folder shows: then lock the new one."""
    path = run_dir / LOCK_FILE
    while True:
        with writing(path):
            handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise PairlessError(f"{run_dir} is in use by pairless process {holder}: wait for it to end (or stop it: "
                                f"Ctrl-C and SIGTERM save), or choose another --out") from None
        if _same_file(handle, path):
            return handle
        handle.close()


def _same_file(handle: IO[str], path: Path) -> bool:
    try:
        return os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False
