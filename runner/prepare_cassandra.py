"""Make the target's Cassandra usable for a build, before its first node writes a mart.

A managed single node (the default `dev`) is started when it is down. A managed ring of several
hosts (the `cluster` target) is only checked, so a node that is down stays down (`runner up`
starts it); the ring, like any other Cassandra, must have enough nodes up for writes at the
target's consistency, or the build stops with a ServiceError. The Spark session then gets the
connector's jars and settings.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from runner.cassandra.availability import check_writable
from runner.cassandra.connector import connector_spark_conf
from runner.config import Target
from runner.errors import ServiceError
from runner.local import cassandra_node, cassandra_ring, maven
from runner.paths import state_dir
from runner.results import Callback, Info

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def prepare_cassandra(project_dir: Path, target: Target, callback: Callback) -> dict[str, str]:
    """Make Cassandra usable for a build; returns the Spark settings of the connector.

    Raises:
        ServiceError: the ring is not running, or too few nodes are up for writes.
    """
    assert target.cassandra is not None
    cass = target.cassandra
    if cass.managed and len(cass.hosts) > 1:
        _check_ring(project_dir, target)
        check_writable(cass)
    elif cass.managed:
        node_dir = state_dir(project_dir, "cassandra")
        running = cassandra_node.status(node_dir).running
        if not running:
            callback(Info("Starting the local Cassandra node (127.0.0.1) ..."))
        started = time.perf_counter()
        node = cassandra_node.ensure_running(node_dir, cass)
        if not running:
            seconds = time.perf_counter() - started
            callback(Info(f"Cassandra {node.version} ready in {seconds:.1f}s"))
    else:
        check_writable(cass)
    return connector_spark_conf(cass, maven.ensure_connector_jars(project_dir))


def _check_ring(project_dir: Path, target: Target) -> None:
    """A build uses the local ring as it is: it does not restart nodes that are down."""
    if not any(node.state.running for node in cassandra_ring.status(project_dir)):
        raise ServiceError(
            f"the local Cassandra ring of target '{target.name}' is not running",
            hint=f"start it with `runner up -t {target.name}`",
        )


def apply_runtime_conf(spark: SparkSession, conf: dict[str, str]) -> None:
    """Apply connector settings to a session that already runs (its jars must be loaded)."""
    for key, value in conf.items():
        if key.startswith(("spark.cassandra.", "spark.sql.catalog.")):
            spark.conf.set(key, value)
