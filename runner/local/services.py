"""The local services of a target: `runner up`, `down`, `status` and `setup`.

`up` starts the services whose target says `managed: true` (the default `dev`), in order:
Spark, Cassandra, then the Spark Thrift Server, Redis and Superset. A target with a managed
Spark master or a managed ring of several Cassandra hosts (the `cluster` target) gets a local
cluster (`spark_cluster`, `cassandra_ring`). `setup` installs, once, everything the local
services need. What a build needs of them is in `runner.prepare_cassandra`; the work after a
build (recording it, the dashboard sync) in `runner.publish`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.child_env import child_env
from runner.config import Target
from runner.errors import ServiceError
from runner.local import (
    cassandra_node,
    cassandra_ring,
    dashboard_visit,
    maven,
    redis_server,
    spark_cluster,
    superset_server,
    superset_venv,
    thrift,
    thrift_guard,
)
from runner.local.cassandra_roles import reader_login
from runner.paths import ensure_private_dir, state_dir, state_root
from runner.results import Callback, Info
from runner.spark import class_archive

CHROMIUM_PACKAGE = "chromium"


@dataclass(frozen=True)
class ServiceLine:
    """One row of `runner status`."""

    name: str
    running: bool
    address: str
    detail: str


def _cassandra_dir(project_dir: Path) -> Path:
    return state_dir(project_dir, "cassandra")


def up(project_dir: Path, target: Target, callback: Callback) -> dict[str, Any]:
    """Start every managed service of the target, in order; returns their addresses.

    A managed Superset gets the project's Redis (its cache) first."""
    out: dict[str, Any] = {}
    ensure_private_dir(state_root(project_dir))  # services' state, logs and secrets: owner only
    if target.spark.managed:
        started = time.perf_counter()
        cluster = spark_cluster.ensure_running(project_dir, target.spark)
        workers = len(cluster.workers)
        out["spark"] = f"{cluster.master} ({workers} workers, UI {cluster.ui})"
        _ready(callback, "spark", out["spark"], started)
    if target.cassandra is not None and target.cassandra.managed:
        started = time.perf_counter()
        if len(target.cassandra.hosts) > 1:
            nodes = cassandra_ring.ensure_running(project_dir, target.cassandra)
            out["cassandra"] = (f"{', '.join(n.address for n in nodes)} "
                                f"(Cassandra {nodes[0].version}, {len(nodes)} nodes)")
        else:
            node = cassandra_node.ensure_running(_cassandra_dir(project_dir), target.cassandra)
            out["cassandra"] = f"{node.address} (Cassandra {node.version})"
        _ready(callback, "cassandra", out["cassandra"], started)
    if target.superset is not None and target.superset.managed:
        if target.cassandra is not None:
            started = time.perf_counter()
            reader = _thrift_reader(project_dir, target)
            out["thrift"] = thrift.ensure_thrift(
                project_dir, target.cassandra, target.superset, reader=reader
            ).url
            _ready(callback, "thrift", out["thrift"], started)
        started = time.perf_counter()
        out["redis"] = redis_server.ensure_redis(project_dir, target.superset.cache_port).url
        _ready(callback, "redis", out["redis"], started)
        started = time.perf_counter()
        info = superset_server.ensure_superset(project_dir, target.superset)
        out["superset"] = info.url
        _ready(callback, "superset", out["superset"], started)
        if info.note:
            callback(Info(info.note))
    return out


def _thrift_reader(project_dir: Path, target: Target) -> tuple[str, str] | None:
    """The SELECT-only login the Thrift server reads with, on a managed node with a login."""
    cass = target.cassandra
    if cass is None or not cass.managed or len(cass.hosts) > 1 or not cass.credentials()[0]:
        return None
    return reader_login(_cassandra_dir(project_dir))


def _ready(callback: Callback, name: str, address: str, started: float) -> None:
    callback(Info(f"{name:<10} {address}  ready in {time.perf_counter() - started:.1f}s"))


def down(project_dir: Path) -> list[str]:
    """Stop every service this project started (by PID file).

    Returns:
        The names of the services that were running and are now stopped.
    """
    stopped = [
        name
        for name, stop in (("superset", superset_server.stop), ("redis", redis_server.stop),
                           ("thrift", thrift.stop))
        if stop(project_dir)
    ]
    if cassandra_node.stop(_cassandra_dir(project_dir)):
        stopped.append("cassandra")
    stopped += spark_cluster.stop(project_dir)
    stopped += [f"cassandra {host}" for host in cassandra_ring.stop(project_dir)]
    return stopped


def status(project_dir: Path) -> list[ServiceLine]:
    """One line per local service: running or not, where, and its version or log."""
    node = cassandra_node.status(_cassandra_dir(project_dir))
    lines = [
        ServiceLine(
            "cassandra",
            node.running,
            node.address or "127.0.0.1:9042",
            f"version {node.version or '?'}, data {node.data_dir}",
        )
    ]
    for ring_node in cassandra_ring.status(project_dir):
        state = ring_node.state
        lines.append(ServiceLine(
            f"cassandra {ring_node.host}", state.running, state.address or ring_node.host,
            f"pid {state.pid}, version {state.version or '?'}, data {state.data_dir}"
            if state.running else f"not running, data {state.data_dir}",
        ))
    for svc in (*spark_cluster.status(project_dir), thrift.status(project_dir),
                redis_server.status(project_dir), superset_server.status(project_dir)):
        lines.append(ServiceLine(svc.name, svc.running, svc.url, svc.detail))
    return lines


def setup(project_dir: Path, callback: Callback) -> None:
    """Install what the services need, once: the Maven jars, the Spark class archive, the
    Superset venv and Chromium. Each step is skipped when its result is already there."""
    steps = (
        ("Cassandra jars", maven.ensure_cassandra_jars),
        ("Spark-Cassandra connector jars", maven.ensure_connector_jars),
        ("Spark class archive", class_archive.ensure_archive),
        ("Superset environment", superset_venv.ensure_superset_venv),
        ("Redis (Superset's cache)", redis_server.ensure_redis_binary),
        ("Thrift server guard classes", thrift_guard.ensure_guard_jar),
    )
    for label, install in steps:
        started = time.perf_counter()
        install(project_dir)
        callback(Info(f"{label} ready ({time.perf_counter() - started:.1f}s)"))
    started = time.perf_counter()
    if ensure_chromium() is None:
        hint = f"`sudo apt-get install {CHROMIUM_PACKAGE}` (for dashboard screenshots)"
        callback(Info(f"Chromium is missing and only root can install it: run {hint}"))
    else:
        callback(Info(f"Chromium ready ({time.perf_counter() - started:.1f}s)"))


def ensure_chromium() -> Path | None:
    """Chromium (headless dashboard screenshots), installed with apt-get when missing and root.

    Returns:
        The chromium executable, or None when it is missing and this user cannot install it.

    Raises:
        ServiceError: apt-get failed.
    """
    found = dashboard_visit.find_chromium()
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None
    for cmd in (["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", CHROMIUM_PACKAGE]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=child_env(), check=False)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["?"])[-1]
            raise ServiceError(f"`{' '.join(cmd)}` failed: {last}")
    found = dashboard_visit.find_chromium()
    if found is None:
        raise ServiceError(f"apt-get installed {CHROMIUM_PACKAGE} but `chromium` is not on PATH")
    return found
