"""Start, stop and report the project's warm engine (`runner engine start|stop|status`, `runner
up`), known by its PID file like the other background services (`runner.local.processes`)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from runner.engine.protocol import MARKER, EngineFiles, check_socket_path, engine_files
from runner.local.processes import ManagedProcess, live_pid, spawn, stop, wait_ready
from runner.paths import ensure_private_dir

START_TIMEOUT_SECONDS = 300.0  # a JVM start on a loaded 2-core machine can take minutes
STOP_TIMEOUT_SECONDS = 60.0  # a build in progress is cancelled first


@dataclass(frozen=True)
class EngineStatus:
    """Whether the engine runs, and what it serves."""

    running: bool
    pid: int | None
    socket: Path
    log_file: Path
    target: str = ""
    master: str = ""
    started_at: str = ""
    start_seconds: float | None = None
    started: bool = False  # this call started it


def _service(files: EngineFiles) -> ManagedProcess:
    return ManagedProcess("engine", "the runner engine", files.folder, files.pid_file.name,
                          files.log_file.name, MARKER)


def engine_status(project_dir: Path) -> EngineStatus:
    """The engine of `project_dir`: running or not, and what its `engine.json` says."""
    files = engine_files(project_dir)
    pid = live_pid(files.pid_file, MARKER)
    info: dict[str, object] = {}
    if pid is not None:
        try:
            info = json.loads(files.info_file.read_text())
        except (OSError, ValueError):
            info = {}
        if info.get("pid") != pid:
            info = {}  # still starting
    seconds = info.get("start_seconds")
    return EngineStatus(
        running=pid is not None and bool(info), pid=pid, socket=files.socket,
        log_file=files.log_file, target=str(info.get("target", "")),
        master=str(info.get("master", "")), started_at=str(info.get("started_at", "")),
        start_seconds=float(seconds) if isinstance(seconds, int | float) else None,
    )


def start_engine(
    project_dir: Path, target: str | None = None, profiles_dir: Path | None = None
) -> EngineStatus:
    """Start the engine for `target` unless one runs; wait until it answers on its socket.

    Raises:
        ServiceError: it exited during start-up (its log's tail is in the message), or did not
            answer within START_TIMEOUT_SECONDS.
    """
    project_dir = project_dir.resolve()
    files = engine_files(project_dir)
    current = engine_status(project_dir)
    if current.pid is not None:
        _wait(files, None)
        return engine_status(project_dir)
    ensure_private_dir(files.folder)
    check_socket_path(files.socket)
    cmd = [sys.executable, "-m", MARKER, "--project-dir", str(project_dir)]
    if target:
        cmd += ["--target", target]
    if profiles_dir is not None:
        cmd += ["--profiles-dir", str(profiles_dir.resolve())]
    # The engine renders colours; each client removes them when it prints to no terminal.
    env = {**os.environ, "FORCE_COLOR": "1"}
    env.pop("NO_COLOR", None)
    proc = spawn(cmd, log_file=files.log_file, pid_file=files.pid_file, env=env, cwd=project_dir)
    _wait(files, proc)
    return replace(engine_status(project_dir), started=True)


def _wait(files: EngineFiles, proc: subprocess.Popen[bytes] | None) -> None:
    def probe() -> str | None:
        if not files.info_file.exists():
            return "starting Spark"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            try:
                sock.connect(str(files.socket))
            except OSError as exc:
                return f"socket: {exc.strerror}"
        return None

    wait_ready(probe, lambda last: f"the runner engine did not start in "
               f"{START_TIMEOUT_SECONDS:.0f}s ({last})", timeout=START_TIMEOUT_SECONDS,
               interval=0.3, remote_hint="", service=_service(files), proc=proc)


def stop_engine(project_dir: Path) -> bool:
    """Stop the engine by its PID (SIGTERM: a running build is cancelled, then it exits).

    Returns:
        Whether an engine was running.
    """
    files = engine_files(project_dir.resolve())
    stopped = stop(files.pid_file, MARKER, timeout=STOP_TIMEOUT_SECONDS)
    files.socket.unlink(missing_ok=True)
    files.info_file.unlink(missing_ok=True)
    return stopped
