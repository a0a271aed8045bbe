"""Closed doors by default (issue 11, item 6), checked on the real services.

An attacker here is any other process of this machine: it can reach 127.0.0.1 ports and read
every process's command line. The Thrift server must ask for a password and only read; Superset
must have no factory login, answer only requests addressed to this machine and show no free SQL;
no secret may be in a command line or a child's environment; state, logs and marts are the
owner's only; a Cassandra node with authentication keeps no factory superuser.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from pydantic import SecretStr

from runner.cassandra.client import open_session
from runner.config import CASSANDRA_PASSWORD_ENV, CASSANDRA_USER_ENV, CassandraTarget
from runner.errors import ServiceError
from runner.local import cassandra_node, cassandra_roles, superset_server, thrift
from runner.local.superset_venv import ensure_superset_venv
from runner.paths import remove_tree, state_dir, state_root
from runner.secret_files import read_secret, write_private
from runner.superset.client import SupersetClient
from runner.superset.sync import sync_dashboards
from tests.integration import superset_fixtures
from tests.integration.superset_fixtures import PROJECT_DIR, SupersetStack

superset_cassandra = superset_fixtures.superset_cassandra
superset_marts = superset_fixtures.superset_marts
superset_stack = superset_fixtures.superset_stack

pytestmark = pytest.mark.slow

ROLES_PORT = 9442
ROLES_PASSWORD = "builder-password-1"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _query(stack: SupersetStack, sql: str, login: tuple[str, str] | None) -> list[list[object]]:
    python = ensure_superset_venv(PROJECT_DIR)
    port = stack.superset.thrift_port
    return thrift.hive_query(python, "127.0.0.1", port, [sql], login=login, timeout=300)[0]


# ---------------------------------------------------------------------------------------------
# The Spark Thrift Server


@pytest.mark.parametrize("login", [None, ("runner", "not-the-password"), ("admin", "admin")])
def test_thrift_refuses_a_login_without_the_password(
    superset_stack: SupersetStack, login: tuple[str, str] | None
) -> None:
    with pytest.raises(ServiceError, match="Error validating the login"):
        _query(superset_stack, "SELECT 1", login)
    assert _query(superset_stack, "SELECT 1", superset_stack.thrift_login) == [[1]]


SECRET_KEY = state_dir(PROJECT_DIR, "superset") / "secret_key"
REFUSED = [
    # any file the server's user can read, Superset's secret key among them
    ("SELECT * FROM text.`/etc/hostname`", "TABLE_OR_VIEW_NOT_FOUND"),
    (f"SELECT * FROM csv.`{SECRET_KEY}`", "TABLE_OR_VIEW_NOT_FOUND"),
    # DDL through the Cassandra catalog
    ("CREATE NAMESPACE cass.it_attacker WITH DBPROPERTIES "
     "(class='SimpleStrategy', replication_factor='1')", "read-only: CreateNamespace"),
    ("DROP NAMESPACE IF EXISTS cass.it_nothing_here CASCADE", "read-only: DropNamespace"),
    # code and settings
    ("ADD JAR /tmp/it-nothing.jar", "read-only: AddJarsCommand"),
    ("SET spark.sql.runSQLOnFiles=true", "read-only: SetCommand"),
    ("SELECT reflect('java.lang.System', 'getProperty', 'user.home')", "read-only: reflect"),
    ("SELECT TRANSFORM(1) USING 'cat /etc/hostname'", "read-only: ScriptTransformation"),
    ("CACHE TABLE it_t AS SELECT 1", "read-only: CacheTableAsSelect"),
    ("CREATE TEMPORARY VIEW it_v AS SELECT 1", "read-only: CreateViewCommand"),
]


@pytest.mark.parametrize(("sql", "why"), REFUSED, ids=[s.split()[0] + str(i) for i, (s, _) in
                                                      enumerate(REFUSED)])
def test_thrift_sessions_only_read(superset_stack: SupersetStack, sql: str, why: str) -> None:
    with pytest.raises(ServiceError) as err:
        _query(superset_stack, sql, superset_stack.thrift_login)
    assert why in err.value.message


def test_thrift_still_answers_queries_and_listings(superset_stack: SupersetStack) -> None:
    login = superset_stack.thrift_login
    assert _query(superset_stack, "SELECT 1 + 1", login) == [[2]]
    for listing in ("SHOW NAMESPACES IN cass", "USE default", "SHOW TABLES"):
        assert isinstance(_query(superset_stack, listing, login), list)
    # no variable substitution: ${...} would read the server's settings into a query
    assert _query(superset_stack, "SELECT '${spark.app.name}'", login) == [["${spark.app.name}"]]


SESSION_SCRIPT = """\
import json, sys
from pyhive import hive
req = json.load(sys.stdin)
conn = hive.connect(host="127.0.0.1", port=req["port"], username=req["user"],
                    password=req["password"], auth="CUSTOM", configuration=req["settings"])
cur = conn.cursor()
cur.execute("SELECT * FROM text.`/etc/hostname`")
print(cur.fetchall())
"""


@pytest.mark.parametrize(
    "settings",
    [
        {"set:hiveconf:spark.sql.runSQLOnFiles": "true"},
        {"set:hivevar:spark.sql.runSQLOnFiles": "true"},
    ],
)
def test_thrift_sessions_cannot_bring_their_own_settings(
    superset_stack: SupersetStack, settings: dict[str, str]
) -> None:
    user, password = superset_stack.thrift_login
    req = {"port": superset_stack.superset.thrift_port, "user": user, "password": password,
           "settings": settings}
    proc = subprocess.run(
        [str(ensure_superset_venv(PROJECT_DIR)), "-c", SESSION_SCRIPT],
        input=json.dumps(req), capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode != 0, proc.stdout
    assert "sessions may not change settings (spark.sql.runSQLOnFiles)" in proc.stderr


def test_thrift_files_hold_no_password_but_the_private_conf(superset_stack: SupersetStack) -> None:
    folder = state_dir(PROJECT_DIR, "thrift")
    password = superset_stack.thrift_login[1]
    assert _mode(folder) == 0o700
    for name in ("spark.conf", "users", "thrift.log"):
        assert _mode(folder / name) == 0o600, name
    assert password not in (folder / "users").read_text()
    assert password not in (folder / "thrift.log").read_text(errors="replace")


# ---------------------------------------------------------------------------------------------
# Superset


def _login_status(stack: SupersetStack, login: tuple[str, str], host: str | None = None) -> int:
    headers = {"Host": host} if host else {}
    resp = requests.post(
        f"{stack.superset.url}/api/v1/security/login",
        json={"username": login[0], "password": login[1], "provider": "db"},
        headers=headers,
        timeout=60,
    )
    return resp.status_code


def test_superset_has_no_factory_login(superset_stack: SupersetStack) -> None:
    assert _login_status(superset_stack, ("admin", "admin")) == 401
    assert _login_status(superset_stack, superset_stack.login) == 200
    if not os.environ.get("RUNNER_SUPERSET_PASSWORD"):
        path = state_root(PROJECT_DIR) / "secrets" / "superset-admin.password"
        assert read_secret(path) == superset_stack.login[1]
        assert _mode(path) == 0o600 and _mode(path.parent) == 0o700


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8088", "127.0.0.1.nip.io"])
def test_superset_answers_only_requests_addressed_to_this_machine(
    superset_stack: SupersetStack, host: str
) -> None:
    """A page whose name an attacker rebinds to 127.0.0.1 (DNS rebinding) gets nothing."""
    assert _login_status(superset_stack, superset_stack.login, host) == 400
    assert _login_status(superset_stack, superset_stack.login, "localhost:8088") == 200


def test_superset_applies_a_changed_password(superset_stack: SupersetStack) -> None:
    old = superset_stack.login
    generated = state_root(PROJECT_DIR) / "secrets" / "superset-admin.password"
    kept = read_secret(generated)
    changed = superset_stack.superset.model_copy(
        update={"password": SecretStr("changed-" + old[1][:12])}
    )
    try:
        info = superset_server.ensure_superset(PROJECT_DIR, changed, timeout=240)
        assert not info.started
        new = (old[0], "changed-" + old[1][:12])
        for _ in range(10):  # a gunicorn worker may answer from before the reset for a moment
            if _login_status(superset_stack, new) == 200:
                break
            time.sleep(1)
        assert _login_status(superset_stack, new) == 200
        assert _login_status(superset_stack, old) == 401
    finally:  # back to the login the other tests use
        if kept is not None:
            write_private(generated, kept + "\n")
        superset_server.ensure_superset(PROJECT_DIR, superset_stack.superset, timeout=240)
    assert _login_status(superset_stack, old) == 200


def test_sql_lab_reads_no_file(
    superset_stack: SupersetStack, superset_marts: str, tmp_path: Path
) -> None:
    """The database is not offered in SQL Lab, and even a direct call reads no local file."""
    dashboards = shutil.copytree(PROJECT_DIR / "dashboards", tmp_path / "dashboards")
    result = sync_dashboards(
        superset_stack.superset, dashboards, cassandra_keyspace=superset_marts,
        login=superset_stack.login, database_login=superset_stack.thrift_login,
    )
    client = SupersetClient.for_target(superset_stack.superset, superset_stack.login)
    database = client.request("GET", f"/api/v1/database/{result.database_id}")["result"]
    assert database["expose_in_sqllab"] is False
    assert superset_stack.thrift_login[1] not in json.dumps(database)
    key = SECRET_KEY.read_text().strip()
    resp = client.session.post(
        f"{client.url}/api/v1/sqllab/execute/",
        json={"database_id": result.database_id, "sql": f"SELECT * FROM text.`{SECRET_KEY}`",
              "runAsync": False, "schema": "default"},
        timeout=300,
    )
    assert key not in resp.text
    assert resp.status_code >= 400 or resp.json().get("status") != "success"


# ---------------------------------------------------------------------------------------------
# No secret in a command line or an environment


def _descendants(pids: set[int]) -> set[int]:
    """`pids` and every process below them (by /proc/<pid>/stat's parent id)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1]
                                               .split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, grew = set(pids), True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        found |= more
        grew = bool(more)
    return found


def _leaks(pids: set[int], secrets: list[str]) -> list[str]:
    leaks = []
    for pid in _descendants(pids):
        for part in ("cmdline", "environ"):
            try:
                data = Path(f"/proc/{pid}/{part}").read_bytes()
            except OSError:  # gone meanwhile
                continue
            leaks += [f"pid {pid} {part}" for s in secrets if s.encode() in data]
    return leaks


BUILD_JVM_SCRIPT = """\
import json, os, sys, time
from pathlib import Path
from runner.config import SparkTarget
from runner.spark.session import create_session
req = json.load(sys.stdin)
os.environ["RUNNER_CASSANDRA_PASSWORD"] = req["secret"]
spark = create_session(SparkTarget(master="local[1]"), Path(req["warehouse"]),
                       {"spark.cassandra.auth.username": "builder",
                        "spark.cassandra.auth.password": req["secret"]})
print(spark.conf.get("spark.cassandra.auth.password") == req["secret"], flush=True)
time.sleep(600)
"""


def test_no_secret_in_a_command_line_or_an_environment(
    superset_stack: SupersetStack, roles_node, spark, tmp_path: Path
) -> None:
    """The services (PIDs from their PID files), the test session's JVM and a build's JVM."""
    secrets = [superset_stack.login[1], superset_stack.thrift_login[1],
               SECRET_KEY.read_text().strip(), ROLES_PASSWORD]
    roles_node = state_dir(PROJECT_DIR, "test-cassandra-roles")
    for path in (cassandra_roles.admin_file(roles_node), cassandra_roles.reader_file(roles_node)):
        secrets += [s for s in [read_secret(path)] if s]
    pid_files = [state_dir(PROJECT_DIR, "thrift") / "thrift.pid",
                 state_dir(PROJECT_DIR, "superset") / "gunicorn.pid",
                 state_dir(PROJECT_DIR, "cassandra") / "cassandra.pid",
                 roles_node / "cassandra.pid"]
    pids = {int(p.read_text()) for p in pid_files if p.exists()}
    gateway = spark.sparkContext._gateway
    pids |= {gateway.proc.pid} if getattr(gateway, "proc", None) else set()
    assert pids
    assert not _leaks(pids, secrets)

    # A build's JVM, started while RUNNER_CASSANDRA_PASSWORD is set, with the connector's password.
    secret = "build-jvm-secret-5e0f"
    req = json.dumps({"secret": secret, "warehouse": str(tmp_path / "wh")})
    env = {**os.environ, "RUNNER_CASSANDRA_PASSWORD": secret}
    proc = subprocess.Popen(
        [sys.executable, "-c", BUILD_JVM_SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        env=env, cwd=tmp_path, text=True,
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(req)
        proc.stdin.close()
        assert proc.stdout.readline().strip() == "True"  # the session has the password
        jvms = _descendants({proc.pid}) - {proc.pid}
        assert jvms, "no JVM under the build process"
        assert not _leaks(jvms, [secret])
    finally:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------------------------------------
# Files: state, logs and marts are the owner's only


def test_state_and_logs_are_private(superset_stack: SupersetStack) -> None:
    assert _mode(state_root(PROJECT_DIR)) == 0o700
    for service, log in (("superset", "gunicorn.log"), ("superset", "init.log"),
                         ("thrift", "thrift.log")):
        assert _mode(state_dir(PROJECT_DIR, service)) == 0o700
        assert _mode(state_dir(PROJECT_DIR, service) / log) == 0o600, log
    assert _mode(SECRET_KEY) == 0o600
    assert _mode(state_dir(PROJECT_DIR, "superset") / "superset_config.py") == 0o600


def test_marts_and_artifacts_are_private(make_project, run_runner) -> None:
    project = make_project({"models/t.sql": "{{ config(materialized='table') }}\n"
                                            "select id from range(3)"})
    previous = os.umask(0o022)
    try:
        result = run_runner(["run"], project_dir=project)
        assert result.exit_code == 0, result.output
        assert os.umask(0o022) == 0o077  # what the runner set for everything it writes
    finally:
        os.umask(previous)
    target = project / "target"
    assert _mode(target) == 0o700
    assert _mode(target / "run_results.json") == 0o600
    assert _mode(target / "marts") & 0o077 == 0


# ---------------------------------------------------------------------------------------------
# Cassandra with authentication


@pytest.fixture(scope="module")
def roles_node() -> Iterator[tuple[Path, CassandraTarget]]:
    """A fresh node with authentication (127.0.0.1:9442), started as `runner up` starts one."""
    folder = state_dir(PROJECT_DIR, "test-cassandra-roles")
    cassandra_node.stop(folder)
    if folder.exists():
        remove_tree(folder, [state_root(PROJECT_DIR)])
    target = CassandraTarget(port=ROLES_PORT, keyspace="roles_it", managed=True)
    # The login comes from the environment, as users set it: the node must not inherit it.
    saved = {k: os.environ.get(k) for k in (CASSANDRA_USER_ENV, CASSANDRA_PASSWORD_ENV)}
    os.environ.update({CASSANDRA_USER_ENV: "builder", CASSANDRA_PASSWORD_ENV: ROLES_PASSWORD})
    try:
        cassandra_node.ensure_running(folder, target, project_dir=PROJECT_DIR)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    target = target.model_copy(
        update={"username": "builder", "password": SecretStr(ROLES_PASSWORD)}
    )
    try:
        yield folder, target
    finally:
        cassandra_node.stop(folder)


def _can(login: tuple[str, str], cql: str) -> str:
    try:
        session = open_session(["127.0.0.1"], ROLES_PORT, login, 20)
    except ServiceError as exc:
        return "no login" if "authentication failed" in exc.message else exc.message
    try:
        session.execute(cql)
        return "ok"
    except Exception as exc:  # noqa: BLE001 - the driver's Unauthorized and its wrappers
        return "refused" if "Unauthorized" in type(exc).__name__ + str(exc) else str(exc)
    finally:
        session.cluster.shutdown()


def test_cassandra_factory_superuser_is_disabled(roles_node) -> None:
    folder, target = roles_node
    assert _can(("cassandra", "cassandra"), "SELECT * FROM system.local") == "no login"
    assert cassandra_roles.probe_login(folder)[0] == "runner_admin"
    assert _mode(cassandra_roles.admin_file(folder)) == 0o600
    assert _mode(cassandra_roles.admin_file(folder).parent) == 0o700
    assert cassandra_node.status(folder).version is not None  # probed as runner_admin


def test_cassandra_writer_writes_and_reader_only_selects(roles_node) -> None:
    folder, target = roles_node
    writer = ("builder", "builder-password-1")
    assert _can(writer, "CREATE TABLE IF NOT EXISTS roles_it.t (k int PRIMARY KEY)") == "ok"
    assert _can(writer, "INSERT INTO roles_it.t (k) VALUES (1)") == "ok"
    assert _can(writer, "SELECT * FROM system_auth.roles") == "refused"  # not a superuser
    reader = cassandra_roles.reader_login(folder)
    assert reader is not None and reader[0] == "runner_reader"
    assert _can(reader, "SELECT * FROM roles_it.t") == "ok"
    for cql in ("INSERT INTO roles_it.t (k) VALUES (2)", "DROP TABLE roles_it.t",
                "CREATE KEYSPACE x WITH replication = {'class': 'SimpleStrategy', "
                "'replication_factor': 1}", "SELECT * FROM system_auth.roles"):
        assert _can(reader, cql) == "refused", cql


def test_cassandra_password_change_is_applied(roles_node) -> None:
    folder, target = roles_node
    changed = target.model_copy(update={"password": SecretStr("builder-password-2")})
    info = cassandra_node.ensure_running(folder, changed, project_dir=PROJECT_DIR)
    assert not info.started
    deadline = time.monotonic() + 30  # the node's credentials cache
    while _can(("builder", "builder-password-1"), "SELECT * FROM system.local") != "no login":
        assert time.monotonic() < deadline
        time.sleep(1)
    assert _can(("builder", "builder-password-2"), "SELECT * FROM system.local") == "ok"


def test_restarted_node_is_reused_with_the_runner_login(roles_node) -> None:
    folder, target = roles_node
    cassandra_node.stop(folder)
    info = cassandra_node.ensure_running(
        folder, target.model_copy(update={"password": SecretStr("builder-password-2")}),
        project_dir=PROJECT_DIR,
    )
    assert info.started
    assert _can(("cassandra", "cassandra"), "SELECT * FROM system.local") == "no login"


# ---------------------------------------------------------------------------------------------
# The build's Spark JVM

JVM_SCRIPT = r"""
import json, sys
from pathlib import Path
from pyspark import SparkContext
from runner.config import SparkTarget
from runner.spark.session import create_session

conf = json.loads(sys.argv[1])
spark = create_session(SparkTarget(master="local[1]", conf=conf), Path(sys.argv[2]),
                       {"spark.cassandra.auth.password": "jvm-cassandra-pw"})
pid = SparkContext._gateway.proc.pid
seen = {
    "cmdline": Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"),
    "environ": Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace"),
    "conf": {k: spark.sparkContext.getConf().get(k) for k in conf},
    "runtime": spark.conf.get("spark.cassandra.auth.password"),
}
spark.stop()
print(json.dumps(seen))
"""


def test_the_jvms_command_line_and_environment_hold_no_redactable_setting(tmp_path: Path):
    secrets = {
        "spark.hadoop.fs.s3a.secret.key": "jvm-s3-secret",
        "spark.ssl.ui.keyPassword": "jvm-ssl-password",
        "spark.authenticate.secret": "jvm-auth-secret",
    }
    env = {**os.environ, "RUNNER_CASSANDRA_PASSWORD": "jvm-env-password"}
    proc = subprocess.run(
        [sys.executable, "-c", JVM_SCRIPT, json.dumps(secrets), str(tmp_path / "warehouse")],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "spark.sql.session.timeZone=UTC" in seen["cmdline"]  # it is the driver's JVM
    for value in [*secrets.values(), "jvm-cassandra-pw", "jvm-env-password"]:
        assert value not in seen["cmdline"] and value not in seen["environ"]
    assert seen["conf"] == secrets  # the JVM read them from its properties file
    assert seen["runtime"] == "jvm-cassandra-pw"
