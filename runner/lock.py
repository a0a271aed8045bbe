"""One build at a time per project: a file lock held for the whole command.

`build`, `run`, `test` and `retry` write the same marts, staged folders and artifacts; a second
one on the same project fails at once, naming the process that holds the lock. The lock is the
kernel's (flock): a killed runner releases it with its last file descriptor.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from runner.errors import ProjectLockedError
from runner.paths import ensure_private_dir, state_dir


@contextmanager
def project_lock(project_dir: Path, what: str = "building") -> Iterator[None]:
    """Hold the project's lock, or raise ProjectLockedError naming the holder's PID."""
    folder = ensure_private_dir(state_dir(project_dir, "locks"))
    lock = FileLock(str(folder / "project.lock"), timeout=0)
    owner = folder / "project.pid"
    try:
        lock.acquire()
    except Timeout:
        pid = owner.read_text().strip() if owner.exists() else "?"
        raise ProjectLockedError(
            f"another runner (pid {pid}) is {what} this project ({project_dir.resolve()})",
            hint="wait for it to finish, or stop it (Ctrl-C / kill PID): the lock is released "
            "when that process ends",
        ) from None
    try:
        owner.write_text(f"{os.getpid()}\n")
        yield
    finally:
        owner.unlink(missing_ok=True)
        lock.release()
