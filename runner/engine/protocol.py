"""The warm engine's files and wire format, and who may talk to it.

The engine is a runner daemon holding one SparkSession (`runner.engine.daemon`); `runner build`,
`run` and `test` become thin clients of it (`runner.engine.client`). It listens on a Unix socket
only, never on a network port:

    <project>/.runner/engine/          0700, owned by the user
        engine.sock                    0600: the socket
        engine.pid                     the daemon's PID (stopped by that PID, never by name)
        engine.json                    what it serves: target, master, start time
        engine.log                     its output (the JVM's too)

Both ends check the other's uid with SO_PEERCRED, and the client connects only to a socket in a
folder of its own user that nobody else can open.

Messages are JSON objects, one per line. Client to daemon: `command` (argv, cwd, environment),
then any number of `signal` (SIGINT/SIGTERM the client received). Daemon to client: `declined`
(run the command in this process instead), or `out` / `err` text, then `exit`; `error` when it
could not use a message. Their schemas, which the daemon checks: `runner.engine.messages`.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from runner.errors import ConfigError, ServiceError
from runner.paths import ensure_private_dir, state_dir

MARKER = "runner.engine.daemon"  # in the daemon's command line (`python -m runner.engine.daemon`)
ENGINE_ENV = "RUNNER_ENGINE"  # daemon | process: overrides the profile's spark.engine
COMMANDS = ("build", "run", "test")
ENGINES = ("daemon", "process")
MAX_SOCKET_PATH = 107  # sun_path is 108 bytes on Linux, with the terminating NUL
_CRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
ACCEPT_POLL_SECONDS = 0.5  # how soon the daemon notices a stop request while idle


@dataclass(frozen=True)
class EngineFiles:
    """The engine's files of one project."""

    folder: Path

    @property
    def socket(self) -> Path:
        return self.folder / "engine.sock"

    @property
    def pid_file(self) -> Path:
        return self.folder / "engine.pid"

    @property
    def info_file(self) -> Path:
        return self.folder / "engine.json"

    @property
    def log_file(self) -> Path:
        return self.folder / "engine.log"


def engine_files(project_dir: Path) -> EngineFiles:
    """The engine files of the project in `project_dir` (nothing is created).

    Example:
        >>> engine_files(Path("/p")).socket.as_posix()
        '/p/.runner/engine/engine.sock'
    """
    return EngineFiles(state_dir(project_dir, "engine"))


def choose_engine(setting: str, env: Mapping[str, str]) -> str:
    """Where a command runs: `daemon` (the warm engine, when one runs) or `process` (this one).

    $RUNNER_ENGINE wins; on CI (`$CI` set) the default is `process`; else the target's
    `spark.engine`.

    Example:
        >>> choose_engine("daemon", {})
        'daemon'
        >>> choose_engine("daemon", {"CI": "true"})
        'process'
        >>> choose_engine("process", {"RUNNER_ENGINE": "daemon"})
        'daemon'
    """
    chosen = env.get(ENGINE_ENV, "").strip().lower()
    if chosen and chosen not in ENGINES:
        raise ConfigError(
            f"${ENGINE_ENV} is '{env[ENGINE_ENV]}'",
            hint=f"set {ENGINE_ENV}=daemon or {ENGINE_ENV}=process, or unset it",
        )
    if chosen:
        return chosen
    if env.get("CI", "").strip().lower() not in ("", "0", "false"):
        return "process"
    return setting


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end of a connected Unix socket (SO_PEERCRED)."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CRED.size)
    return int(_CRED.unpack(raw)[1])


def peer_pid(sock: socket.socket) -> int:
    """The PID of the process that connected a Unix socket (SO_PEERCRED, as of connect())."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CRED.size)
    return int(_CRED.unpack(raw)[0])


def check_peer(uid: int, own_uid: int) -> None:
    """Refuse a peer of another user.

    Example:
        >>> check_peer(1000, 1000)
        >>> check_peer(0, 1000)
        Traceback (most recent call last):
        ...
        runner.errors.ServiceError: engine: refusing a connection from uid 0 (engine of uid 1000)
    """
    if uid != own_uid:
        raise ServiceError(f"engine: refusing a connection from uid {uid} (engine of uid "
                           f"{own_uid})")


def private_problem(path: Path, mode: int, uid: int) -> str | None:
    """Why `path` is not private to `uid`: another owner, or permission bits beyond `mode`.

    Args:
        path: the engine folder (`mode` 0o700) or its socket (0o600).
        mode: the most a private file may allow.
        uid: who must own it.

    Returns:
        None when `path` is owned by `uid` and allows nothing outside `mode`; else the reason.
    """
    try:
        info = path.lstat()
    except OSError as exc:
        return f"{path}: {exc.strerror}"
    if info.st_uid != uid:
        return f"{path} belongs to uid {info.st_uid}, not {uid}"
    extra = stat.S_IMODE(info.st_mode) & ~mode
    if extra:
        return f"{path} has mode {stat.S_IMODE(info.st_mode):04o} (at most {mode:04o} allowed)"
    return None


def check_socket_path(path: Path) -> None:
    """A Unix socket path must fit in sun_path."""
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise ServiceError(
            f"engine socket path is {len(os.fsencode(path))} bytes, more than a Unix socket "
            f"allows ({MAX_SOCKET_PATH}): {path}",
            hint="move the project to a shorter path, or run with RUNNER_ENGINE=process",
        )


def listen(files: EngineFiles) -> socket.socket:
    """Bind the socket: in a 0700 folder, itself 0600 from the start."""
    ensure_private_dir(files.folder)
    check_socket_path(files.socket)
    files.socket.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o177)
    try:
        listener.bind(str(files.socket))
    finally:
        os.umask(previous)
    os.chmod(files.socket, 0o600)
    listener.listen(8)
    listener.settimeout(ACCEPT_POLL_SECONDS)
    return listener


def send(stream: IO[bytes], message: dict[str, Any]) -> None:
    """Write one message (a JSON line) and flush it."""
    stream.write(json.dumps(message).encode() + b"\n")
    stream.flush()


def receive(stream: IO[bytes]) -> dict[str, Any] | None:
    """Read one message; None at the end of the stream (the other side closed)."""
    line = stream.readline()
    if not line:
        return None
    message = json.loads(line)
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ValueError(f"engine: not a message: {line[:80]!r}")
    return message
