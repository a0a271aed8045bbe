"""The services a target needs, in order: Cassandra, then the Spark Thrift Server and Superset.

Only targets whose service is `managed: true` (the default `dev`) get local services started;
any other target is only checked, and an unreachable service is a ServiceError.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.config import Target

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from runner.build import Event, RunResult

STATE_DIR = ".runner"


@dataclass(frozen=True)
class ServiceLine:
    """One row of `runner status`."""

    name: str
    running: bool
    address: str
    detail: str


def state_dir(project_dir: Path, name: str) -> Path:
    return project_dir / STATE_DIR / name


def _info(callback: Callable[[Event], None], message: str) -> None:
    from runner.build import Info

    callback(Info(message))


def prepare_cassandra(
    project_dir: Path, target: Target, callback: Callable[[Event], None]
) -> dict[str, str]:
    """Make Cassandra usable for a build; returns the Spark settings of the connector."""
    from runner.cassandra import client as cassandra
    from runner.local import cassandra_node

    assert target.cassandra is not None
    cass = target.cassandra
    if cass.managed:
        status = cassandra_node.status(state_dir(project_dir, "cassandra"))
        if not status.running:
            _info(callback, "Starting the local Cassandra node (127.0.0.1) ...")
        started = time.perf_counter()
        node = cassandra_node.ensure_running(state_dir(project_dir, "cassandra"), cass)
        if not status.running:
            _info(callback, f"Cassandra {node.version} ready in {time.perf_counter() - started:.1f}s")
    else:
        cassandra.connect(cass).cluster.shutdown()
    jars = cassandra_node.ensure_connector_jars(project_dir)
    return cassandra.connector_spark_conf(cass, jars)


def apply_runtime_conf(spark: SparkSession, conf: dict[str, str]) -> None:
    """Apply connector settings to a session that already runs (its jars must be loaded)."""
    for key, value in conf.items():
        if key.startswith(("spark.cassandra.", "spark.sql.catalog.")):
            spark.conf.set(key, value)


def record_build(target: Target, run: RunResult, callback: Callable[[Event], None]) -> None:
    """Write one row per build to `<keyspace>.build_info` (the dashboard shows the last one)."""
    from runner.cassandra import client as cassandra

    assert target.cassandra is not None
    ks = target.cassandra.keyspace
    models = [r for r in run.results if r.resource_type == "model"]
    session = cassandra.connect(target.cassandra)
    try:
        session.execute(
            f'CREATE TABLE IF NOT EXISTS "{ks}".build_info (build_id text PRIMARY KEY, '
            "finished_at timestamp, started_at timestamp, target text, command text, "
            "models int, ok int, errors int, skipped int)"
        )
        session.execute(
            f'INSERT INTO "{ks}".build_info (build_id, finished_at, started_at, target, command, '
            "models, ok, errors, skipped) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                run.started_at.strftime("%Y%m%dT%H%M%S") + "-" + run.command,
                run.finished_at,
                run.started_at,
                run.target,
                run.command,
                sum(1 for r in models),
                sum(1 for r in models if r.status == "success"),
                sum(1 for r in models if r.status == "error"),
                sum(1 for r in models if r.status == "skipped"),
            ),
        )
    finally:
        session.cluster.shutdown()


def up(project_dir: Path, target: Target, callback: Callable[[Event], None]) -> dict[str, Any]:
    """Start every managed service of the target, in order; returns their addresses."""
    from runner.local import cassandra_node

    out: dict[str, Any] = {}
    if target.cassandra is not None and target.cassandra.managed:
        started = time.perf_counter()
        node = cassandra_node.ensure_running(state_dir(project_dir, "cassandra"), target.cassandra)
        out["cassandra"] = f"{node.address} (Cassandra {node.version})"
        _info(callback, f"cassandra  {out['cassandra']}  ready in {time.perf_counter() - started:.1f}s")
    if target.superset is not None and target.superset.managed:
        from runner.local import superset_server as superset_service

        if target.cassandra is not None:
            started = time.perf_counter()
            thrift = superset_service.ensure_thrift(project_dir, target.cassandra, target.superset)
            out["thrift"] = thrift.url
            _info(callback, f"thrift     {thrift.url}  ready in {time.perf_counter() - started:.1f}s")
        started = time.perf_counter()
        sup = superset_service.ensure_superset(project_dir, target.superset)
        out["superset"] = sup.url
        _info(callback, f"superset   {sup.url}  ready in {time.perf_counter() - started:.1f}s")
    return out


def down(project_dir: Path) -> list[str]:
    """Stop every service this project started (by PID file)."""
    from runner.local import cassandra_node

    stopped: list[str] = []
    try:
        from runner.local import superset_server as superset_service

        superset_service.stop_all(project_dir)
        stopped.append("superset, thrift")
    except ImportError:
        pass
    cassandra_node.stop(state_dir(project_dir, "cassandra"))
    stopped.append("cassandra")
    return stopped


def status(project_dir: Path) -> list[ServiceLine]:
    from runner.local import cassandra_node

    st = cassandra_node.status(state_dir(project_dir, "cassandra"))
    lines = [
        ServiceLine(
            "cassandra",
            st.running,
            getattr(st, "address", None) or "127.0.0.1:9042",
            f"version {getattr(st, 'version', None) or '?'}, data {getattr(st, 'data_dir', '?')}",
        )
    ]
    try:
        from runner.local import superset_server as superset_service

        for s in superset_service.status(project_dir):
            lines.append(ServiceLine(s.name, s.running, s.url, getattr(s, "detail", "")))
    except ImportError:
        pass
    return lines


def sync_dashboards(cp: Any, callback: Callable[[Event], None]) -> Any:
    """Bring up Superset (managed targets only) and apply dashboards/ with the models' docs."""
    from runner.superset import sync as superset

    target = cp.target
    assert target.superset is not None
    if target.superset.managed:
        up(cp.project.dir, target, callback)
    docs = {
        name: {c.name: c.description for c in model.columns}
        for name, model in cp.project.models.items()
    }
    keyspace = target.cassandra.keyspace if target.cassandra else "default"
    dashboards_dir = cp.project.dir / cp.project.config.dashboard_paths[0]
    started = time.perf_counter()
    result = superset.sync_dashboards(
        target.superset, dashboards_dir, cassandra_keyspace=keyspace, model_docs=docs
    )
    _info(callback, f"Superset synced in {time.perf_counter() - started:.1f}s")
    return result


def setup(project_dir: Path, callback: Callable[[Event], None]) -> None:
    """Install what the services need, once: Maven jars, the Spark class archive, the Superset
    venv, Chromium."""
    import os
    import shutil
    import subprocess

    from runner.local import cassandra_node

    started = time.perf_counter()
    cassandra_node.ensure_jars(project_dir)
    cassandra_node.ensure_connector_jars(project_dir)
    _info(callback, f"Cassandra and connector jars ready ({time.perf_counter() - started:.1f}s)")
    from runner.spark.class_archive import ensure_archive

    started = time.perf_counter()
    ensure_archive(project_dir)
    _info(callback, f"Spark class archive ready ({time.perf_counter() - started:.1f}s)")
    try:
        from runner.local import superset_server as superset_service
    except ImportError:
        superset_service = None  # type: ignore[assignment]
    if superset_service is not None and hasattr(superset_service, "ensure_venv"):
        started = time.perf_counter()
        superset_service.ensure_venv(project_dir)
        _info(callback, f"Superset environment ready ({time.perf_counter() - started:.1f}s)")
    if shutil.which("chromium") is None and os.geteuid() == 0 and shutil.which("apt-get"):
        _info(callback, "Installing Chromium (headless dashboard screenshots) ...")
        subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True,
                       capture_output=True)
