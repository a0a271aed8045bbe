"""Processes the runner starts in the background, each known by a PID file.

The local Cassandra node, the Spark Thrift Server and Superset share this lifecycle: spawn with
the output appended to a log, record the PID, find it again only when the PID file names a live
process whose command line is still ours, and stop it by that PID, never by process name.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path


def spawn(
    cmd: list[str], *, log_file: Path, pid_file: Path, env: dict[str, str], cwd: Path
) -> subprocess.Popen[bytes]:
    """Start `cmd` in its own session with stdout and stderr appended to `log_file`.

    A new session keeps the process out of the caller's terminal, so Ctrl-C in the runner does
    not stop a service that later runs may reuse.

    Returns:
        The process, whose PID is now in `pid_file`.
    """
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    pid_file.write_text(f"{proc.pid}\n")
    return proc


def live_pid(pid_file: Path, *markers: str) -> int | None:
    """The PID in `pid_file` if that process is alive and its command line contains every marker.

    PIDs are reused, so a live process counts only when its command line still shows it is ours.

    Args:
        pid_file: a file holding one PID.
        markers: strings that must each occur in `/proc/<pid>/cmdline`.

    Returns:
        The PID, or None when the file is missing or the process is gone or someone else's.
    """
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if not alive(pid):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if all(m.encode() in cmdline for m in markers) else None


def alive(pid: int) -> bool:
    """Whether process `pid` exists and has not exited (a zombie has: it is reaped if ours)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def terminate(pid: int, timeout: float) -> None:
    """Send SIGTERM, wait up to `timeout` seconds, then SIGKILL and wait until it is gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return
        time.sleep(0.2)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)


def stop(pid_file: Path, *markers: str, timeout: float) -> bool:
    """Stop the process of `pid_file` (see `live_pid`) with `terminate`, then remove the file.

    A PID file whose process is gone, or is not ours, is just removed.

    Returns:
        Whether a running process was stopped.
    """
    pid = live_pid(pid_file, *markers)
    if pid is not None:
        terminate(pid, timeout)
    pid_file.unlink(missing_ok=True)
    return pid is not None


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections on `host:port`."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = 5) -> str:
    """The last `lines` lines of a log file, or `(no log)` when it cannot be read."""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])
