"""The services a target needs, in order: Cassandra, then the Spark Thrift Server and Superset.

Only targets whose service is `managed: true` (the default `dev`) get local services started;
any other target is only checked, and an unreachable service is a ServiceError. A target with
a managed Spark master or a managed ring of several Cassandra hosts (the `cluster` target) gets
a local cluster from `runner up` (`spark_cluster`, `cassandra_ring`); a build only checks it,
so a node that is down stays down. `setup` installs, once, everything the local services need.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.cassandra import build_info
from runner.cassandra.availability import check_writable
from runner.cassandra.client import connect
from runner.cassandra.connector import connector_spark_conf
from runner.config import Target
from runner.errors import RunnerError, ServiceError
from runner.local import (
    cassandra_node,
    cassandra_ring,
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
from runner.results import Callback, Info, RunResult
from runner.spark import class_archive
from runner.superset import sync as superset_sync
from runner.superset import sync_state, warm
from runner.superset.client import SupersetClient

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from runner.compile import CompiledProject

CHROMIUM_PACKAGE = "chromium"
TOUCH_TIMEOUT = 15.0  # seconds per request marking datasets changed after a write


@dataclass(frozen=True)
class ServiceLine:
    """One row of `runner status`."""

    name: str
    running: bool
    address: str
    detail: str


def _cassandra_dir(project_dir: Path) -> Path:
    return state_dir(project_dir, "cassandra")


def prepare_cassandra(project_dir: Path, target: Target, callback: Callback) -> dict[str, str]:
    """Make Cassandra usable for a build; returns the Spark settings of the connector."""
    assert target.cassandra is not None
    cass = target.cassandra
    if cass.managed and len(cass.hosts) > 1:
        _check_ring(project_dir, target)
        check_writable(cass)
    elif cass.managed:
        running = cassandra_node.status(_cassandra_dir(project_dir)).running
        if not running:
            callback(Info("Starting the local Cassandra node (127.0.0.1) ..."))
        started = time.perf_counter()
        node = cassandra_node.ensure_running(_cassandra_dir(project_dir), cass)
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


def record_build(target: Target, run: RunResult, callback: Callback) -> None:
    """Write one row per build to `<keyspace>.build_info` (the dashboard shows the last one)."""
    assert target.cassandra is not None
    ks = target.cassandra.keyspace
    session = connect(target.cassandra)
    try:
        session.execute(build_info.create_table_cql(ks))
        session.execute(build_info.insert_cql(ks), build_info.build_info_row(run))
    finally:
        session.cluster.shutdown()


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
        ))  # fmt: skip
    for svc in (*spark_cluster.status(project_dir), thrift.status(project_dir),
                redis_server.status(project_dir), superset_server.status(project_dir)):  # fmt: skip
        lines.append(ServiceLine(svc.name, svc.running, svc.url, svc.detail))
    return lines


def sync_dashboards(
    cp: CompiledProject,
    callback: Callback,
    *,
    force: bool = False,
    written: frozenset[str] = frozenset(),
    quick: bool = False,
) -> superset_sync.SyncResult:
    """Bring up Superset (managed targets only) and apply dashboards/ with the models' docs;
    `force` overwrites charts edited in the UI.

    `quick` (after a build): when nothing a full sync sends changed since the last one and
    nothing it made was changed in Superset (`sync_state`), only the datasets of the `written`
    marts are marked changed and their charts warmed: the everyday loop of one mart does not
    wait for a full sync.
    """
    target = cp.target
    assert target.superset is not None
    login = None
    database_login = target.superset.thrift_credentials()
    if target.superset.managed:
        up(cp.project.dir, target, callback)
        login = superset_server.admin_login(cp.project.dir, target.superset)[0]
        database_login = thrift.thrift_login(cp.project.dir)
    docs = {
        name: {c.name: c.description for c in model.columns}
        for name, model in cp.project.models.items()
    }
    keyspace = target.cassandra.keyspace if target.cassandra else "default"
    dashboards_dir = cp.project.dir / cp.project.config.dashboard_paths[0]
    settings = {"url": target.superset.url, "database": target.superset.database_name,
                "thrift": [target.superset.thrift_host, target.superset.thrift_port],
                "keyspace": keyspace}  # fmt: skip
    fingerprint = sync_state.fingerprint(dashboards_dir, settings, docs, database_login)
    path = sync_state.state_path(cp.project.dir, target.name)
    started = time.perf_counter()
    client = SupersetClient.for_target(target.superset, login)
    state = sync_state.load(path) if quick and not force else None
    if (state is not None and state.fingerprint == fingerprint
            and sync_state.observe(client, state) == state.seen):  # fmt: skip
        sync_state.touch(client, state, [ds for ds in state.dataset_ids(written)
                                         if ds not in state.touched])  # fmt: skip
        sync_state.save(path, state)
        callback(Info(f"Superset: dashboards unchanged, {len(state.touched)} datasets marked "
                      f"changed in {time.perf_counter() - started:.1f}s"))  # fmt: skip
        result = state.result()
    else:
        sync_state.forget(path)
        result = superset_sync.sync_dashboards(
            target.superset,
            dashboards_dir,
            cassandra_keyspace=keyspace,
            model_docs=docs,
            project_dir=cp.project.dir,
            login=login,
            database_login=database_login,
            force=force,
        )
        for edit in result.overwritten:
            callback(Info(f"Overwrote a UI edit (--force): {edit.key}.{edit.field}"))
        callback(Info(f"Superset synced in {time.perf_counter() - started:.1f}s"))
        state = sync_state.SyncState.after_full_sync(fingerprint, result)
        state.seen = sync_state.observe(client, state)
    if target.superset.managed and login is not None:
        _refresh_cache(cp.project.dir, target.superset.url, login, target.superset.cache_port,
                       callback, datasets=None if state.flushed else state.touched)  # fmt: skip
    state.touched, state.flushed = [], False
    sync_state.save(path, state)
    return result


def _refresh_cache(project_dir: Path, url: str, login: tuple[str, str], port: int,
                   callback: Callback, *, datasets: list[int] | None = None) -> None:  # fmt: skip
    """Empty Superset's data cache and warm it (runner.superset.warm); a failed warm-up warns.

    With `datasets`, only their remembered requests are replayed and nothing is emptied.

    Raises:
        ServiceError: the cache could not be emptied.
    """
    if datasets is not None and not datasets:
        return
    result = warm.refresh_cache(project_dir, url, login, port, datasets=datasets)
    if not result.flushed:
        callback(Info("Warning: Superset's cache (Redis) is not running: start it with "
                      "`runner up`"))  # fmt: skip
        return
    what = "emptied and warmed" if datasets is None else f"warmed for {len(datasets)} datasets"
    callback(Info(f"Superset cache {what}: {result.warmed} chart queries in "
                  f"{result.seconds:.1f}s"))  # fmt: skip
    if result.failed:
        callback(Info(f"Warning: {result.failed} chart queries were not warmed (their first "
                      f"viewer waits for Spark): {result.errors[0]}"))  # fmt: skip


def marts_written(project_dir: Path, target: Target, callback: Callback,
                  written: frozenset[str]) -> None:  # fmt: skip
    """A run/build wrote `written`: make the managed Superset stop serving their cached rows.

    The datasets that read them are marked changed (`sync_state.touch`); when that cannot be
    done, the whole data cache is emptied. A failure of both is a warning.
    """
    if target.superset is None or not target.superset.managed or not written:
        return
    path = sync_state.state_path(project_dir, target.name)
    state = sync_state.load(path)
    if state is not None and superset_server.status(project_dir).running:
        try:
            login = superset_server.admin_login(project_dir, target.superset)[0]
            client = SupersetClient(target.superset.url, *login, timeout=TOUCH_TIMEOUT)
            sync_state.touch(client, state, state.dataset_ids(written))
            sync_state.save(path, state)
            return
        except RunnerError:
            pass  # the whole cache is emptied instead
    try:
        redis_server.flush_data(project_dir, target.superset.cache_port)
        if state is not None:
            state.flushed = True
            sync_state.save(path, state)
    except ServiceError as exc:
        callback(Info(f"Warning: {exc.message}; Superset may show the previous numbers until "
                      "`runner superset sync`"))  # fmt: skip


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
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return Path(found)
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None
    for cmd in (["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", CHROMIUM_PACKAGE]):  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["?"])[-1]
            raise ServiceError(f"`{' '.join(cmd)}` failed: {last}")
    found = shutil.which("chromium")
    if found is None:
        raise ServiceError(f"apt-get installed {CHROMIUM_PACKAGE} but `chromium` is not on PATH")
    return Path(found)
