"""Processes the runner starts in the background, each known by a PID file.

The local Cassandra node, the Spark Thrift Server and Superset share this lifecycle: spawn with
the output appended to a log, record the PID, find it again only when the PID file names a live
process whose command line is still ours, and stop it by that PID, never by process name.
`ManagedProcess` bundles those files for one service, `wait_ready` polls it until it answers.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from runner.child_env import SECRET_ENV
from runner.errors import ServiceError


def open_log(path: Path, *, append: bool = True) -> BinaryIO:
    """Open a service's log for writing, readable by its owner only (0600), even if it existed."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "ab" if append else "wb")


def spawn(
    cmd: list[str], *, log_file: Path, pid_file: Path, env: dict[str, str], cwd: Path
) -> subprocess.Popen[bytes]:
    """Start `cmd` in its own session with stdout and stderr appended to `log_file`.

    A new session keeps the process out of the caller's terminal, so Ctrl-C in the runner does
    not stop a service that later runs may reuse.

    Secret variables are removed from `env` (`runner.child_env`); the log is the owner's only.

    Returns:
        The process, whose PID is now in `pid_file`.
    """
    with open_log(log_file) as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in env.items() if not SECRET_ENV.search(k)},
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


LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class ServiceInfo:
    """A service that answered its readiness check.

    Args:
        name: `thrift` or `superset`.
        url: where clients reach it (`hive://runner@127.0.0.1:10000/default`, `http://...`).
        pid: process id when the runner manages it, else None.
        started: whether this call launched the process (False: a running one was reused).
        seconds: wall time of this call, install and initialization included.
        log_path: the service's log file when managed.
        note: something to tell the user once (e.g. where a generated password is).
    """

    name: str
    url: str
    pid: int | None
    started: bool
    seconds: float
    log_path: Path | None = None
    note: str | None = None


@dataclass(frozen=True)
class ServiceStatus:
    """Whether a managed service runs: its PID, URL and log, or `not running`."""

    name: str
    running: bool
    pid: int | None
    url: str
    detail: str


@dataclass(frozen=True)
class ManagedProcess:
    """A background service of the project: its state folder, PID file, log and URL file.

    Args:
        name: the service's name in `runner status` (`thrift`, `superset`).
        label: its name in messages (`the Spark Thrift Server`).
        state_dir: its folder under `<project>/.runner`.
        pid_name, log_name: file names in `state_dir`.
        marker: a string of its command line, so a recycled PID is never taken for it.
    """

    name: str
    label: str
    state_dir: Path
    pid_name: str
    log_name: str
    marker: str

    @property
    def pid_file(self) -> Path:
        return self.state_dir / self.pid_name

    @property
    def log_file(self) -> Path:
        return self.state_dir / self.log_name

    @property
    def url_file(self) -> Path:
        return self.state_dir / f"{self.name}.url"

    def live_pid(self) -> int | None:
        """Its PID while it runs (see `live_pid`)."""
        return live_pid(self.pid_file, self.marker)

    def spawn(
        self, cmd: list[str], *, url: str, env: dict[str, str], cwd: Path
    ) -> subprocess.Popen[bytes]:
        """Start it (see `spawn`) and record the URL it will serve."""
        proc = spawn(cmd, log_file=self.log_file, pid_file=self.pid_file, env=env, cwd=cwd)
        self.url_file.write_text(url)
        return proc

    def stop(self, timeout: float = 30) -> bool:
        """Stop it by its PID file (see `stop`); whether it was running."""
        return stop(self.pid_file, self.marker, timeout=timeout)

    def status(self) -> ServiceStatus:
        pid = self.live_pid()
        url = self.url_file.read_text().strip() if self.url_file.exists() else ""
        detail = f"pid {pid}, log {self.log_file}" if pid else "not running"
        return ServiceStatus(self.name, pid is not None, pid, url, detail)

    def exited(self, proc: subprocess.Popen[bytes] | None) -> bool:
        """Whether it is gone; `proc` is the process this run started, if any."""
        # While exec() chains bash -> java, /proc/<pid>/cmdline can read empty; ask Popen instead.
        if proc is not None:
            return proc.poll() is not None
        return self.live_pid() is None


def wait_ready(
    probe: Callable[[], str | None],
    timeout_message: Callable[[str], str],
    *,
    timeout: float,
    interval: float,
    remote_hint: str,
    service: ManagedProcess | None = None,
    proc: subprocess.Popen[bytes] | None = None,
) -> None:
    """Call `probe` every `interval` seconds until it answers None (ready).

    Args:
        probe: one readiness check; returns None when ready, else why not.
        timeout_message: the error message after `timeout` seconds, from probe's last reason.
        timeout: seconds to wait.
        interval: seconds between checks.
        remote_hint: the hint when the service is not managed (`service` is None).
        service: the managed service; it exiting meanwhile is an error with its log's tail.
        proc: the process this call started, if any (its exit is seen before its PID file's).

    Raises:
        ServiceError: the service exited, or was not ready in time.
    """
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if service is not None and service.exited(proc):
            raise ServiceError(
                f"{service.label} exited during start-up: {tail(service.log_file)}",
                hint=f"see {service.log_file}",
            )
        reason = probe()
        if reason is None:
            return
        last = reason
        time.sleep(interval)
    hint = f"see {service.log_file}" if service else remote_hint
    raise ServiceError(timeout_message(last), hint=hint)


def refuse_busy_port(port: int, setting: str) -> None:
    """Raise when something this project did not start listens on 127.0.0.1:`port`.

    Args:
        port: the port a managed service is about to bind.
        setting: the profiles.yml setting that chooses the port, for the hint.
    """
    if port_open(LOOPBACK, port):
        raise ServiceError(
            f"port {port} on 127.0.0.1 is taken by a process this project did not start",
            hint=f"stop that process or change {setting} in profiles.yml",
        )
