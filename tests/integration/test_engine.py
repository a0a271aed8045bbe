"""The warm engine end to end: `runner engine start`, build/run/test as thin clients (same
output, same exit codes, run_results.json), Ctrl-C and SIGTERM passed on to the build, private
files, `runner engine stop`. One engine (one JVM) for the whole module."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.engine.client import run_in_engine
from runner.engine.lifecycle import engine_status, stop_engine
from runner.engine.protocol import engine_files
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


def test_engine_stop(project: Path) -> None:
    pid = engine_status(project).pid
    stopped = _runner(["engine", "stop"], project)
    assert stopped.returncode == 0 and "engine stopped" in stopped.stdout
    assert not engine_status(project).running
    assert not engine_files(project).socket.exists()
    assert pid is not None and not alive(pid)  # exited (a zombie until PID 1 reaps it)
