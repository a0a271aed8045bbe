"""The warm engine end to end: `runner engine start`, build/run/test as thin clients (same
output, same exit codes, run_results.json), Ctrl-C and SIGTERM passed on to the build, private
files, `runner engine stop`. One engine (one JVM) for the whole module."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.engine.client import run_in_engine
from runner.engine.daemon import FIRST_MESSAGE_SECONDS
from runner.engine.lifecycle import engine_status, stop_engine
from runner.engine.protocol import engine_files, receive
from runner.local.processes import alive
from tests.conftest import ROOT

CLIENT = [sys.executable, "-m", "runner.engine.client"]
SLOW_MODEL = (
    "{{ config(materialized='table') }}\n"
    "select reflect('java.lang.Thread', 'sleep', cast(120000 as bigint)) as slept, n\n"
    "from {{ ref('order_count') }}\n"
)
BROKEN_MODEL = "select no_such_column from {{ ref('stg_orders') }}\n"


def _env(project: Path, **extra: str) -> dict[str, str]:
    """The environment of the client and the engine: the runner code snapshot of the module
    (an engine declines commands once its code changes on disk; tests must not see edits made
    while they run)."""
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "RUNNER_ENGINE")}
    env.setdefault("JAVA_HOME", "/usr/lib/jvm/java-17-openjdk-amd64")
    env["PYTHONPATH"] = os.pathsep.join([str(project.parent / "code"), str(ROOT)])
    return {**env, **extra}


def _runner(args: list[str], project: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLIENT, *args, "--project-dir", str(project)], cwd=project,
                          env=_env(project, **env), capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The mini project with `spark.engine: daemon`, and its engine running."""
    root = tmp_path_factory.mktemp("eng") / "p"
    shutil.copytree(ROOT / "tests" / "fixtures" / "mini", root)
    shutil.copytree(ROOT / "runner", root.parent / "code" / "runner",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (root / "profiles.yml").write_text(
        "mini:\n  target: local\n  outputs:\n    local:\n"
        "      spark: {master: 'local[2]', engine: daemon, "
        "conf: {spark.sql.shuffle.partitions: '2'}}\n"
        "    other:\n      spark: {master: 'local[1]', engine: daemon}\n"
        "    plain:\n      spark: {master: 'local[2]', engine: process}\n"
    )
    started = _runner(["engine", "start"], root)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield root
    finally:
        stop_engine(root)


def _served(project: Path) -> int:
    """How many commands the engine has run (its log has one line per command)."""
    log = engine_files(project).log_file.read_text()
    return len(re.findall(r"^\S+ \S+  runner ", log, flags=re.M))


def _normalize(text: str) -> list[str]:
    """Output lines without clock times and durations."""
    text = re.sub(r"\d\d:\d\d:\d\d", "T", text)
    text = re.sub(r"\d+\.\d\ds", "Ns", text)
    return [line.rstrip(". ") for line in text.splitlines()]


def test_engine_files_are_private(project: Path) -> None:
    files = engine_files(project)
    assert stat.S_IMODE(files.folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(files.socket.lstat().st_mode) == 0o600
    assert files.socket.lstat().st_uid == os.getuid()
    status = engine_status(project)
    assert status.running and status.master == "local[2]" and status.target == "local"


def test_build_in_the_engine_prints_what_a_process_prints(project: Path) -> None:
    before = _served(project)
    first = _runner(["build"], project)
    assert first.returncode == 0, first.stdout + first.stderr
    assert _served(project) == before + 1, first.stderr
    assert "Setting default log level" not in first.stderr  # no JVM started by the client
    results = json.loads((project / "target" / "run_results.json").read_text())
    assert [r["status"] for r in results["results"]] == ["success"] * len(results["results"])

    local = _runner(["build"], project, RUNNER_ENGINE="process")
    assert local.returncode == 0
    assert _served(project) == before + 1
    warm = _runner(["build"], project)  # a rebuild too, so both say what changed the same way
    assert warm.returncode == 0
    assert _served(project) == before + 2
    assert _normalize(warm.stdout) == _normalize(local.stdout)


def test_engine_exit_codes_and_errors(project: Path) -> None:
    broken = project / "models" / "marts" / "broken.sql"
    broken.write_text(BROKEN_MODEL)
    try:
        failed = _runner(["run", "-s", "broken"], project)
        assert failed.returncode == 1
        assert "ERROR creating table model broken" in failed.stdout
        assert "Error in model broken (models/marts/broken.sql)" in failed.stderr
        usage = _runner(["run", "--no-such-option"], project)
        assert usage.returncode == 2 and "No such option" in usage.stderr
    finally:
        broken.unlink()


def test_engine_declines_other_session_settings(project: Path) -> None:
    before = _served(project)
    assert run_in_engine(["test", "-t", "plain", "--project-dir", str(project)], _env(project),
                         project) is None  # spark.engine: process
    assert run_in_engine(["test", "-t", "other", "--project-dir", str(project)], _env(project),
                         project) is None  # another master
    assert _served(project) == before


def test_client_refuses_an_engine_folder_others_can_enter(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = engine_files(project).folder
    folder.chmod(0o755)
    try:
        argv = ["build", "--project-dir", str(project)]
        assert run_in_engine(argv, _env(project), project) is None
    finally:
        folder.chmod(0o700)
    assert "not used" in capsys.readouterr().err


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_to_the_client_cancels_the_build_in_the_engine(
    project: Path, sig: signal.Signals, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    slow = project / "models" / "marts" / "slow.sql"
    slow.write_text(SLOW_MODEL)
    try:
        proc = subprocess.Popen(
            [*CLIENT, "run", "-s", "+slow", "--project-dir", str(project)], cwd=project,
            env=_env(project), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            if "START table model slow" in line:
                break
        # Meanwhile another command runs in its own process (and meets the project lock there).
        other = ["run", "-s", "order_count", "--project-dir", str(project)]
        assert run_in_engine(other, _env(project), project) is None
        assert "the engine is running another command" in capsys.readouterr().err
        started = time.monotonic()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == code, out + err
        assert time.monotonic() - started < 100  # the 120 s sleep was cancelled
    finally:
        slow.unlink()
    results = json.loads((project / "target" / "run_results.json").read_text())
    assert results["interrupted"] is True and results["signal"] == sig.name
    assert engine_status(project).running  # the engine outlives the cancelled build
    after = _runner(["run", "-s", "order_count"], project)
    assert after.returncode == 0, after.stdout + after.stderr


def _raw_reply(message: bytes, project: Path) -> dict[str, object] | None:
    """What the engine answers a connection that sends `message` (a line) and nothing else."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(60)
        sock.connect(str(engine_files(project).socket))
        sock.sendall(message)
        return receive(sock.makefile("rb"))


def test_a_bad_message_gets_an_error_and_the_engine_serves_on(project: Path) -> None:
    pid = engine_status(project).pid
    for line, problem in [
        (b'{"type":"command"}\n', "argv: Field required"),
        (b'{"type":"command","argv":["build"],"cwd":"/","env":5}\n',
         "env: Input should be a valid dictionary"),
        (b"not json\n", "not JSON"),
    ]:
        reply = _raw_reply(line, project)
        assert reply is not None and reply["type"] == "error", reply
        assert problem in str(reply["message"])
    before = _served(project)
    good = _runner(["run", "-s", "order_count"], project)
    assert good.returncode == 0, good.stdout + good.stderr
    assert _served(project) == before + 1  # run by the same engine
    assert engine_status(project).pid == pid


def test_a_silent_client_does_not_delay_a_command(project: Path) -> None:
    before = _served(project)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as silent:
        silent.connect(str(engine_files(project).socket))  # and sends nothing
        started = time.monotonic()
        good = _runner(["run", "-s", "order_count"], project)
        assert good.returncode == 0, good.stdout + good.stderr
        assert _served(project) == before + 1, good.stderr  # the engine ran it, not declined it
        # The command was answered while the silent connection still waits for its first
        # message: nothing was sent to it and it was not closed.
        assert time.monotonic() - started < FIRST_MESSAGE_SECONDS
        silent.setblocking(False)
        with pytest.raises(BlockingIOError):
            silent.recv(1)


def test_retry_during_a_build_in_the_engine_is_refused_by_the_lock(project: Path) -> None:
    slow = project / "models" / "marts" / "slow.sql"
    slow.write_text(SLOW_MODEL)
    engine_pid = engine_status(project).pid
    try:
        proc = subprocess.Popen(
            [*CLIENT, "run", "-s", "+slow", "--project-dir", str(project)], cwd=project,
            env=_env(project), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if "START table model slow" in line:
                    break
            retried = _runner(["retry"], project)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=300)
    finally:
        slow.unlink()
    assert retried.returncode == 1, retried.stdout + retried.stderr
    assert retried.stderr.count("Error:") == 1, retried.stderr
    # it names the build and its client (whose Ctrl-C or kill cancels the build), not the
    # engine as the process to kill
    said = " ".join(retried.stderr.split())  # as wrapped lines join again
    assert f"Error: another runner (pid {proc.pid}) is building this project" in said
    assert f"`runner run -s +slow --project-dir {project}` in the warm engine (pid " \
        f"{engine_pid})" in said
    assert f"`kill {proc.pid}`" in said
    assert f"kill {engine_pid}" not in said
    assert "Traceback" not in retried.stderr + retried.stdout
    assert engine_status(project).running


def test_engine_stop(project: Path) -> None:
    pid = engine_status(project).pid
    stopped = _runner(["engine", "stop"], project)
    assert stopped.returncode == 0 and "engine stopped" in stopped.stdout
    assert not engine_status(project).running
    assert not engine_files(project).socket.exists()
    assert pid is not None and not alive(pid)  # exited (a zombie until PID 1 reaps it)
