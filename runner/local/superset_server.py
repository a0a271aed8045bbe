"""Local Spark Thrift Server and Superset for the dashboards, each a process with a PID file.

Superset queries the marts live: its `hive://` database points at a Spark Thrift Server whose
session has the Cassandra catalog `cass`, so every chart query reads `cass.<keyspace>.<table>`.
The datasets are virtual (`SELECT ... FROM cass.<ks>.<table>`, see `runner/superset.py`): the
Thrift metadata calls only list V1 session-catalog tables, and Hive views over the catalog
freeze the schema in a per-machine Derby metastore that the dashboards cannot rely on.

State, all under `<project>/.runner/`:

    thrift/     thrift.pid, thrift.log, spark.conf (0600), warehouse/, metastore_db/, derby.log
    superset/   venv/, superset_config.py, superset.db, secret_key (0600), home/,
                gunicorn.pid, gunicorn.log, install.log, init.log

Passwords never reach a command line or a log: Spark reads them from `spark.conf` (0600),
`superset fab create-admin` from its standard input.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests

from runner.local import processes
from runner.errors import ServiceError

if TYPE_CHECKING:
    from runner.config import CassandraTarget, SupersetTarget

JAVA_HOME = Path("/usr/lib/jvm/java-17-openjdk-amd64")
LOOPBACK = "127.0.0.1"
THRIFT_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
REQUIREMENTS = Path(__file__).resolve().parent.parent / "tools" / "superset" / "requirements.txt"
SUPERSET_PACKAGES = (
    "apache-superset[hive]==6.1.0",
    "flask-caching<2.4",  # 2.5 breaks create_app (SupersetMetastoreCache kwargs)
    "rich",  # imported by the superset CLI, not declared
    "cachetools",  # imported by db_engine_specs/aws_iam.py, not declared
    "gunicorn",
)
SECRET_KEY_ENV = "RUNNER_SUPERSET_SECRET_KEY"
DEFAULT_LOGIN = ("admin", "admin")

CONFIG_TEMPLATE = '''\
"""Superset config written by runner/superset_service.py; edits are overwritten."""
import os
from pathlib import Path

_STATE = Path({state!r})
SECRET_KEY = os.environ.get({env!r}) or (_STATE / "secret_key").read_text().strip()
SQLALCHEMY_DATABASE_URI = "sqlite:///" + str(_STATE / "superset.db") + "?check_same_thread=false"
DATA_DIR = str(_STATE / "home")
TALISMAN_ENABLED = False
# Charts must show what is in Cassandra now, so no result cache.
DATA_CACHE_CONFIG = {{"CACHE_TYPE": "NullCache"}}
SUPERSET_WEBSERVER_TIMEOUT = 120


def FLASK_APP_MUTATOR(app):
    from flask import request
    from flask_jwt_extended import verify_jwt_in_request
    from pyhive.sqlalchemy_hive import HiveDialect
    from sqlalchemy import text
    from superset.db_engine_specs.hive import HiveEngineSpec

    # FAB checks public perms before the JWT; resolve the bearer token first.
    @app.before_request
    def _jwt_user_first():
        if request.headers.get("Authorization", "").startswith("Bearer "):
            verify_jwt_in_request(optional=True)

    # Spark answers SHOW TABLES with (namespace, tableName, isTemporary); PyHive reads column 0.
    def _name(row):
        return row[1] if len(row) >= 3 else row[0]

    def get_table_names(self, connection, schema=None, **kw):
        q = "SHOW TABLES"
        if schema:
            q += " IN " + self.identifier_preparer.quote_identifier(schema)
        return [_name(r) for r in connection.execute(text(q))]

    @classmethod
    def get_view_names(cls, database, inspector, schema):
        with database.get_raw_connection(schema=schema) as conn:
            cur = conn.cursor()
            cur.execute("SHOW VIEWS" + (f" IN `{{schema}}`" if schema else ""))
            return {{_name(r) for r in cur.fetchall()}}

    HiveDialect.get_table_names = get_table_names
    HiveEngineSpec.get_view_names = get_view_names
'''

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


@dataclass(frozen=True)
class ServiceInfo:
    """A service that answered its readiness check.

    Args:
        name: `thrift` or `superset`.
        url: where clients reach it (`hive://127.0.0.1:10000/default`, `http://127.0.0.1:8088`).
        pid: process id when the runner manages it, else None.
        started: whether this call launched the process (False: an already running one reused).
        seconds: wall time of this call, install and initialization included.
        log_path: the service's log file when managed.
    """

    name: str
    url: str
    pid: int | None
    started: bool
    seconds: float
    log_path: Path | None = None


@dataclass(frozen=True)
class ServiceStatus:
    """What `status()` found for one service."""

    name: str
    running: bool
    pid: int | None
    url: str
    detail: str


@dataclass(frozen=True)
class _Service:
    name: str
    state_dir: Path
    pid_name: str
    log_name: str
    marker: str  # a string in /proc/<pid>/cmdline, so a recycled PID is never taken for ours

    @property
    def pid_file(self) -> Path:
        return self.state_dir / self.pid_name

    @property
    def log_file(self) -> Path:
        return self.state_dir / self.log_name


def _thrift(project_dir: Path) -> _Service:
    return _Service(
        "thrift", _runner_dir(project_dir) / "thrift", "thrift.pid", "thrift.log", THRIFT_CLASS
    )


def _superset(project_dir: Path) -> _Service:
    return _Service(
        "superset",
        _runner_dir(project_dir) / "superset",
        "gunicorn.pid",
        "gunicorn.log",
        "superset.app:create_app()",
    )


def _runner_dir(project_dir: Path) -> Path:
    return project_dir.resolve() / ".runner"


# ---------------------------------------------------------------------------------------------
# Spark Thrift Server


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
    svc = _thrift(project_dir)
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
    pid = _live_pid(svc)
    if pid is not None:
        _check_thrift(python, LOOPBACK, port, url, timeout=timeout, svc=svc)
        return ServiceInfo("thrift", url, pid, False, time.monotonic() - began, svc.log_file)
    _refuse_busy_port(port, "thrift_port")
    proc = _start_thrift(project_dir, svc, cassandra_target, port, url)
    _check_thrift(python, LOOPBACK, port, url, timeout=timeout, svc=svc, proc=proc)
    return ServiceInfo("thrift", url, proc.pid, True, time.monotonic() - began, svc.log_file)


def _start_thrift(
    project_dir: Path, svc: _Service, target: CassandraTarget, port: int, url: str
) -> subprocess.Popen[bytes]:
    import pyspark

    from runner.cassandra import client as cassandra
    from runner.local import cassandra_node

    state = svc.state_dir
    state.mkdir(parents=True, exist_ok=True)
    conf = cassandra.connector_spark_conf(target, cassandra_node.ensure_connector_jars(project_dir))
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
    # A properties file (0600) keeps the Cassandra password off the command line.
    props = state / "spark.conf"
    props.touch(mode=0o600)
    props.chmod(0o600)
    props.write_text("".join(f"{k} {v}\n" for k, v in conf.items()))
    spark_home = Path(pyspark.__file__).parent
    cmd = [
        str(spark_home / "bin" / "spark-submit"), "--class", THRIFT_CLASS,
        "--properties-file", str(props),
        "--hiveconf", f"hive.server2.thrift.bind.host={LOOPBACK}",
        "--hiveconf", f"hive.server2.thrift.port={port}",
        "spark-internal",
    ]  # fmt: skip
    env = {
        **os.environ,
        "JAVA_HOME": str(JAVA_HOME),
        "SPARK_HOME": str(spark_home),
        "SPARK_LOCAL_IP": LOOPBACK,
        "PATH": f"{JAVA_HOME / 'bin'}:{os.environ.get('PATH', '')}",
    }
    env.pop("PYSPARK_SUBMIT_ARGS", None)
    return _spawn(svc, cmd, url=url, env=env, cwd=state)


def _check_thrift(
    python: Path,
    host: str,
    port: int,
    url: str,
    *,
    timeout: float,
    svc: _Service | None = None,
    proc: subprocess.Popen[bytes] | None = None,
) -> None:
    def probe() -> str | None:
        if not processes.port_open(host, port):
            return "port closed"
        try:
            hive_query(python, host, port, ["SHOW NAMESPACES IN cass"], timeout=60)
        except ServiceError as exc:
            return exc.message
        return None

    _wait_ready(
        probe,
        "the Spark Thrift Server",
        lambda last: (
            f"the Spark Thrift Server at {url} did not answer within {timeout:.0f} s: {last}"
        ),
        remote_hint="check that the server runs and reaches Cassandra",
        timeout=timeout,
        interval=0.5,
        svc=svc,
        proc=proc,
    )


def hive_query(
    python: Path, host: str, port: int, statements: list[str], *, timeout: float = 120
) -> list[list[list[object]]]:
    """Run SQL statements on a Thrift server through PyHive in the Superset venv.

    PyHive lives only in the Superset venv, so this runs its Python as a subprocess.

    Returns:
        One list of rows per statement (empty for statements without a result set).
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


# ---------------------------------------------------------------------------------------------
# Superset


def ensure_superset_venv(project_dir: Path) -> Path:
    """Create `<project>/.runner/superset/venv` with the pinned Superset once.

    It is reinstalled when `tools/superset/requirements.txt` changes.

    Returns:
        The venv's python.
    """
    venv = _superset(project_dir).state_dir / "venv"
    python = venv / "bin" / "python"
    digest = hashlib.sha256(
        REQUIREMENTS.read_bytes() + "\n".join(SUPERSET_PACKAGES).encode()
    ).hexdigest()
    stamp = venv / ".runner-requirements"
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return python
    log = venv.parent / "install.log"
    venv.parent.mkdir(parents=True, exist_ok=True)
    base = getattr(sys, "_base_executable", sys.executable)
    steps = [
        [base, "-m", "venv", "--clear", str(venv)],
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q",
         "-c", str(REQUIREMENTS), *SUPERSET_PACKAGES],
    ]  # fmt: skip
    with log.open("w") as out:
        for cmd in steps:
            if subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False).returncode:
                raise ServiceError(
                    f"installing Superset failed: {processes.tail(log)}",
                    hint=f"see {log}; the pins are in {REQUIREMENTS}",
                )
    stamp.write_text(digest)
    return python


def ensure_superset(
    project_dir: Path, superset_target: SupersetTarget, *, timeout: float = 120
) -> ServiceInfo:
    """Reuse or start Superset (gunicorn) with an SQLite metadata DB under `.runner/superset`.

    First run: venv, config, `superset db upgrade`, admin user, `superset init`. The admin login
    is the target's (`RUNNER_SUPERSET_USERNAME`/`RUNNER_SUPERSET_PASSWORD`), else admin/admin.
    An unmanaged target is only checked. Ready means `GET /health` answers `OK`.

    Returns:
        The running Superset.
    """
    began = time.monotonic()
    svc = _superset(project_dir)
    url = superset_target.url.rstrip("/")
    if not superset_target.managed:
        _wait_health(url, timeout=10)
        return ServiceInfo("superset", url, None, False, time.monotonic() - began)
    parts = urlsplit(url)
    if parts.hostname not in (LOOPBACK, "localhost") or parts.scheme != "http":
        raise ServiceError(
            f"a managed Superset serves http://127.0.0.1 only, not {url}",
            hint="set superset.url: http://127.0.0.1:8088, or managed: false for a remote one",
        )
    port = parts.port or 80
    pid = _live_pid(svc)
    if pid is not None:
        _wait_health(url, timeout=timeout, svc=svc)
        return ServiceInfo("superset", url, pid, False, time.monotonic() - began, svc.log_file)
    _refuse_busy_port(port, "url")
    python = ensure_superset_venv(project_dir)
    env = _superset_env(svc.state_dir)
    _initialize(svc.state_dir, python, env, superset_target)
    cmd = [
        str(python.parent / "gunicorn"), "-w", "2", "-k", "gthread", "--threads", "4",
        "--timeout", "120", "-b", f"{LOOPBACK}:{port}", "superset.app:create_app()",
    ]  # fmt: skip
    proc = _spawn(svc, cmd, url=url, env=env, cwd=svc.state_dir)
    _wait_health(url, timeout=timeout, svc=svc, proc=proc)
    return ServiceInfo("superset", url, proc.pid, True, time.monotonic() - began, svc.log_file)


def _superset_env(state: Path) -> dict[str, str]:
    state.mkdir(parents=True, exist_ok=True)
    (state / "home").mkdir(exist_ok=True)
    key_file = state / "secret_key"
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    config = state / "superset_config.py"
    config.write_text(CONFIG_TEMPLATE.format(state=str(state), env=SECRET_KEY_ENV))
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("RUNNER_SUPERSET_PASSWORD", "RUNNER_CASSANDRA_PASSWORD"))
    }  # fmt: skip
    env.update(
        {
            "SUPERSET_CONFIG_PATH": str(config),
            "SUPERSET_HOME": str(state / "home"),
            "FLASK_APP": "superset",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _initialize(state: Path, python: Path, env: dict[str, str], target: SupersetTarget) -> None:
    version = "6.1.0"
    marker = state / "initialized"
    if marker.exists() and marker.read_text() == version and (state / "superset.db").exists():
        return
    user, password = target.credentials()
    user, password = user or DEFAULT_LOGIN[0], password or DEFAULT_LOGIN[1]
    superset = str(python.parent / "superset")
    log = state / "init.log"
    # create-admin prompts for the password when --password is absent: it never hits argv.
    steps: list[tuple[list[str], str | None]] = [
        ([superset, "db", "upgrade"], None),
        ([superset, "fab", "create-admin", "--username", user, "--firstname", "Runner",
          "--lastname", "Admin", "--email", f"{user}@localhost"], f"{password}\n{password}\n"),
        ([superset, "init"], None),
    ]  # fmt: skip
    with log.open("w") as out:
        for cmd, stdin in steps:
            proc = subprocess.run(
                cmd,
                input=stdin,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
                cwd=state,
                check=False,
            )
            if proc.returncode != 0:
                raise ServiceError(
                    f"`superset {' '.join(cmd[1:3])}` failed: {processes.tail(log)}",
                    hint=f"see {log}",
                )
    marker.write_text(version)


def _wait_health(
    url: str,
    *,
    timeout: float,
    svc: _Service | None = None,
    proc: subprocess.Popen[bytes] | None = None,
) -> None:
    def probe() -> str | None:
        try:
            resp = requests.get(f"{url}/health", timeout=5)
        except requests.ConnectionError:
            return "connection refused"
        except requests.Timeout:
            return "timed out"
        if resp.status_code == 200 and resp.text.strip() == "OK":
            return None
        return f"HTTP {resp.status_code}"

    _wait_ready(
        probe,
        "Superset",
        lambda last: f"Superset at {url} is not healthy after {timeout:.0f} s ({last})",
        remote_hint="check superset.url in profiles.yml",
        timeout=timeout,
        interval=0.3,
        svc=svc,
        proc=proc,
    )


# ---------------------------------------------------------------------------------------------
# Both


def _wait_ready(
    probe: Callable[[], str | None],
    label: str,
    timeout_message: Callable[[str], str],
    *,
    remote_hint: str,
    timeout: float,
    interval: float,
    svc: _Service | None,
    proc: subprocess.Popen[bytes] | None,
) -> None:
    """Call `probe` every `interval` seconds until it answers None (ready).

    Args:
        probe: one readiness check; returns None when ready, else why not.
        label: the service's name in messages.
        timeout_message: the error message after `timeout` seconds, from probe's last reason.
        remote_hint: the hint when the service is not managed (`svc` is None).
        timeout: seconds to wait.
        interval: seconds between checks.
        svc: the managed service; it exiting meanwhile is an error with the tail of its log.
        proc: the process this call started, if any (its exit is seen before its PID file's).
    """
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if svc is not None and _exited(svc, proc):
            raise ServiceError(
                f"{label} exited during start-up: {processes.tail(svc.log_file)}",
                hint=f"see {svc.log_file}",
            )
        reason = probe()
        if reason is None:
            return
        last = reason
        time.sleep(interval)
    raise ServiceError(timeout_message(last), hint=f"see {svc.log_file}" if svc else remote_hint)


def stop_all(
    project_dir: Path, timeout: float = 30, *, names: tuple[str, ...] = ("superset", "thrift")
) -> list[str]:
    """Stop the Superset and Thrift processes this project started (by PID file).

    Args:
        project_dir: the project folder.
        timeout: seconds to wait after SIGTERM before SIGKILL.
        names: which services to stop.

    Returns:
        The names of the services that were running and are now stopped.
    """
    stopped = []
    for svc in (_superset(project_dir), _thrift(project_dir)):
        if svc.name not in names:
            continue
        if processes.stop(svc.pid_file, svc.marker, timeout=timeout):
            stopped.append(svc.name)
    return stopped


def status(project_dir: Path) -> list[ServiceStatus]:
    """Whether the managed Thrift server and Superset of `project_dir` run."""
    out = []
    for svc, url in ((_thrift(project_dir), ""), (_superset(project_dir), "")):
        pid = _live_pid(svc)
        url_file = svc.state_dir / f"{svc.name}.url"
        url = url_file.read_text().strip() if url_file.exists() else url
        detail = f"pid {pid}, log {svc.log_file}" if pid else "not running"
        out.append(ServiceStatus(svc.name, pid is not None, pid, url, detail))
    return out


def _spawn(
    svc: _Service, cmd: list[str], *, url: str, env: dict[str, str], cwd: Path
) -> subprocess.Popen[bytes]:
    proc = processes.spawn(cmd, log_file=svc.log_file, pid_file=svc.pid_file, env=env, cwd=cwd)
    (svc.state_dir / f"{svc.name}.url").write_text(url)
    return proc


def _exited(svc: _Service, proc: subprocess.Popen[bytes] | None) -> bool:
    # While exec() chains bash -> java, /proc/<pid>/cmdline can read empty; ask Popen instead.
    if proc is not None:
        return proc.poll() is not None
    return _live_pid(svc) is None


def _live_pid(svc: _Service) -> int | None:
    return processes.live_pid(svc.pid_file, svc.marker)


def _refuse_busy_port(port: int, setting: str) -> None:
    if processes.port_open(LOOPBACK, port):
        raise ServiceError(
            f"port {port} on 127.0.0.1 is taken by a process this project did not start",
            hint=f"stop that process or change superset.{setting} in profiles.yml",
        )
