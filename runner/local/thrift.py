"""The local Spark Thrift Server Superset queries: a Spark session with the Cassandra catalog.

Superset's `hive://` database points here, and every chart query reads
`cass.<keyspace>.<table>` at query time. The datasets are virtual (`SELECT ... FROM cass...`,
see `runner.superset.charts`): the Thrift metadata calls only list tables of the session
catalog, and Hive views over the catalog would freeze the schema in a per-machine Derby
metastore that the dashboards cannot rely on.

Closed by default: it listens on 127.0.0.1 only; a client logs in as `runner` with the password
in `.runner/secrets/thrift.password` (hive.server2.authentication=CUSTOM, see
`runner.local.thrift_guard`); sessions may only read (queries and listings: no DDL, no INSERT,
no SET, no ADD JAR, no TRANSFORM, no reflect()), never files (`spark.sql.runSQLOnFiles=false`)
and never settings (`spark.sql.variable.substitute=false`). Its Cassandra login is the target's,
or the SELECT-only reader role of a managed node with authentication.

State, under `<project>/.runner/thrift/` (0700): thrift.pid, thrift.log, thrift.url, spark.conf
(0600: it may hold the Cassandra password, which never reaches a command line), users (0600:
the SHA-256 of the Thrift password), fairscheduler.xml, warehouse/, metastore_db/, derby.log.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from runner.cassandra.connector import connector_spark_conf
from runner.child_env import child_env
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
from runner.local.thrift_guard import (
    AUTH_CLASS,
    AUTH_FILE_PROPERTY,
    EXTENSION_CLASS,
    ensure_guard_jar,
    spark_home,
)
from runner.paths import ensure_private_dir, state_dir, state_root
from runner.secret_files import ensure_secret, secret_path, write_private

if TYPE_CHECKING:
    from runner.config import CassandraTarget, SupersetTarget

THRIFT_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
HOST_KEY, PORT_KEY = "spark.cassandra.connection.host", "spark.cassandra.connection.port"
THRIFT_USER = "runner"
PASSWORD_FILE = "thrift.password"
# The default pool shares among its jobs too (without this file it is FIFO inside FAIR mode).
POOLS_FILE = "fairscheduler.xml"
POOLS = """<?xml version="1.0"?>
<allocations>
  <pool name="default">
    <schedulingMode>FAIR</schedulingMode><weight>1</weight><minShare>0</minShare>
  </pool>
</allocations>
"""

# The login travels on stdin, never on the command line.
HIVE_QUERY_SCRIPT = """\
import json, sys
from pyhive import hive
req = json.load(sys.stdin)
login = {"auth": "CUSTOM", "password": req["password"]} if req["password"] else {}
conn = hive.connect(host=req["host"], port=req["port"], username=req["user"], **login)
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
    )


def thrift_url(superset_target: SupersetTarget) -> str:
    """Where the Thrift server of `superset_target` listens, as shown to the user (no password).

    Example:
        >>> from runner.config import SupersetTarget
        >>> thrift_url(SupersetTarget())
        'hive://runner@127.0.0.1:10000/default'
    """
    host, port = superset_target.thrift_host, superset_target.thrift_port
    return f"hive://{THRIFT_USER}@{host}:{port}/default"


def thrift_login(project_dir: Path) -> tuple[str, str]:
    """The login of the project's managed Thrift server; the password is generated once (0600)."""
    password, _ = ensure_secret(secret_path(project_dir, PASSWORD_FILE))
    return THRIFT_USER, password


def users_file_text(login: tuple[str, str]) -> str:
    """The password file `PasswordFileAuthenticator` reads: `user:sha256-hex` lines.

    Example:
        >>> users_file_text(("runner", "abc"))
        'runner:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\\n'
    """
    return f"{login[0]}:{hashlib.sha256(login[1].encode()).hexdigest()}\n"


def ensure_thrift(
    project_dir: Path,
    cassandra_target: CassandraTarget,
    superset_target: SupersetTarget,
    *,
    timeout: float = 180,
    reader: tuple[str, str] | None = None,
) -> ServiceInfo:
    """Reuse or start the Spark Thrift Server that reads Cassandra through the catalog `cass`.

    An unmanaged target (`managed: false`) is only checked (without a login). Ready means
    `SHOW NAMESPACES IN cass` answered through PyHive, i.e. Spark reached Cassandra.

    Args:
        project_dir: the project folder; state goes to `.runner/thrift`.
        cassandra_target: where the marts are (hosts, port, credentials).
        superset_target: `thrift_host`/`thrift_port` to bind (must be loopback when managed).
        timeout: seconds to wait for readiness.
        reader: the Cassandra login to read with instead of the target's (a SELECT-only role).

    Returns:
        The running server.
    """
    began = time.monotonic()
    svc = thrift_process(project_dir)
    host, port = superset_target.thrift_host, superset_target.thrift_port
    url = thrift_url(superset_target)
    python = ensure_superset_venv(project_dir)
    if not superset_target.managed:
        _check_thrift(python, host, port, url, None, timeout=10)
        return ServiceInfo("thrift", url, None, False, time.monotonic() - began)
    if host not in (LOOPBACK, "localhost"):
        raise ServiceError(
            f"a managed Thrift server binds to 127.0.0.1 only, not {host}",
            hint="set superset.thrift_host: 127.0.0.1, or managed: false for a remote server",
        )
    login = thrift_login(project_dir)
    ensure_private_dir(state_root(project_dir))  # .runner: the owner's only
    ensure_private_dir(svc.state_dir)
    write_private(svc.state_dir / "users", users_file_text(login))  # read at every login
    write_private(svc.state_dir / POOLS_FILE, POOLS)
    if reader is not None:
        cassandra_target = cassandra_target.model_copy(
            update={"username": reader[0], "password": SecretStr(reader[1])}
        )
    conf = _conf_text(project_dir, svc.state_dir, cassandra_target)
    props = svc.state_dir / "spark.conf"
    pid = svc.live_pid()
    if pid is not None:
        _refuse_other_cassandra(svc, cassandra_target)
        if props.is_file() and props.read_text() == conf:
            _check_thrift(python, LOOPBACK, port, url, login, timeout=timeout, svc=svc)
            return ServiceInfo("thrift", url, pid, False, time.monotonic() - began, svc.log_file)
        svc.stop()  # started with other settings (an older runner's, without the login check)
    refuse_busy_port(port, "superset.thrift_port")
    write_private(props, conf)
    proc = _start_thrift(svc, props, port, url)
    try:
        _check_thrift(python, LOOPBACK, port, url, login, timeout=timeout, svc=svc, proc=proc)
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


def _conf_text(project_dir: Path, state: Path, target: CassandraTarget) -> str:
    """The server's Spark properties file: the connector, the guard, where its state goes."""
    conf = connector_spark_conf(target, ensure_connector_jars(project_dir))
    guard = ensure_guard_jar(project_dir)
    conf.update(
        {
            # Thrift sessions resolve classes outside the spark.jars loader (NoClassDefFoundError
            # NameTools$), so the connector also goes on the JVM's own classpath.
            "spark.driver.extraClassPath": ":".join([*conf["spark.jars"].split(","), str(guard)]),
            "spark.sql.extensions": f"{conf['spark.sql.extensions']},{EXTENSION_CLASS}",
            "spark.sql.runSQLOnFiles": "false",
            "spark.sql.variable.substitute": "false",
            "spark.master": "local[2]",
            "spark.app.name": "runner-thrift",
            "spark.driver.memory": "1g",
            "spark.ui.enabled": "false",
            "spark.driver.host": LOOPBACK,
            "spark.driver.bindAddress": LOOPBACK,
            # Many small chart queries at once: FAIR shares the 2 cores between queries (a big
            # one does not hold up the small ones queued after it); 2 partitions per shuffle.
            "spark.scheduler.mode": "FAIR",
            "spark.scheduler.allocation.file": str(state / POOLS_FILE),
            "spark.sql.shuffle.partitions": "2",
            # Superset's Hive time grains (week: 'u') use pre-3.0 datetime patterns.
            "spark.sql.legacy.timeParserPolicy": "LEGACY",
            "spark.sql.warehouse.dir": str(state / "warehouse"),
            "spark.hadoop.javax.jdo.option.ConnectionURL": (
                f"jdbc:derby:;databaseName={state / 'metastore_db'};create=true"
            ),
            "spark.driver.extraJavaOptions": (
                f"-Dderby.system.home={state} -D{AUTH_FILE_PROPERTY}={state / 'users'}"
            ),
        }
    )
    return "".join(f"{k} {v}\n" for k, v in conf.items())


def _start_thrift(svc: ManagedProcess, props: Path, port: int, url: str) -> subprocess.Popen[bytes]:
    home = spark_home()
    java_home = find_java_home()
    cmd = [
        str(home / "bin" / "spark-submit"), "--class", THRIFT_CLASS,
        "--properties-file", str(props),
        "--hiveconf", f"hive.server2.thrift.bind.host={LOOPBACK}",
        "--hiveconf", f"hive.server2.thrift.port={port}",
        "--hiveconf", "hive.server2.authentication=CUSTOM",
        "--hiveconf", f"hive.server2.custom.authentication.class={AUTH_CLASS}",
        "spark-internal",
    ]
    env = child_env(
        {
            "JAVA_HOME": str(java_home),
            "SPARK_HOME": str(home),
            "SPARK_LOCAL_IP": LOOPBACK,
            "PATH": f"{java_home / 'bin'}:{child_env().get('PATH', '')}",
        }
    )
    env.pop("PYSPARK_SUBMIT_ARGS", None)
    return svc.spawn(cmd, url=url, env=env, cwd=svc.state_dir)


def _check_thrift(
    python: Path,
    host: str,
    port: int,
    url: str,
    login: tuple[str, str] | None,
    *,
    timeout: float,
    svc: ManagedProcess | None = None,
    proc: subprocess.Popen[bytes] | None = None,
) -> None:
    def probe() -> str | None:
        if not port_open(host, port):
            return "port closed"
        try:
            hive_query(python, host, port, ["SHOW NAMESPACES IN cass"], login=login, timeout=60)
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
    python: Path,
    host: str,
    port: int,
    statements: list[str],
    *,
    login: tuple[str, str] | None,
    timeout: float = 120,
) -> list[list[list[object]]]:
    """Run SQL statements on a Thrift server through PyHive, in the Superset venv's python.

    Args:
        login: user and password (CUSTOM authentication); None: user `runner`, no password.

    Returns:
        One list of rows per statement (empty for statements without a result set).

    Raises:
        ServiceError: the query failed or took longer than `timeout` seconds.
    """
    user, password = login or (THRIFT_USER, None)
    req = json.dumps(
        {"host": host, "port": port, "statements": statements, "user": user, "password": password}
    )
    try:
        proc = subprocess.run(
            [str(python), "-c", HIVE_QUERY_SCRIPT],
            input=req,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=child_env(),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ServiceError(f"query on {host}:{port} timed out after {timeout:.0f} s") from exc
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        raise ServiceError(f"query on {host}:{port} failed: {lines[-1] if lines else '?'}")
    return json.loads(proc.stdout)
