"""What the engine does with one client connection: check the first message, the client's
streams, environment and working folder for the command it runs."""

from __future__ import annotations

import io
import os
import socket
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Literal, TextIO, cast

from runner.engine.messages import Command, Output, Signal, send_message
from runner.engine.protocol import check_peer, peer_pid, peer_uid
from runner.errors import ServiceError


def log(message: str) -> None:
    print(f"{datetime.now():%Y-%m-%d %H:%M:%S}  {message}", file=sys.__stdout__, flush=True)


def command_problem(message: Command | Signal | None) -> str | None:
    """What is wrong with a connection's first message (None: a command it can run, or the
    client hung up without one).

    Example:
        >>> command_problem(Signal(type="signal", name="SIGINT"))
        'the first message must be a command, not a signal'
    """
    if isinstance(message, Signal):
        return "the first message must be a command, not a signal"
    if isinstance(message, Command) and not os.path.isdir(message.cwd):
        return f"the working folder {message.cwd} is not a folder"
    return None


def accept_client(listener: socket.socket) -> tuple[socket.socket, int] | None:
    """The next connection of this user within the poll interval, and the client's PID; None
    if none came."""
    try:
        conn, _ = listener.accept()
    except TimeoutError:
        return None
    conn.settimeout(None)
    try:
        check_peer(peer_uid(conn), os.getuid())
    except ServiceError as exc:
        log(exc.message)
        conn.close()
        return None
    return conn, peer_pid(conn)


class ClientStream(io.TextIOBase):
    """sys.stdout/sys.stderr of a command: text goes to the client as `out`/`err` messages."""

    def __init__(self, writer: IO[bytes], kind: Literal["out", "err"],
                 lock: threading.Lock) -> None:
        self.writer = writer
        self.kind = kind
        self.lock = lock
        self.closed_by_client = False

    def write(self, text: str) -> int:
        if not isinstance(text, str):  # click tells text streams from binary ones this way
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if text and not self.closed_by_client:
            with self.lock:
                try:
                    send_message(self.writer, Output(type=self.kind, text=text))
                except OSError:
                    self.closed_by_client = True
        return len(text)

    def isatty(self) -> bool:
        return True  # rich renders colours; the client removes them when it prints to no terminal

    def writable(self) -> bool:
        return True


@contextmanager
def client_environment(env: Mapping[str, str], cwd: Path) -> Iterator[None]:
    """The client's environment variables and working folder, for one command."""
    saved, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.clear()
    os.environ.update(env)
    try:
        os.chdir(cwd)
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def redirect_output(out: io.TextIOBase, err: io.TextIOBase) -> Iterator[None]:
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = cast(TextIO, out), cast(TextIO, err)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
