"""A local single-node Apache Cassandra 5.0 for development, run as a plain JVM (no Docker).

The server classpath is `cassandra-all` and its runtime dependencies, copied from Maven once into
`<project>/.runner/cassandra/lib` (`runner.local.maven`). A node lives in one state folder:

    <state_dir>/conf/cassandra.yaml, conf/logback.xml   written on every start
    <state_dir>/data/                                   data, commitlog, hints, saved caches
    <state_dir>/logs/system.log, logs/output.log        Cassandra's log and the JVM's own output
    <state_dir>/cassandra.pid, node.json                the running process and its ports

Nothing here prints: start-up time and version are returned in `RunningNode`.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.cassandra.client import driver_errors, open_session
from runner.errors import ServiceError
from runner.java import find_java_home, java_bin
from runner.local import cassandra_roles, processes
from runner.local.cassandra_conf import HOST, JVM_OPTIONS, NodeSettings, write_config
from runner.local.cassandra_roles import DEFAULT_SUPERUSER
from runner.local.maven import ensure_cassandra_jars
from runner.paths import STATE_DIR_NAME

if TYPE_CHECKING:
    from runner.config import CassandraTarget

MAIN_CLASS = "org.apache.cassandra.service.CassandraDaemon"


@dataclass(frozen=True)
class RunningNode:
    """A node that answers CQL queries.

    Args:
        host: address of the native transport.
        port: CQL native port.
        pid: process id of the JVM.
        version: `release_version` the node reports.
        startup_seconds: seconds from launch until the first answer; 0.0 when an already running
            node was reused.
        started: whether this call launched the JVM.
    """

    host: str
    port: int
    pid: int
    version: str
    startup_seconds: float
    started: bool

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class NodeState:
    """What `status()` found in a state folder."""

    running: bool
    address: str | None
    version: str | None
    data_dir: Path
    pid: int | None


@dataclass(frozen=True)
class _Layout:
    state_dir: Path

    @property
    def conf(self) -> Path:
        return self.state_dir / "conf"

    @property
    def data(self) -> Path:
        return self.state_dir / "data"

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "cassandra.pid"

    @property
    def node_file(self) -> Path:
        return self.state_dir / "node.json"


def start(
    state_dir: Path,
    port: int = 9042,
    storage_port: int = 7000,
    auth: bool = False,
    timeout: float = 180,
    *,
    project_dir: Path | None = None,
    credentials: tuple[str, str] | None = None,
    settings: NodeSettings | None = None,
) -> RunningNode:
    """Launch a node in `state_dir` and wait until `SELECT release_version` answers.

    Args:
        state_dir: folder of this node's config, data, logs and PID file.
        port: CQL native port on 127.0.0.1.
        storage_port: inter-node port on 127.0.0.1.
        auth: use PasswordAuthenticator + CassandraAuthorizer (login cassandra/cassandra).
        timeout: seconds to wait for the first answer.
        project_dir: where `.runner/cassandra/lib` lives; default: the folder above `.runner`
            in `state_dir`, else the current folder.
        credentials: login used for the readiness query when `auth` is on.
        settings: address, seeds and sizing; default: the single dev node on 127.0.0.1.

    Returns:
        The running node, with the seconds it took to answer.
    """
    settings = settings or NodeSettings()
    host = settings.host
    layout = _Layout(state_dir.resolve())
    pid = _live_pid(layout)
    if pid is not None:
        raise ServiceError(
            f"a Cassandra node is already running from {layout.state_dir} (pid {pid})",
            hint="stop it first (`runner down`) or reuse it",
        )
    for p in (port, storage_port):
        if processes.port_open(host, p):
            raise ServiceError(
                f"port {host}:{p} is already in use by another process",
                hint="choose other ports (cassandra.port in profiles.yml) or stop that process",
            )
    lib = ensure_cassandra_jars(project_dir or _project_of(layout.state_dir))
    java_home = find_java_home()
    for folder in (layout.conf, layout.data, layout.logs):
        folder.mkdir(parents=True, exist_ok=True)
    write_config(layout.conf, layout.data, port, storage_port, auth, settings)

    jamm = sorted(lib.glob("jamm-*.jar"))
    cmd = [
        str(java_bin(java_home)),
        *JVM_OPTIONS,
        *settings.jvm_options,
        *([f"-javaagent:{jamm[0]}"] if jamm else []),
        _config_arg(layout),
        f"-Dcassandra.logdir={layout.logs}",
        f"-Dcassandra.storagedir={layout.data}",
        f"-Dlogback.configurationFile={layout.conf / 'logback.xml'}",
        f"-Djna.tmpdir={layout.state_dir / 'tmp'}",
        f"-Dcassandra.triggers_dir={layout.conf / 'triggers'}",
        "-cp",
        f"{layout.conf}:{lib}/*",
        MAIN_CLASS,
    ]
    (layout.state_dir / "tmp").mkdir(exist_ok=True)
    (layout.conf / "triggers").mkdir(exist_ok=True)
    env = {**os.environ, "JAVA_HOME": str(java_home), "MALLOC_ARENA_MAX": "4"}
    began = time.monotonic()
    proc = processes.spawn(
        cmd,
        log_file=layout.logs / "output.log",
        pid_file=layout.pid_file,
        env=env,
        cwd=layout.state_dir,
    )
    layout.node_file.write_text(
        json.dumps({"host": host, "port": port, "storage_port": storage_port, "auth": auth})
    )
    login = (credentials or DEFAULT_SUPERUSER) if auth else None
    try:
        version = _wait_ready(layout, proc, port, login, timeout, host)
    except BaseException:
        processes.terminate(proc.pid, 30)
        proc.wait()
        layout.pid_file.unlink(missing_ok=True)
        raise
    return RunningNode(host, port, proc.pid, version, time.monotonic() - began, started=True)


def ensure_running(
    state_dir: Path, target: CassandraTarget, *, project_dir: Path | None = None
) -> RunningNode:
    """Reuse the node of `state_dir` if it is alive and answers, else start it for `target`.

    The node listens on `target.port`; its storage port is 7000 for 9042 and `port - 2000`
    otherwise. When the target has a username the node runs with authentication and gets the
    runner's roles, the target's login among them, and the factory superuser is disabled
    (`runner.local.cassandra_roles`).
    """
    layout = _Layout(state_dir.resolve())
    user, password = target.credentials()
    login = (user, password or "") if user else None
    auth = login is not None
    pid = _live_pid(layout)
    if pid is not None:
        recorded = _read_node_file(layout)
        if recorded.get("port") != target.port or recorded.get("auth", False) != auth:
            raise ServiceError(
                f"the Cassandra node in {layout.state_dir} runs with port "
                f"{recorded.get('port')} and auth={recorded.get('auth')}, but the target wants "
                f"port {target.port} and auth={auth}",
                hint="stop it (`runner down`) so it restarts with the target's settings",
            )
        probe_login = cassandra_roles.probe_login(layout.state_dir) if auth else None
        version = _wait_ready(layout, None, target.port, probe_login, 180)
        if login is not None:
            cassandra_roles.ensure_roles(HOST, target.port, layout.state_dir, login, target)
        return RunningNode(HOST, target.port, pid, version, 0.0, started=False)
    layout.pid_file.unlink(missing_ok=True)
    storage_port = 7000 if target.port == 9042 else target.port - 2000
    probe = cassandra_roles.probe_login(layout.state_dir)
    info = start(
        layout.state_dir, target.port, storage_port, auth, project_dir=project_dir,
        credentials=probe,
    )
    if login is not None:
        cassandra_roles.ensure_roles(HOST, target.port, layout.state_dir, login, target)
    return info


def stop(state_dir: Path, timeout: float = 60) -> bool:
    """Stop the node of `state_dir`: SIGTERM, wait `timeout` seconds, then SIGKILL.

    A PID file whose process is gone, or is not this node, is just removed.

    Returns:
        Whether a running node was stopped.
    """
    layout = _Layout(state_dir.resolve())
    return processes.stop(layout.pid_file, *_markers(layout), timeout=timeout)


def status(state_dir: Path) -> NodeState:
    """Report whether the node of `state_dir` runs, where, and which version it answers with."""
    layout = _Layout(state_dir.resolve())
    pid = _live_pid(layout)
    if pid is None:
        return NodeState(False, None, None, layout.data, None)
    recorded = _read_node_file(layout)
    port = int(recorded.get("port", 9042))
    host = str(recorded.get("host", HOST))
    auth = bool(recorded.get("auth", False))
    try:
        login = cassandra_roles.probe_login(layout.state_dir) if auth else None
        version = _query_version(port, login, 5.0, host)
    except ServiceError:
        version = None
    return NodeState(True, f"{host}:{port}", version, layout.data, pid)


def _project_of(state_dir: Path) -> Path:
    for parent in state_dir.parents:
        if parent.name == STATE_DIR_NAME:
            return parent.parent
    return Path.cwd()


def _read_node_file(layout: _Layout) -> dict[str, Any]:
    try:
        value = json.loads(layout.node_file.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _config_arg(layout: _Layout) -> str:
    return f"-Dcassandra.config={(layout.conf / 'cassandra.yaml').as_uri()}"


def _markers(layout: _Layout) -> tuple[str, str]:
    # PIDs are reused: only a CassandraDaemon reading this folder's config counts.
    return MAIN_CLASS, _config_arg(layout)


def _live_pid(layout: _Layout) -> int | None:
    """The PID in the PID file if that process is alive and is this folder's Cassandra."""
    return processes.live_pid(layout.pid_file, *_markers(layout))


def _wait_ready(
    layout: _Layout,
    proc: subprocess.Popen[bytes] | None,
    port: int,
    login: tuple[str, str] | None,
    timeout: float,
    host: str = HOST,
) -> str:
    """Poll until the node answers; fail fast when its process exits."""
    deadline = time.monotonic() + timeout
    log = layout.logs / "system.log"
    while True:
        code = proc.poll() if proc is not None else None
        if code is not None or (proc is None and _live_pid(layout) is None):
            raise ServiceError(
                f"Cassandra exited during start-up (exit code {code}){_last_error(layout)}",
                hint=f"read {log} and {layout.logs / 'output.log'}",
            )
        if processes.port_open(host, port):
            try:
                return _query_version(port, login, 10.0, host)
            except ServiceError as exc:
                if "authentication failed" in exc.message:
                    raise
        if time.monotonic() > deadline:
            raise ServiceError(
                f"Cassandra did not answer on {host}:{port} within {timeout:.0f} s",
                hint=f"read {log}; a slow machine may need a longer timeout",
            )
        time.sleep(0.5)


def _query_version(
    port: int, login: tuple[str, str] | None, timeout: float, host: str = HOST
) -> str:
    session = open_session([host], port, login, timeout)
    try:
        with driver_errors(f"asking Cassandra on {host}:{port} for its version"):
            row = session.execute("SELECT release_version FROM system.local").one()
        return str(row.release_version)
    finally:
        session.cluster.shutdown()


def _last_error(layout: _Layout) -> str:
    for name in ("system.log", "output.log"):
        try:
            lines = (layout.logs / name).read_text(errors="replace").splitlines()
        except OSError:
            continue
        errors = [line for line in lines if line.startswith(("ERROR", "Exception", "Error"))]
        if errors:
            return f": {errors[-1][:300]}"
    return ""
