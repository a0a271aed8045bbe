"""Session fixtures for real Cassandra nodes and a Spark session with spark-cassandra-connector.

conftest.py imports them. Nodes live under `<project>/.runner/test-cassandra*` and are started
once per run; set RUNNER_TEST_CASSANDRA_PORT to use a node that already runs on 127.0.0.1.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runner.cassandra.client import connect, quote
from runner.cassandra.connector import connector_spark_conf
from runner.config import CassandraTarget
from runner.java import ensure_java_home
from runner.local import cassandra_node as nodes
from runner.local.maven import ensure_connector_jars
from runner.paths import state_dir

PROJECT_DIR = Path(__file__).resolve().parents[2]
PORT_ENV = "RUNNER_TEST_CASSANDRA_PORT"
AUTH_LOGIN = nodes.DEFAULT_SUPERUSER


@dataclass(frozen=True)
class NodeFixture:
    """A node the tests can use: its target (keyspace `runner_test`) and its state folder."""

    target: CassandraTarget
    state_dir: Path | None
    info: nodes.RunningNode | None


def _start_node(state_dir: Path, port: int, auth: bool) -> Iterator[NodeFixture]:
    login = AUTH_LOGIN if auth else None
    target = CassandraTarget(
        port=port,
        keyspace="runner_test",
        username=login[0] if login else None,
        password=login[1] if login else None,  # type: ignore[arg-type]
    )
    if nodes.status(state_dir).running:  # left over by an interrupted run: reuse it
        yield NodeFixture(target, state_dir, None)
        return
    info = nodes.start(
        state_dir, port=port, storage_port=port - 2000, auth=auth, project_dir=PROJECT_DIR
    )
    try:
        yield NodeFixture(target, state_dir, info)
    finally:
        nodes.stop(state_dir)


@pytest.fixture(scope="session")
def cassandra_node() -> Iterator[NodeFixture]:
    """A node without authentication on 127.0.0.1:9142 (storage 7142).

    With $RUNNER_TEST_CASSANDRA_PORT set, the node already running on that port is used instead.
    """
    if os.environ.get(PORT_ENV):
        target = CassandraTarget(port=int(os.environ[PORT_ENV]), keyspace="runner_test")
        yield NodeFixture(target, None, None)
        return
    yield from _start_node(state_dir(PROJECT_DIR, "test-cassandra"), 9142, auth=False)


@pytest.fixture(scope="session")
def cassandra_auth_node() -> Iterator[NodeFixture]:
    """A node with PasswordAuthenticator on 127.0.0.1:9242 (storage 7242), login cassandra."""
    yield from _start_node(state_dir(PROJECT_DIR, "test-cassandra-auth"), 9242, auth=True)


@pytest.fixture()
def cassandra_target(cassandra_node: NodeFixture) -> Iterator[CassandraTarget]:
    """The test node's target with a fresh keyspace, dropped after the test."""
    keyspace = f"t_{uuid.uuid4().hex[:12]}"
    yield cassandra_node.target.model_copy(update={"keyspace": keyspace})
    session = connect(cassandra_node.target)
    try:
        session.execute(f"DROP KEYSPACE IF EXISTS {quote(keyspace)}")
    finally:
        session.cluster.shutdown()


@pytest.fixture(scope="session")
def spark_cassandra(request: pytest.FixtureRequest, cassandra_node: NodeFixture) -> Iterator[Any]:
    """A SparkSession with the connector jars: conftest's shared `spark`, else a local[2] one.

    `write_mart` passes the connection settings with every read and write, so the session only
    needs the jars; the `cass` catalog points at the test node when this fixture builds it.
    """
    ensure_java_home()
    try:
        shared = request.getfixturevalue("spark")
    except pytest.FixtureLookupError:
        shared = None
    if shared is not None:
        if "spark-cassandra-connector" not in shared.conf.get("spark.jars", ""):
            pytest.fail("the shared `spark` fixture lacks the spark-cassandra-connector jars")
        yield shared
        return
    from pyspark.sql import SparkSession

    jars = ensure_connector_jars(PROJECT_DIR)
    builder = (
        SparkSession.builder.master("local[2]")
        .appName("runner-tests-cassandra")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.session.timeZone", "UTC")
    )
    for key, value in connector_spark_conf(cassandra_node.target, jars).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        yield spark
    finally:
        spark.stop()


# A tiny project whose marts live in Cassandra, for the truth and fault tests. `m` has `n` rows
# (key shifted by `shift`, values scaled by `v`); `after_m` reads `m`; `m` has a not_null test.
MART_FILES = {
    "runner_project.yml": "name: marts\nprofile: marts\nvars:\n  v: 1\n  shift: 0\n  n: 2000\n",
    "models/m.sql": (
        "{{ config(materialized='cassandra', partition_key=['k']) }}\n"
        "select cast(id + {{ var('shift') }} as string) as k, (id + 1) * {{ var('v') }} as val,\n"
        "       repeat('x', 20) as pad\n"
        "from range({{ var('n') }})\n"
    ),
    "models/after_m.sql": (
        "{{ config(materialized='cassandra', partition_key=['bucket']) }}\n"
        "select cast(val % 7 as int) as bucket, count(*) as users from {{ ref('m') }} group by 1\n"
    ),
    "models/schema.yml": (
        "version: 2\nmodels:\n  - name: m\n    columns:\n"
        "      - name: k\n        tests: [not_null]\n"
    ),
}
MART_COLUMNS = {"m": ["k", "val", "pad"], "after_m": ["bucket", "users"]}


def mart_project(root: Path, target: CassandraTarget, targets: tuple[str, ...] = ("dev",)) -> Path:
    """Write the tiny project to `root`; every name in `targets` is a target writing to `target`
    (same hosts, port and keyspace), the first one the default."""
    cassandra = (
        f"{{hosts: [{', '.join(target.hosts)}], port: {target.port}, "
        f"keyspace: {target.keyspace}}}"
    )
    outputs = "".join(
        f"    {name}:\n      spark: {{master: 'local[2]'}}\n      cassandra: {cassandra}\n"
        for name in targets
    )
    files = {**MART_FILES, "profiles.yml": f"marts:\n  target: {targets[0]}\n  outputs:\n{outputs}"}
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def cassandra_rows(target: CassandraTarget, table: str) -> set[tuple[Any, ...]]:
    """The rows of one of the tiny project's marts in Cassandra, as plain tuples."""
    columns = MART_COLUMNS[table]
    session = connect(target)
    try:
        cql = f"SELECT {', '.join(columns)} FROM {quote(target.keyspace)}.{table}"
        return {tuple(row) for row in session.execute(cql, timeout=60)}
    finally:
        session.cluster.shutdown()


def parquet_rows(project: Path, table: str) -> set[tuple[Any, ...]]:
    """The rows of one of the tiny project's marts in its Parquet copy under target/marts."""
    import pandas as pd

    frame = pd.read_parquet(project / "target" / "marts" / table)[MART_COLUMNS[table]]
    return {tuple(row) for row in frame.astype(object).itertuples(index=False)}


@dataclass(frozen=True)
class KillableNode:
    """A node of its own that tests may `kill -9` and start again."""

    target: CassandraTarget
    state_dir: Path
    storage_port: int

    def pid(self) -> int:
        return int((self.state_dir / "cassandra.pid").read_text().split()[0])

    def kill(self) -> None:
        """SIGKILL the node's JVM, by the PID in its PID file."""
        import signal

        os.kill(self.pid(), signal.SIGKILL)

    def ensure_running(self) -> None:
        """Start the node again when it is not running (data kept)."""
        if not nodes.status(self.state_dir).running:
            nodes.start(
                self.state_dir, port=self.target.port, storage_port=self.storage_port,
                project_dir=PROJECT_DIR,
            )


@pytest.fixture(scope="session")
def killable_node() -> Iterator[KillableNode]:
    """A node on 127.0.0.1:9442 (storage 7442) in `.runner/test-cassandra-faults`, stopped at
    the end; tests kill it and start it again."""
    target = CassandraTarget(port=9442, keyspace="runner_faults", connect_timeout=5)
    node = KillableNode(target, state_dir(PROJECT_DIR, "test-cassandra-faults"), 7442)
    node.ensure_running()
    try:
        yield node
    finally:
        nodes.stop(node.state_dir)
