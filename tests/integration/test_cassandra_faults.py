"""Cassandra killed (`kill -9`) while a build writes a mart: the build ends within seconds,
records the mart as failed and the rest as skipped, and once the node is back `runner retry`
finishes with Cassandra equal to the Parquet marts, with no restart of anything else.

Each run uses its own keyspace on a node of its own (`killable_node`), and runs `runner` as a
subprocess: the test reads its output, and when `m`'s marker is gone and its row count moves
(the write has begun) it kills the node by the PID in its PID file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from runner.cassandra.client import connect, quote
from runner.config import CassandraTarget
from runner.errors import RunnerError
from tests.integration import cassandra_fixtures
from tests.integration.cassandra_fixtures import (
    KillableNode,
    cassandra_rows,
    mart_project,
    parquet_rows,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
ROWS = 20_000  # about 15-40 s of writes on 2 busy cores: the kill lands mid-write
BUILD_TIMEOUT = 600.0
ENDED_WITHIN = 120.0  # seconds from the kill to the build's exit
_node = cassandra_fixtures.killable_node  # the fixture, registered here under its own name


@dataclass(frozen=True)
class Killed:
    returncode: int
    output: str
    seconds_after_kill: float


@pytest.fixture
def faults(killable_node: KillableNode, tmp_path: Path) -> Iterator[tuple[Path, CassandraTarget]]:
    killable_node.ensure_running()
    target = killable_node.target.model_copy(update={"keyspace": f"f_{uuid.uuid4().hex[:10]}"})
    project = mart_project(tmp_path, target)
    settings = project / "runner_project.yml"
    settings.write_text(settings.read_text().replace("n: 2000", f"n: {ROWS}"))
    yield project, target
    with suppress(RunnerError):  # the node may be down after a failed test
        session = connect(target)
        try:
            session.execute(f"DROP KEYSPACE IF EXISTS {quote(target.keyspace)}", timeout=60)
        finally:
            session.cluster.shutdown()


def _runner(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner", *args, "--project-dir", str(project)],
        capture_output=True, text=True, timeout=BUILD_TIMEOUT, env=_env(),
    )


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}


def _results(project: Path) -> dict[str, dict]:
    data = json.loads((project / "target" / "run_results.json").read_text())
    return {r["unique_id"]: r for r in data["results"]}


def _build_and_kill(node: KillableNode, project: Path, target: CassandraTarget,
                    args: list[str]) -> Killed:
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner", *args, "--project-dir", str(project)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(),
    )
    lines: list[str] = []
    started = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "START cassandra model m " in line:
                started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert started.wait(BUILD_TIMEOUT), "".join(lines)
        _wait_for_rows_moving(target, proc)
        node.kill()
        killed = time.monotonic()
        proc.wait(BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail("the build hung after Cassandra was killed:\n" + "".join(lines[-40:]))
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(10)
    return Killed(proc.returncode, "".join(lines), time.monotonic() - killed)


def _wait_for_rows_moving(target: CassandraTarget, proc: subprocess.Popen[str]) -> None:
    """Return once `m`'s marker is cleared and its row count changed: the write is under way."""
    session = connect(target)
    ks = quote(target.keyspace)
    marker = f"SELECT build_id FROM {ks}.runner_state WHERE table_name = 'm'"
    try:
        baseline = None
        deadline = time.monotonic() + BUILD_TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if baseline is None and session.execute(marker, timeout=10).one() is None:
                    baseline = _count(session, ks)
                elif baseline is not None and _count(session, ks) != baseline:
                    return
            except Exception:  # noqa: BLE001 - the table is being dropped or created: ask again
                pass
            time.sleep(0.2)
        pytest.fail("the write of m was not seen before the build ended")
    finally:
        session.cluster.shutdown()


def _count(session, ks: str) -> int:
    return int(session.execute(f"SELECT count(*) FROM {ks}.m", timeout=30).one()[0])


@pytest.mark.parametrize("run", [1, 2])
@pytest.mark.parametrize("full_refresh", [False, True], ids=["plain", "full_refresh"])
def test_node_killed_during_write_then_retry(killable_node, faults, full_refresh, run):
    project, target = faults
    first = _runner(project, "build")
    assert first.returncode == 0, first.stdout + first.stderr
    # a plain rebuild that sends 20 000 new keys, or a full refresh that drops and rewrites m
    args = ["build", "--full-refresh"] if full_refresh else ["build", f"--vars={{shift: {ROWS}}}"]

    killed = _build_and_kill(killable_node, project, target, args)

    assert killed.returncode == 1, killed.output
    assert killed.seconds_after_kill < ENDED_WITHIN, killed.output
    results = _results(project)
    assert results["model.m"]["status"] == "error"
    assert f"127.0.0.1:{target.port}" in results["model.m"]["message"]
    assert {uid: r["status"] for uid, r in results.items() if uid != "model.m"} == {
        "test.not_null_m_k": "skipped", "model.after_m": "skipped"}

    killable_node.ensure_running()
    retried = _runner(project, "retry")
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert {r["status"] for r in _results(project).values()} <= {"success", "pass"}
    for mart in ("m", "after_m"):
        assert cassandra_rows(target, mart) == parquet_rows(project, mart), mart
