"""The warm engine's parts without Spark: who may connect, which files count as private, the
engine choice, the session check, the client's command-line reading, and the daemon's answers to
messages of every shape (its serving loop runs; no command gets as far as Spark)."""

from __future__ import annotations

import io
import json
import os
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runner.config import SparkTarget, Target
from runner.engine.admission import SessionSpec, mismatch, session_spec
from runner.engine.client import project_dir_arg, run_in_engine, stream_command, strip_colors
from runner.engine.connection import ClientStream as _ClientStream
from runner.engine.daemon import Engine
from runner.engine.messages import Command, Error, send_message
from runner.engine.protocol import (
    check_peer,
    check_socket_path,
    choose_engine,
    engine_files,
    listen,
    peer_uid,
    private_problem,
    receive,
    send,
)
from runner.errors import ConfigError, ServiceError


def test_listen_makes_a_private_folder_and_socket(tmp_path: Path) -> None:
    files = engine_files(tmp_path)
    listener = listen(files)
    try:
        assert stat.S_IMODE(files.folder.stat().st_mode) == 0o700
        info = files.socket.lstat()
        assert stat.S_ISSOCK(info.st_mode)
        assert stat.S_IMODE(info.st_mode) == 0o600
        assert info.st_uid == os.getuid()
        assert private_problem(files.folder, 0o700, os.getuid()) is None
        assert private_problem(files.socket, 0o600, os.getuid()) is None
    finally:
        listener.close()


def test_listen_tightens_an_existing_open_folder(tmp_path: Path) -> None:
    files = engine_files(tmp_path)
    files.folder.mkdir(parents=True)
    files.folder.chmod(0o777)
    listen(files).close()
    assert stat.S_IMODE(files.folder.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    ("mode", "allowed", "problem"),
    [
        (0o700, 0o700, None),
        (0o750, 0o700, "mode 0750"),  # group may enter
        (0o701, 0o700, "mode 0701"),  # others may traverse
        (0o600, 0o600, None),
        (0o660, 0o600, "mode 0660"),  # group may connect
        (0o400, 0o600, None),  # less than allowed is fine
    ],
)
def test_private_problem_reads_the_permission_bits(
    tmp_path: Path, mode: int, allowed: int, problem: str | None
) -> None:
    path = tmp_path / "f"
    path.write_text("")
    path.chmod(mode)
    found = private_problem(path, allowed, os.getuid())
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_private_problem_refuses_another_owner(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("")
    path.chmod(0o600)
    other = os.getuid() + 1
    found = private_problem(path, 0o600, other)
    assert found is not None and f"belongs to uid {os.getuid()}, not {other}" in found


def test_private_problem_of_a_missing_file(tmp_path: Path) -> None:
    assert "No such file" in str(private_problem(tmp_path / "gone", 0o600, os.getuid()))


def test_peer_uid_is_the_connecting_process_uid() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        assert peer_uid(a) == os.getuid()
        check_peer(peer_uid(a), os.getuid())


def test_check_peer_refuses_another_uid() -> None:
    with pytest.raises(ServiceError, match="refusing a connection from uid 0"):
        check_peer(0, 1000)


def test_socket_path_too_long(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="more than a Unix socket allows"):
        check_socket_path(tmp_path / ("x" * 120) / "engine.sock")


@pytest.mark.parametrize(
    ("setting", "env", "chosen"),
    [
        ("process", {}, "process"),  # the default for spark_only, clusters
        ("daemon", {}, "daemon"),
        ("daemon", {"CI": "true"}, "process"),  # CI runs in its own process
        ("daemon", {"CI": "false"}, "daemon"),
        ("daemon", {"RUNNER_ENGINE": "process"}, "process"),  # the opt-out
        ("process", {"RUNNER_ENGINE": "daemon", "CI": "1"}, "daemon"),  # explicit wins over CI
        ("daemon", {"RUNNER_ENGINE": " Process "}, "process"),
    ],
)
def test_choose_engine(setting: str, env: dict[str, str], chosen: str) -> None:
    assert choose_engine(setting, env) == chosen


def test_choose_engine_rejects_an_unknown_value() -> None:
    with pytest.raises(ConfigError, match=r"\$RUNNER_ENGINE is 'proces'") as err:
        choose_engine("daemon", {"RUNNER_ENGINE": "proces"})
    assert "RUNNER_ENGINE=process" in str(err.value)


def test_messages_round_trip() -> None:
    stream = io.BytesIO()
    send(stream, {"type": "out", "text": "1 of 2 OK\n"})
    send(stream, {"type": "exit", "code": 1})
    stream.seek(0)
    assert receive(stream) == {"type": "out", "text": "1 of 2 OK\n"}
    assert receive(stream) == {"type": "exit", "code": 1}
    assert receive(stream) is None


def test_receive_rejects_a_message_without_type() -> None:
    with pytest.raises(ValueError, match="not a message"):
        receive(io.BytesIO(b'{"text": "x"}\n'))


def _target(**spark: object) -> Target:
    return Target(spark=SparkTarget(**spark))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("running", "wanted", "reason"),
    [
        # runtime SQL settings are applied per command: no mismatch
        (_target(), _target(conf={"spark.sql.shuffle.partitions": "4"}), None),
        (_target(master="local[*]"), _target(master="local[2]"), "Spark master is local[*]"),
        (_target(), _target(driver_memory="4g"), "driver memory is 2g, the target's 4g"),
        (_target(), _target(conf={"spark.executor.cores": "2"}), "(spark.executor.cores)"),
        (_target(), _target(conf={"spark.sql.extensions": "x"}), "(spark.sql.extensions)"),
    ],
)
def test_mismatch(running: Target, wanted: Target, reason: str | None) -> None:
    found = mismatch(session_spec(running), session_spec(wanted))
    assert (found is None) if reason is None else (found is not None and reason in found)


def test_mismatch_needs_the_cassandra_connector() -> None:
    without = SessionSpec("local[*]", "2g", (), cassandra=False)
    found = mismatch(without, SessionSpec("local[*]", "2g", (), cassandra=True))
    assert found is not None and "without the Cassandra connector" in found
    assert mismatch(SessionSpec("local[*]", "2g", (), True), without) is None


def test_project_dir_arg() -> None:
    assert project_dir_arg(["build"], Path("/w")) == Path("/w")
    assert project_dir_arg(["build", "--project-dir", "../p"], Path("/w/x")) == Path("/w/p")
    assert project_dir_arg(["test", "--project-dir=/q"], Path("/w")) == Path("/q")


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["ls"], {}),  # not a command the engine runs
        (["build", "--help"], {}),
        (["build"], {"RUNNER_ENGINE": "process"}),
        (["build"], {"CI": "true"}),
        (["build"], {}),  # no engine running in this folder
    ],
)
def test_run_in_engine_leaves_the_command_here(
    tmp_path: Path, argv: list[str], env: dict[str, str]
) -> None:
    assert run_in_engine(argv, env, tmp_path) is None


def test_run_in_engine_reports_a_bad_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_in_engine(["build"], {"RUNNER_ENGINE": "yes"}, tmp_path) == 1
    assert "Error: $RUNNER_ENGINE is 'yes'" in capsys.readouterr().err


def test_the_client_reports_an_error_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client, engine = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with client, engine:
        send_message(engine.makefile("wb"), Error(message="runner engine: bad message: env: x"))
        code = stream_command(client, engine_files(tmp_path), ["build"], {}, tmp_path)
    assert code == 2
    assert capsys.readouterr().err == "Error: runner engine: bad message: env: x\n"


def test_strip_colors() -> None:
    assert strip_colors("\x1b[31mERROR\x1b[0m in \x1b[1;32m1s\x1b[0m") == "ERROR in 1s"


# -- the daemon's message handling (no Spark: no command gets as far as running) -------------


def _engine(tmp_path: Path) -> Engine:
    spec = session_spec(_target())
    return Engine(tmp_path, engine_files(tmp_path), spark=None, spec=spec)  # type: ignore[arg-type]


def _command(cwd: Path, argv: list[str]) -> bytes:
    message = {"type": "command", "argv": argv, "cwd": str(cwd), "env": dict(os.environ)}
    return json.dumps(message).encode() + b"\n"


def _reply(sock: socket.socket) -> dict[str, object] | None:
    sock.settimeout(30)  # generous: a reply comes at once
    return receive(sock.makefile("rb"))


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b'{"type": "command"}\n', "argv: Field required"),  # a command without its fields
        (b'{"type": "command", "argv": ["build"], "cwd": "/", "env": 5}\n',
         "env: Input should be a valid dictionary"),
        (b'{"type": "command", "argv": "build", "cwd": "/", "env": {}}\n',
         "argv: Input should be a valid list"),
        (b'{"type": "command", "argv": ["build"], "cwd": "/", "env": {"A": "x\\u0000"}}\n',
         "env: Value error, contains a NUL character"),  # os.environ would refuse it
        (b'{"type": "command", "argv": ["build"], "cwd": "p", "env": {}}\n',
         "cwd: Value error, must be an absolute path"),
        (b'{"type": "command", "argv": ["build"], "cwd": "/no/such/dir", "env": {}}\n',
         "the working folder /no/such/dir is not a folder"),
        (b'{"type": "signal", "name": "SIGINT"}\n', "the first message must be a command"),
        (b'{"type": "launch"}\n', "Input tag 'launch' found using 'type'"),
        (b'{"argv": []}\n', "Unable to extract tag using discriminator 'type'"),
        (b'[1, 2]\n', "Input should be a valid dictionary"),
        (b'{"type": \n', "not JSON"),
        (b"\xff\xfe\n", "not JSON"),
    ],
)
def test_a_bad_first_message_gets_one_error_reply(tmp_path: Path, line: bytes,
                                                  problem: str) -> None:
    engine = _engine(tmp_path)
    client, server = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with client:
        client.sendall(line)
        engine.greet(server, client_pid=1)  # returns: nothing raised to the accept thread
        reply = _reply(client)
        assert reply is not None and reply["type"] == "error", reply
        assert str(reply["message"]).startswith("runner engine: ")
        assert problem in str(reply["message"])
        assert _reply(client) is None  # then the connection is closed
    assert engine.requests.empty() and engine.claim is None


def test_a_command_is_queued_and_claims_the_engine(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    client, server = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with client:
        client.sendall(_command(tmp_path, ["build", "-s", "a"]))
        engine.greet(server, client_pid=42)
        request = engine.requests.get_nowait()
        assert (request.command.argv, request.client_pid) == (["build", "-s", "a"], 42)
        assert engine.claim == request.claim == 1
        request.conn.close()


def test_a_message_of_the_wrong_shape_during_a_command_is_answered_and_ignored(
    tmp_path: Path,
) -> None:
    engine = _engine(tmp_path)
    engine.commands = 1
    reader = io.BytesIO(b'{"type": "signal", "name": "SIGKILL"}\n{"type": "signal"}\n'
                        + _command(tmp_path, ["build"]))
    engine.running = True  # until the last message: its end must raise no SIGINT here
    reader.readline = _stop_running_at_the_end(engine, reader)  # type: ignore[method-assign]
    writer = io.BytesIO()
    lock = threading.Lock()
    out, err = _ClientStream(writer, "out", lock), _ClientStream(writer, "err", lock)
    engine._watch(reader, 1, out, err)
    replies = [json.loads(line) for line in writer.getvalue().splitlines()]
    assert [r["type"] for r in replies] == ["error", "error", "error"]
    assert "name: Input should be 'SIGINT' or 'SIGTERM'" in replies[0]["message"]
    assert "name: Field required" in replies[1]["message"]
    assert "a command is running on this connection already" in replies[2]["message"]
    assert engine.forwarded is None


def _stop_running_at_the_end(engine: Engine, stream: io.BytesIO) -> Callable[..., bytes]:
    """`stream.readline` that marks the command ended when the stream is (no SIGINT follows)."""
    readline = stream.readline

    def read(*args: int) -> bytes:
        line = readline(*args)
        if not line:
            engine.running = False
        return line

    return read


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[tuple[Engine, Path]]:
    """An engine answering on its socket (the main loop in a thread; no Spark)."""
    engine = _engine(tmp_path)
    listener = listen(engine.files)
    loop = threading.Thread(target=engine.serve_requests, args=(listener,), daemon=True)
    loop.start()
    try:
        yield engine, engine.files.socket
    finally:
        engine.stopping = True
        loop.join(timeout=30)
        listener.close()


def _connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(path))
    return sock


def test_the_engine_serves_on_after_bad_messages(serving: tuple[Engine, Path],
                                                 tmp_path: Path) -> None:
    engine, path = serving
    for line in (b'{"type": "command"}\n', b'{"type": "command", "argv": [], "cwd": "/", '
                 b'"env": 5}\n', b"garbage\n"):
        with _connect(path) as sock:
            sock.sendall(line)
            reply = _reply(sock)
            assert reply is not None and reply["type"] == "error"
    with _connect(path) as sock:  # a well-formed command reaches the main loop and is answered
        sock.sendall(_command(tmp_path, ["ls"]))
        assert _reply(sock) == {"type": "declined",
                                "reason": "the engine runs build, run, test only"}
    assert engine.claim is None


def test_a_silent_client_delays_no_other(serving: tuple[Engine, Path], tmp_path: Path) -> None:
    engine, path = serving
    with _connect(path) as silent, _connect(path) as other:
        other.sendall(_command(tmp_path, ["ls"]))
        reply = _reply(other)
        assert reply is not None and reply["type"] == "declined"
        silent.setblocking(False)
        with pytest.raises(BlockingIOError):  # still waited for: no reply, not closed
            silent.recv(1)


def test_a_command_while_another_runs_is_declined_at_once(serving: tuple[Engine, Path],
                                                          tmp_path: Path) -> None:
    engine, path = serving
    with engine.claim_lock:
        engine.claim = claim = 7  # as a running command does
    try:
        with _connect(path) as sock:
            sock.sendall(_command(tmp_path, ["build"]))
            assert _reply(sock) == {"type": "declined",
                                    "reason": "the engine is running another command"}
    finally:
        engine._release(claim)
    assert engine.claim is None


def test_a_commands_release_frees_only_its_own_claim(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    a, b, c = (socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(3))
    command = Command(type="command", argv=["build"], cwd=str(tmp_path), env={})
    reader, writer = io.BytesIO(), io.BytesIO()
    assert engine._queue(a[1], reader, writer, command, 1)
    first = engine.requests.get_nowait()
    engine._release(first.claim)
    # the next command, sent as soon as its client had the exit code of the first
    assert engine._queue(b[1], reader, writer, command, 2)
    engine._release(first.claim)  # the main loop's release after the first frees no other
    assert not engine._queue(c[1], reader, writer, command, 3)
    for pair in (a, b, c):
        pair[0].close()
        pair[1].close()
