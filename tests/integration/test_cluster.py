"""A real Spark standalone cluster and a 3-node Cassandra ring on this machine, with faults.

`runner up -t cluster` starts them once for the whole session (in a copy of the project, on
ports of its own); every build is the real `runner` command in a subprocess, so each has its
own driver JVM and the executors run in the workers' JVMs. The faults are real: `kill -9` of a
Cassandra node or of a Spark worker with its executor. Run just these with `pytest -m cluster`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from runner.local import cassandra_ring, services, spark_cluster, thrift
from runner.paths import remove_tree, state_dir, state_root
from tests.conftest import ORIGINAL_DATA, ROOT

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(not ORIGINAL_DATA.is_dir(), reason=f"no original data in {ORIGINAL_DATA}"),
]

RUNNER = Path(sys.executable).with_name("runner")
HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
CQL_PORT, MASTER_PORT, UI_PORT = 9642, 7277, 8780
KEYSPACE = "cluster_it"
VARS = f"{{raw_dir: {ORIGINAL_DATA}}}"
# Budgets of one test, set-up included (the first test also starts the cluster).
BUILD_BUDGET, UP_BUDGET = 1200, 600
PROFILE = f"""
fintech_onboarding:
  target: cluster
  outputs:
    cluster:
      threads: 2
      spark:
        master: spark://127.0.0.1:{MASTER_PORT}
        managed: true
        ui_port: {UI_PORT}
        driver_memory: 1g
        workers: [{{cores: 1, memory: 1g}}, {{cores: 1, memory: 1g}}]
        conf: {{spark.executor.memory: 768m}}
      cassandra:
        hosts: [{", ".join(HOSTS)}]
        port: {CQL_PORT}
        keyspace: {KEYSPACE}
        replication: {{class: NetworkTopologyStrategy, datacenter1: 3}}
        local_dc: datacenter1
        consistency: LOCAL_QUORUM
        managed: true
    local:
      spark: {{master: "local[2]"}}
    no_master:
      spark: {{master: "spark://127.0.0.1:{{port}}"}}
    silent_master:
      spark: {{master: "spark://127.0.0.1:{{silent}}"}}
"""


def _copy_project(dest: Path, port_free: int, silent: int = 1) -> Path:
    for name in ("runner_project.yml", "models", "macros", "tests/data", "seeds"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        else:
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dest / name)
    profile = PROFILE.replace("{port}", str(port_free)).replace("{silent}", str(silent))
    (dest / "profiles.yml").write_text(profile)
    # The installed jars and class archive are the repo's: link them instead of fetching again.
    state = dest / ".runner"
    (state / "cassandra").mkdir(parents=True)
    (state / "cassandra" / "lib").symlink_to(ROOT / ".runner" / "cassandra" / "lib")
    for name in ("spark-jars", "spark-cds"):
        if (ROOT / ".runner" / name).exists():
            (state / name).symlink_to(ROOT / ".runner" / name)
    return dest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Run:
    code: int
    output: str
    seconds: float


def runner(project: Path, *args: str, timeout: float = BUILD_BUDGET) -> Run:
    """`runner ARGS --project-dir PROJECT --profiles-dir PROJECT` in a subprocess."""
    began = time.monotonic()
    proc = subprocess.run(
        [str(RUNNER), *args, "--project-dir", str(project), "--profiles-dir", str(project)],
        capture_output=True, text=True, timeout=timeout, env=_env(), check=False,
    )
    return Run(proc.returncode, proc.stdout + proc.stderr, time.monotonic() - began)


def start_runner(project: Path, *args: str) -> subprocess.Popen[str]:
    cmd = [str(RUNNER), *args, "--project-dir", str(project), "--profiles-dir", str(project)]
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env()
    )


def _env() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}


def wait_for_line(proc: subprocess.Popen[str], needle: str, lines: list[str]) -> None:
    """Read the build's output until a line contains `needle` (kept in `lines`)."""
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if needle in line:
            return
    raise AssertionError(f"the build ended before {needle!r}:\n{''.join(lines[-30:])}")


def finish(proc: subprocess.Popen[str], lines: list[str], began: float) -> Run:
    assert proc.stdout is not None
    lines += proc.stdout.readlines()
    return Run(proc.wait(), "".join(lines), time.monotonic() - began)


def marts(project: Path) -> dict[str, pd.DataFrame]:
    """Every mart's Parquet copy, as text, sorted by all columns (a canonical form)."""
    out = {}
    for folder in sorted((project / "target" / "marts").iterdir()):
        if folder.is_dir() and not folder.name.startswith("."):
            df = pd.read_parquet(folder).map(_canonical)
            out[folder.name] = df.sort_values(list(df.columns)).reset_index(drop=True)
    return out


def _canonical(value: Any) -> str:
    if isinstance(value, list | tuple):
        return repr(sorted(map(_canonical, value)))
    if hasattr(value, "tolist"):
        return _canonical(value.tolist())
    return repr(value)


def assert_same_marts(left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]) -> None:
    assert sorted(left) == sorted(right)
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name], check_exact=True, obj=name)


def _scratch(name: str) -> Path:
    """A fresh folder under the repo's .runner/test-cluster/: pytest's own tmp folders are
    deleted by any other pytest run on the machine after three runs, under running nodes."""
    folder = state_dir(ROOT, "test-cluster") / name
    if folder.exists():
        services.down(folder)  # what an interrupted run left running, by its PID files
    remove_tree(folder, [state_root(ROOT)])
    folder.mkdir(parents=True)
    return folder


@pytest.fixture(scope="session")
def cluster() -> Iterator[Path]:
    """`runner up -t cluster` in a copy of the project; `runner down` at the end."""
    project = _copy_project(_scratch("cluster"), _free_port())
    began = time.monotonic()
    up = runner(project, "up", "-t", "cluster", timeout=UP_BUDGET)
    print(f"\ncluster up in {time.monotonic() - began:.0f}s:\n{up.output}")
    try:
        assert up.code == 0, up.output
        yield project
    finally:
        down = runner(project, "down", timeout=180)
        print(down.output)


@pytest.fixture(scope="session")
def local_marts() -> dict[str, pd.DataFrame]:
    """The marts of the same project built with Spark local[2] (Parquet only)."""
    project = _copy_project(_scratch("local"), _free_port())
    run = runner(project, "build", "-t", "local", "--vars", VARS)
    assert run.code == 0, run.output
    return marts(project)


def ring_session(hosts: list[str] | None = None) -> Any:
    """A driver session to the ring (or to `hosts` only)."""
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import WhiteListRoundRobinPolicy

    profile = ExecutionProfile(
        load_balancing_policy=WhiteListRoundRobinPolicy(hosts or HOSTS), request_timeout=30
    )
    cluster = Cluster(hosts or HOSTS, port=CQL_PORT, protocol_version=5,
                      execution_profiles={EXEC_PROFILE_DEFAULT: profile})
    return cluster.connect()


def hint_files(project: Path) -> int:
    """Hint files the nodes hold for nodes that were down (deleted once delivered)."""
    folders = (cassandra_ring.node_dir(project, host) / "data" / "hints" for host in HOSTS)
    return sum(1 for folder in folders for f in folder.glob("*.hints") if f.stat().st_size)


def assert_tables_match(project: Path) -> None:
    """Every mart table holds as many rows as its Parquet copy, read at consistency ALL."""
    assert_tables_match_marts(marts(project))


def assert_tables_match_marts(expected: dict[str, pd.DataFrame], level: str = "ALL") -> None:
    from cassandra import ConsistencyLevel
    from cassandra.query import SimpleStatement

    session = ring_session()
    try:
        meta = session.cluster.metadata.keyspaces[KEYSPACE].tables
        for name, df in expected.items():
            keys = [c.name for c in meta[name].primary_key]
            query = SimpleStatement(
                f"SELECT {', '.join(keys)} FROM {KEYSPACE}.{name}",
                consistency_level=getattr(ConsistencyLevel, level), fetch_size=5000,
            )
            stored = {tuple(map(repr, row)) for row in _read_all(session, query)}
            assert len(stored) == len(df), f"{name}: {len(stored)} rows in Cassandra, {len(df)}"
    finally:
        session.cluster.shutdown()


def _read_all(session: Any, query: Any, within: float = 90) -> list[Any]:
    """Every row of `query`. A node killed seconds ago stays alive to the coordinator until
    gossip convicts it (10-30 s), and a read it routes there times out: read again meanwhile."""
    from cassandra import OperationTimedOut, ReadTimeout, Unavailable

    deadline = time.monotonic() + within
    while True:
        try:
            return list(session.execute(query))
        except (ReadTimeout, Unavailable, OperationTimedOut):
            if time.monotonic() > deadline:
                raise
            time.sleep(3)


def wait_hints_delivered(project: Path, timeout: float = 300) -> float:
    """Seconds until every node has delivered its hints (its hint files are gone)."""
    began = time.monotonic()
    while hint_files(project):
        assert time.monotonic() - began < timeout, "hints were not delivered in time"
        time.sleep(2)
    return time.monotonic() - began


def dashboard_counts(project: Path, tables: list[str]) -> dict[str, int]:
    """Row counts of the marts as the dashboard reads them: Superset's Spark Thrift Server
    (started here on a port of its own, reading the ring at LOCAL_QUORUM) queried via PyHive."""
    from runner.config import CassandraTarget, SupersetTarget

    venv = ROOT / ".runner" / "superset" / "venv"  # installed by `make setup`: linked, not again
    link = project / ".runner" / "superset" / "venv"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(venv)
    ring = CassandraTarget(
        hosts=HOSTS, port=CQL_PORT, keyspace=KEYSPACE, local_dc="datacenter1",
        replication={"class": "NetworkTopologyStrategy", "datacenter1": 3},
        consistency="LOCAL_QUORUM", managed=True,
    )
    port = _free_port()
    front = SupersetTarget(url=f"http://127.0.0.1:{_free_port()}", thrift_port=port, managed=True)
    try:
        thrift.ensure_thrift(project, ring, front, timeout=300)
        queries = [f"SELECT count(*) FROM cass.{KEYSPACE}.{t}" for t in tables]
        rows = thrift.hive_query(link / "bin" / "python", "127.0.0.1", port, queries,
                                 login=thrift.thrift_login(project), timeout=180)
        return {t: int(str(r[0][0])) for t, r in zip(tables, rows, strict=True)}
    finally:
        thrift.stop(project)


def kill_node(project: Path, host: str) -> None:
    node = next(n for n in cassandra_ring.status(project) if n.host == host)
    assert node.state.pid is not None, f"node {host} is not running"
    os.kill(node.state.pid, signal.SIGKILL)


def bring_back(project: Path) -> Run:
    """`runner up -t cluster`: restarts what is down, waits until the ring sees every node."""
    run = runner(project, "up", "-t", "cluster", timeout=UP_BUDGET)
    assert run.code == 0, run.output
    return run


@pytest.fixture()
def silent_master() -> Iterator[int]:
    """A port that accepts connections and never answers: a hung master, or a proxy."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.5)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("target", ["no_master", "silent_master"])
def test_master_unreachable_is_one_clear_error(tmp_path: Path, silent_master: int, target: str):
    project = _copy_project(tmp_path, _free_port(), silent_master)
    run = runner(project, "build", "-t", target, "--vars", VARS, timeout=90)
    print(f"{target}: {run.seconds:.1f}s")
    assert run.code == 1, run.output
    errors = [line for line in run.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, run.output
    assert "cannot reach the Spark master" in errors[0] or "did not accept" in errors[0]
    # A closed port fails before the driver JVM starts. A silent master is given 10 s once the
    # driver is up, which itself takes 5 s on 2 idle cores and 25 s at a load of 20.
    assert run.seconds < (30 if target == "no_master" else 60), f"{run.seconds:.0f}s"


@pytest.mark.timeout(BUILD_BUDGET + UP_BUDGET)
def test_cluster_build_equals_local_build(cluster: Path, local_marts: dict[str, pd.DataFrame]):
    run = runner(cluster, "build", "-t", "cluster", "--vars", VARS)
    print(f"cluster build: {run.seconds:.0f}s")
    assert run.code == 0, run.output
    assert "Done. OK=" in run.output and "ERROR=0" in run.output
    assert_same_marts(marts(cluster), local_marts)
    assert_tables_match(cluster)
    workers = spark_cluster.alive_workers(f"http://127.0.0.1:{UI_PORT}")
    assert len(workers) == 2
    executors = [p for n in (1, 2) for p in (cluster / ".runner/cluster").glob(f"worker-{n}/app-*")]
    assert len({p.parent.name for p in executors}) == 2, "executors ran on both workers"


@pytest.mark.timeout(BUILD_BUDGET + 2 * UP_BUDGET)
def test_one_node_down_before_the_writes(cluster: Path, local_marts):
    bring_back(cluster)  # whatever an earlier test left
    runner(cluster, "clean")  # no previous copies: every row is written again
    kill_node(cluster, "127.0.0.3")
    run = runner(cluster, "run", "-t", "cluster", "--vars", VARS)
    print(f"run with 127.0.0.3 down: {run.seconds:.0f}s")
    assert run.code == 0, run.output
    assert_same_marts(marts(cluster), local_marts)
    assert hint_files(cluster) > 0, "the live nodes keep hints for 127.0.0.3"
    tables = sorted(local_marts)
    began = time.monotonic()
    counts = dashboard_counts(cluster, tables)
    print(f"dashboard reads with 127.0.0.3 down: {time.monotonic() - began:.0f}s")
    assert counts == {t: len(local_marts[t]) for t in tables}
    bring_back(cluster)
    print(f"hints delivered {wait_hints_delivered(cluster):.0f}s after the node came back")
    assert_tables_match(cluster)


@pytest.mark.timeout(BUILD_BUDGET + 3 * UP_BUDGET)
def test_two_nodes_down_then_retry_with_a_node_killed_during_the_writes(cluster: Path, local_marts):
    bring_back(cluster)
    if not (cluster / "target" / "marts").is_dir():  # run alone: the tables need old rows
        assert runner(cluster, "run", "-t", "cluster", "--vars", VARS).code == 0
    runner(cluster, "clean")  # the retry then writes every row, while a node dies
    kill_node(cluster, "127.0.0.2")
    kill_node(cluster, "127.0.0.3")
    run = runner(cluster, "run", "-t", "cluster", "--vars", VARS, timeout=300)
    print(f"run with two nodes down: {run.seconds:.0f}s\n{run.output[-600:]}")
    assert run.code == 1
    errors = [line for line in run.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, run.output
    assert "consistency LOCAL_QUORUM" in errors[0] and f"127.0.0.1:{CQL_PORT}" in errors[0]
    assert "down: 127.0.0.2" in errors[0], errors[0]
    results = json.loads((cluster / "target" / "run_results.json").read_text())["results"]
    assert {r["status"] for r in results} == {"skipped"}  # nothing ran: the tables keep old rows
    assert_tables_match_marts(local_marts, level="ONE")

    bring_back(cluster)
    began, lines = time.monotonic(), []
    proc = start_runner(cluster, "retry")
    wait_for_line(proc, "START cassandra model user_onboarding_metrics", lines)
    kill_node(cluster, "127.0.0.2")
    retry = finish(proc, lines, began)
    print(f"retry with 127.0.0.2 killed during the writes: {retry.seconds:.0f}s")
    assert retry.code == 0, retry.output
    assert_same_marts(marts(cluster), local_marts)
    bring_back(cluster)
    print(f"hints delivered {wait_hints_delivered(cluster):.0f}s after the node came back")
    assert_tables_match(cluster)


@pytest.mark.timeout(BUILD_BUDGET + 2 * UP_BUDGET)
def test_worker_killed_mid_build(cluster: Path, local_marts):
    bring_back(cluster)
    runner(cluster, "clean")  # nothing to reuse: the run computes every model while a worker dies
    began, lines = time.monotonic(), []
    proc = start_runner(cluster, "run", "-t", "cluster", "--vars", VARS)
    wait_for_line(proc, "START view model stg_", lines)
    pid = spark_cluster.worker_process(cluster, 1).live_pid()
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)  # the worker and its executor: a lost machine
    run = finish(proc, lines, began)
    print(f"run with worker 1 killed: {run.seconds:.0f}s")
    assert run.code == 0, run.output
    assert_same_marts(marts(cluster), local_marts)
    alive = spark_cluster.alive_workers(f"http://127.0.0.1:{UI_PORT}")
    assert len(alive) == 1
    bring_back(cluster)
