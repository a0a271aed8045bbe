"""The local Spark Thrift Server Superset queries: a Spark session with the Cassandra catalog.

Superset's `hive://` database points here, and every chart query reads
`cass.<keyspace>.<table>` at query time. The datasets are virtual (`SELECT ... FROM cass...`,
see `runner.superset.charts`): the Thrift metadata calls only list tables of the session
catalog, and Hive views over the catalog would freeze the schema in a per-machine Derby
metastore that the dashboards cannot rely on.

State, under `<project>/.runner/thrift/`: thrift.pid, thrift.log, thrift.url, spark.conf (0600:
it holds the Cassandra password, which never reaches a command line), warehouse/,
metastore_db/, derby.log.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from runner.cassandra.connector import connector_spark_conf
from runner.errors import ServiceError
from runner.java import find_java_home
from runner.local.maven import ensure_connector_jars
from runner.local.processes import (
    LOOPBACK,
    ManagedProcess,
    ServiceInfo,
    ServiceStatus,
    port_open,
    refuse_busy_port,
    wait_ready,
)
from runner.local.superset_venv import ensure_superset_venv
from runner.paths import state_dir

if TYPE_CHECKING:
    from runner.config import CassandraTarget, SupersetTarget

THRIFT_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
HOST_KEY, PORT_KEY = "spark.cassandra.connection.host", "spark.cassandra.connection.port"

HIVE_QUERY_SCRIPT = """\
import json, sys
from pyhive import hive
req = json.load(sys.stdin)
conn = hive.connect(host=req["host"], port=req["port"], username="runner")
cur = conn.cursor()
out = []
for sql in req["statements"]:
    cur.execute(sql)
    try:
        out.append([list(r) for r in cur.fetchall()])
    except (TypeError, hive.ProgrammingError):  # DDL: no result set
        out.append([])
conn.close()
json.dump(out, sys.stdout, default=str)
"""


def thrift_process(project_dir: Path) -> ManagedProcess:
    """The managed Thrift server of a project (its files; it may not run)."""
    return ManagedProcess(
        "thrift", "the Spark Thrift Server", state_dir(project_dir, "thrift"),
        "thrift.pid", "thrift.log", THRIFT_CLASS,
    )  # fmt: skip


def thrift_url(superset_target: SupersetTarget) -> str:
    """The SQLAlchemy URI Superset uses for the Thrift server of `superset_target`.

    Example:
        >>> from runner.config import SupersetTarget
        >>> thrift_url(SupersetTarget())
        'hive://runner@127.0.0.1:10000/default'
    """
    return f"hive://runner@{superset_target.thrift_host}:{superset_target.thrift_port}/default"


def ensure_thrift(
    project_dir: Path,
    cassandra_target: CassandraTarget,
    superset_target: SupersetTarget,
    *,
    timeout: float = 180,
) -> ServiceInfo:
    """Reuse or start the Spark Thrift Server that reads Cassandra through the catalog `cass`.

    An unmanaged target (`managed: false`) is only checked. Ready means `SHOW NAMESPACES IN cass`
    answered through PyHive, i.e. Spark reached Cassandra.

    Args:
        project_dir: the project folder; state goes to `.runner/thrift`.
        cassandra_target: where the marts are (hosts, port, credentials).
        superset_target: `thrift_host`/`thrift_port` to bind (must be loopback when managed).
        timeout: seconds to wait for readiness.

    Returns:
        The running server.
    """
    began = time.monotonic()
    svc = thrift_process(project_dir)
    host, port = superset_target.thrift_host, superset_target.thrift_port
    url = thrift_url(superset_target)
    python = ensure_superset_venv(project_dir)
    if not superset_target.managed:
        _check_thrift(python, host, port, url, timeout=10)
        return ServiceInfo("thrift", url, None, False, time.monotonic() - began)
    if host not in (LOOPBACK, "localhost"):
        raise ServiceError(
            f"a managed Thrift server binds to 127.0.0.1 only, not {host}",
            hint="set superset.thrift_host: 127.0.0.1, or managed: false for a remote server",
        )
    pid = svc.live_pid()
    if pid is not None:
        _refuse_other_cassandra(svc, cassandra_target)
        _check_thrift(python, LOOPBACK, port, url, timeout=timeout, svc=svc)
        return ServiceInfo("thrift", url, pid, False, time.monotonic() - began, svc.log_file)
    refuse_busy_port(port, "superset.thrift_port")
    proc = _start_thrift(project_dir, svc, cassandra_target, port, url)
    try:
        _check_thrift(python, LOOPBACK, port, url, timeout=timeout, svc=svc, proc=proc)
    except ServiceError:
        svc.stop()  # else the next run would reuse a server that never got ready
        raise
    return ServiceInfo("thrift", url, proc.pid, True, time.monotonic() - began, svc.log_file)


def stop(project_dir: Path, timeout: float = 30) -> bool:
    """Stop the project's Thrift server by its PID file; whether it was running."""
    return thrift_process(project_dir).stop(timeout)


def status(project_dir: Path) -> ServiceStatus:
    """Whether the project's Thrift server runs."""
    return thrift_process(project_dir).status()


def _refuse_other_cassandra(svc: ManagedProcess, target: CassandraTarget) -> None:
    """A running server keeps the Cassandra it started with (its catalog is fixed at start)."""
    try:
        lines = (svc.state_dir / "spark.conf").read_text().splitlines()
    except OSError:
        return
    conf = dict(line.split(" ", 1) for line in lines if " " in line)
    running = (conf.get(HOST_KEY), conf.get(PORT_KEY))
    wanted = (",".join(target.hosts), str(target.port))
    if running != wanted:
        raise ServiceError(
            f"the running Spark Thrift Server reads Cassandra at {running[0]}:{running[1]}, "
            f"but the target's is {wanted[0]}:{wanted[1]}",
            hint="stop it (`runner down`) so it restarts with the target's Cassandra",
        )


def _spark_home() -> Path:
    # The pyspark package folder, found without importing pyspark (about a second).
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError("pyspark is not installed in the runner's environment",
                           hint="reinstall the runner: pip install -e .")  # fmt: skip
    return Path(spec.submodule_search_locations[0])


def _start_thrift(
    project_dir: Path, svc: ManagedProcess, target: CassandraTarget, port: int, url: str
) -> subprocess.Popen[bytes]:
    state = svc.state_dir
    state.mkdir(parents=True, exist_ok=True)
    conf = connector_spark_conf(target, ensure_connector_jars(project_dir))
    conf.update(
        {
            # Thrift sessions resolve classes outside the spark.jars loader (NoClassDefFoundError
            # NameTools$), so the connector also goes on the JVM's own classpath.
            "spark.driver.extraClassPath": conf["spark.jars"].replace(",", ":"),
            "spark.master": "local[2]",
            "spark.app.name": "runner-thrift",
            "spark.driver.memory": "1g",
            "spark.ui.enabled": "false",
            "spark.driver.host": LOOPBACK,
            "spark.driver.bindAddress": LOOPBACK,
            "spark.sql.shuffle.partitions": "4",
            # Superset's Hive time grains (week: 'u') use pre-3.0 datetime patterns.
            "spark.sql.legacy.timeParserPolicy": "LEGACY",
            "spark.sql.warehouse.dir": str(state / "warehouse"),
            "spark.hadoop.javax.jdo.option.ConnectionURL": (
                f"jdbc:derby:;databaseName={state / 'metastore_db'};create=true"
            ),
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={state}",
        }
    )
    props = state / "spark.conf"
    props.touch(mode=0o600)
    props.chmod(0o600)
    props.write_text("".join(f"{k} {v}\n" for k, v in conf.items()))
    spark_home = _spark_home()
    java_home = find_java_home()
    cmd = [
        str(spark_home / "bin" / "spark-submit"), "--class", THRIFT_CLASS,
        "--properties-file", str(props),
        "--hiveconf", f"hive.server2.thrift.bind.host={LOOPBACK}",
        "--hiveconf", f"hive.server2.thrift.port={port}",
        "spark-internal",
    ]  # fmt: skip
    env = {
        **os.environ,
        "JAVA_HOME": str(java_home),
        "SPARK_HOME": str(spark_home),
        "SPARK_LOCAL_IP": LOOPBACK,
        "PATH": f"{java_home / 'bin'}:{os.environ.get('PATH', '')}",
    }
    env.pop("PYSPARK_SUBMIT_ARGS", None)
    return svc.spawn(cmd, url=url, env=env, cwd=state)


def _check_thrift(
    python: Path,
    host: str,
    port: int,
    url: str,
    *,
    timeout: float,
    svc: ManagedProcess | None = None,
    proc: subprocess.Popen[bytes] | None = None,
) -> None:
    def probe() -> str | None:
        if not port_open(host, port):
            return "port closed"
        try:
            hive_query(python, host, port, ["SHOW NAMESPACES IN cass"], timeout=60)
        except ServiceError as exc:
            return exc.message
        return None

    wait_ready(
        probe,
        lambda last: (
            f"the Spark Thrift Server at {url} did not answer within {timeout:.0f} s: {last}"
        ),
        timeout=timeout,
        interval=0.5,
        remote_hint="check that the server runs and reaches Cassandra",
        service=svc,
        proc=proc,
    )


def hive_query(
    python: Path, host: str, port: int, statements: list[str], *, timeout: float = 120
) -> list[list[list[object]]]:
    """Run SQL statements on a Thrift server through PyHive, in the Superset venv's python.

    Returns:
        One list of rows per statement (empty for statements without a result set).

    Raises:
        ServiceError: the query failed or took longer than `timeout` seconds.
    """
    req = json.dumps({"host": host, "port": port, "statements": statements})
    try:
        proc = subprocess.run(
            [str(python), "-c", HIVE_QUERY_SCRIPT],
            input=req,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ServiceError(f"query on {host}:{port} timed out after {timeout:.0f} s") from exc
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        raise ServiceError(f"query on {host}:{port} failed: {lines[-1] if lines else '?'}")
    return json.loads(proc.stdout)
