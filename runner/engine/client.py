"""The `runner` command's entry point: `build`, `run` and `test` go to the warm engine when one
serves this project; everything else, and those when it does not, runs here with `runner.cli`.

The client imports nothing heavy: it finds the engine by its PID file, checks that the socket
is its own user's, sends the command line, its working folder and environment, writes what the
engine prints (colours kept only on a terminal) and exits with the engine's exit code. SIGINT
and SIGTERM are passed on, so Ctrl-C cancels the build in the engine as it would here.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import IO

from runner.engine.protocol import (
    COMMANDS,
    MARKER,
    EngineFiles,
    check_peer,
    check_socket_path,
    choose_engine,
    engine_files,
    peer_uid,
    private_problem,
    receive,
    send,
)
from runner.errors import RunnerError
from runner.local.processes import live_pid

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def main() -> None:
    """Run `runner ARGS...` in the engine when it serves them, else in this process."""
    code = run_in_engine(sys.argv[1:], os.environ, Path.cwd())
    if code is not None:
        sys.exit(code)
    # runner.cli imports pandas, pydantic and the Spark helpers (about 2 s of CPU): only when
    # this process runs the command itself.
    from runner.cli import main as cli_main

    cli_main()


def run_in_engine(argv: list[str], env: Mapping[str, str], cwd: Path) -> int | None:
    """Run the command in the project's engine; its exit code, or None to run it here.

    None when the command is not one the engine runs, the engine is not chosen
    (`choose_engine`) or not running, its files are not private to this user, or it declines
    (another target's Spark settings, `spark.engine: process`).
    """
    if not argv or argv[0] not in COMMANDS or {"-h", "--help"} & set(argv):
        return None
    try:
        if choose_engine("daemon", env) == "process":
            return None
    except RunnerError as exc:
        sys.stderr.write(f"Error: {exc}\n")
        return 1
    files = engine_files(project_dir_arg(argv, cwd))
    if live_pid(files.pid_file, MARKER) is None:
        return None
    sock = connect(files)
    if sock is None:
        return None
    with sock:
        return stream_command(sock, files, argv, env, cwd)


def project_dir_arg(argv: list[str], cwd: Path) -> Path:
    """The `--project-dir` of a command line, resolved against `cwd` (default: `cwd`).

    Example:
        >>> project_dir_arg(["build", "--project-dir", "p"], Path("/w")).as_posix()
        '/w/p'
        >>> project_dir_arg(["run", "--project-dir=/q", "-s", "m"], Path("/w")).as_posix()
        '/q'
    """
    found = "."
    for i, arg in enumerate(argv):
        if arg == "--project-dir" and i + 1 < len(argv):
            found = argv[i + 1]
        elif arg.startswith("--project-dir="):
            found = arg.split("=", 1)[1]
    return Path(os.path.abspath(cwd / found))


def connect(files: EngineFiles) -> socket.socket | None:
    """A connection to the engine, or None (with the reason on stderr) when it is not safe."""
    uid = os.getuid()
    problem = private_problem(files.folder, 0o700, uid) or private_problem(files.socket, 0o600, uid)
    if problem is None:
        try:
            check_socket_path(files.socket)
        except RunnerError as exc:
            problem = exc.message
    if problem is not None:
        _note(f"not used: {problem}")
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(files.socket))
        check_peer(peer_uid(sock), uid)
    except OSError:  # the engine is stopping, or its socket is stale
        sock.close()
        return None
    except RunnerError as exc:
        sock.close()
        _note(f"not used: {exc.message}")
        return None
    return sock


def stream_command(
    sock: socket.socket, files: EngineFiles, argv: list[str], env: Mapping[str, str], cwd: Path
) -> int | None:
    """Send the command, print what the engine prints, pass signals on; the exit code.

    None when the engine declines the command before printing anything.
    """
    reader, writer = sock.makefile("rb"), sock.makefile("wb")
    env = dict(env)
    if "COLUMNS" not in env and sys.stdout.isatty():
        env["COLUMNS"] = str(os.get_terminal_size(sys.stdout.fileno()).columns)
    try:
        send(writer, {"type": "command", "argv": argv, "cwd": str(cwd), "env": env})
    except OSError:  # the engine closed the connection first (it is stopping)
        return None

    def forward(signum: int, frame: FrameType | None) -> None:
        try:
            send(writer, {"type": "signal", "name": signal.Signals(signum).name})
        except OSError:  # the engine has gone: the read below reports it
            pass

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            message = receive(reader)
            if message is None:
                sys.stderr.write(
                    f"Error: the runner engine stopped during the command (log: "
                    f"{files.log_file})\n"
                )
                return 2
            kind = message["type"]
            if kind == "declined":
                if message.get("reason"):
                    _note(f"{message['reason']}; running in this process")
                return None
            if kind in ("out", "err"):
                _write(sys.stdout if kind == "out" else sys.stderr, str(message.get("text")), env)
            elif kind == "exit":
                code = message.get("code")
                return code if isinstance(code, int) else 2
            elif kind == "error":  # the engine could not use what this client sent
                sys.stderr.write(f"Error: {message.get('message')}\n")
                return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _write(stream: IO[str], text: str, env: Mapping[str, str]) -> None:
    """Print the engine's text as this process would: colours only on a terminal."""
    if "NO_COLOR" in env or env.get("TERM") == "dumb" or not stream.isatty():
        text = strip_colors(text)
    stream.write(text)
    stream.flush()


def strip_colors(text: str) -> str:
    """Remove ANSI colour codes.

    Example:
        >>> strip_colors("\\x1b[32mOK\\x1b[0m in 1.0s")
        'OK in 1.0s'
    """
    return _ANSI.sub("", text)


def _note(message: str) -> None:
    sys.stderr.write(f"runner engine: {message}\n")


if __name__ == "__main__":
    main()
