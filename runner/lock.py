"""One build at a time per project: a file lock held for the whole command.

`build`, `run`, `test`, `retry` and `clean` write or read the same marts, staged folders and
artifacts; a second one on the same project fails at once, naming the command that holds the
lock and the process to stop. The lock is the kernel's (flock): a killed runner releases it with
its last file descriptor.

The holder is recorded beside the lock (`.runner/locks/project.json`). A command the warm engine
runs is held by the engine's process, but its holder is the client that asked for it: stopping
that client (Ctrl-C, `kill PID`) cancels the build and leaves the engine serving, while killing
the engine would stop every later build's warm session too.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from runner.errors import ProjectLockedError
from runner.paths import ensure_private_dir, state_dir


@dataclass(frozen=True)
class LockHolder:
    """Who holds the project lock: the process a user stops to end the command, and what it runs.

    Attributes:
        pid: the process running the command, or, in the warm engine, its client.
        command: the command line, as typed (`runner build -s segment_summary`).
        engine_pid: the warm engine that runs the command for client `pid`; None in a process.
        what: what the command does to the project, as the refused one is told (`building`).
    """

    pid: int
    command: str
    engine_pid: int | None = None
    what: str = "building"


def this_process(argv: Sequence[str], what: str = "building") -> LockHolder:
    """The holder for a command this process runs itself, from its arguments (`sys.argv[1:]`).

    Example:
        >>> this_process(["build", "-s", "a b"]).command
        "runner build -s 'a b'"
    """
    return LockHolder(pid=os.getpid(), command=shlex.join(["runner", *argv]), what=what)


def locked_message(holder: LockHolder | None, project_dir: Path) -> ProjectLockedError:
    """The error a second command gets while `holder` holds the lock (None: not recorded).

    Example:
        >>> err = locked_message(LockHolder(7, "runner run", engine_pid=9), Path("/p"))
        >>> err.message.split("): ", 1)[1]
        '`runner run` in the warm engine (pid 9)'
        >>> "`kill 7` (its client: the engine cancels the build" in err.hint
        True
    """
    if holder is None:
        return ProjectLockedError(
            f"another runner is using this project ({project_dir})",
            hint="wait for it to finish, or stop it with Ctrl-C where it runs; the lock is "
            "released when that command ends",
        )
    where = "" if holder.engine_pid is None else f" in the warm engine (pid {holder.engine_pid})"
    stop = f"Ctrl-C where it runs or `kill {holder.pid}`"
    if holder.engine_pid is None:
        hint = f"wait for it to finish, or stop it with {stop}; the lock is released when that "
        hint += "process ends"
    else:
        hint = (f"wait for it to finish, or stop it with {stop} (its client: the engine cancels "
                "the build and keeps serving); the lock is released when that build ends")
    return ProjectLockedError(
        f"another runner (pid {holder.pid}) is {holder.what} this project ({project_dir}): "
        f"`{holder.command}`{where}",
        hint=hint,
    )


def _read_holder(path: Path) -> LockHolder | None:
    """The recorded holder; None when there is none yet (the lock was just taken) or the file
    is not one this runner wrote."""
    try:
        data = json.loads(path.read_text())
        return LockHolder(pid=int(data["pid"]), command=str(data["command"]),
                          engine_pid=None if data.get("engine_pid") is None
                          else int(data["engine_pid"]),
                          what=str(data.get("what") or "building"))
    except (OSError, ValueError, TypeError, KeyError):
        return None


@contextmanager
def project_lock(project_dir: Path, holder: LockHolder) -> Iterator[None]:
    """Hold the project's lock, or raise ProjectLockedError naming the command holding it.

    Args:
        project_dir: the project folder (its `.runner/locks/`).
        holder: this command, recorded for the next one to name.
    """
    folder = ensure_private_dir(state_dir(project_dir, "locks"))
    lock = FileLock(str(folder / "project.lock"), timeout=0)
    record = folder / "project.json"
    try:
        lock.acquire()
    except Timeout:
        raise locked_message(_read_holder(record), project_dir.resolve()) from None
    try:
        record.write_text(json.dumps(asdict(holder)) + "\n")
        yield
    finally:
        record.unlink(missing_ok=True)
        lock.release()
