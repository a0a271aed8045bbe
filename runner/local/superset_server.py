"""The local Superset: gunicorn serving Superset from its own venv, metadata in SQLite.

State, under `<project>/.runner/superset/`: venv/ (see `runner.local.superset_venv`),
superset_config.py, superset.db, secret_key (0600), home/, gunicorn.pid, gunicorn.log,
superset.url, install.log, init.log. The admin password never reaches a command line or a log:
`superset fab create-admin` reads it from its standard input.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests

from runner.errors import ServiceError
from runner.local.processes import (
    LOOPBACK,
    ManagedProcess,
    ServiceInfo,
    ServiceStatus,
    refuse_busy_port,
    tail,
    wait_ready,
)
from runner.local.superset_venv import SUPERSET_VERSION, ensure_superset_venv, superset_dir
from runner.superset.client import login_of

if TYPE_CHECKING:
    from runner.config import SupersetTarget

SECRET_KEY_ENV = "RUNNER_SUPERSET_SECRET_KEY"
APP = "superset.app:create_app()"

CONFIG_TEMPLATE = '''\
"""Superset config written by runner/local/superset_server.py; edits are overwritten."""
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


def superset_process(project_dir: Path) -> ManagedProcess:
    """The managed Superset of a project (its files; it may not run)."""
    return ManagedProcess(
        "superset", "Superset", superset_dir(project_dir), "gunicorn.pid", "gunicorn.log", APP
    )


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
    svc = superset_process(project_dir)
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
    pid = svc.live_pid()
    if pid is not None:
        _wait_health(url, timeout=timeout, svc=svc)
        return ServiceInfo("superset", url, pid, False, time.monotonic() - began, svc.log_file)
    refuse_busy_port(port, "superset.url")
    python = ensure_superset_venv(project_dir)
    env = _superset_env(svc.state_dir)
    _initialize(svc.state_dir, python, env, superset_target)
    cmd = [
        str(python.parent / "gunicorn"), "-w", "2", "-k", "gthread", "--threads", "4",
        "--timeout", "120", "-b", f"{LOOPBACK}:{port}", APP,
    ]  # fmt: skip
    proc = svc.spawn(cmd, url=url, env=env, cwd=svc.state_dir)
    try:
        _wait_health(url, timeout=timeout, svc=svc, proc=proc)
    except ServiceError:
        svc.stop()  # else the next run would reuse a server that never got healthy
        raise
    return ServiceInfo("superset", url, proc.pid, True, time.monotonic() - began, svc.log_file)


def stop(project_dir: Path, timeout: float = 30) -> bool:
    """Stop the project's Superset by its PID file; whether it was running."""
    return superset_process(project_dir).stop(timeout)


def status(project_dir: Path) -> ServiceStatus:
    """Whether the project's Superset runs."""
    return superset_process(project_dir).status()


def _superset_env(state: Path) -> dict[str, str]:
    """Write the config and secret key once; the environment Superset's commands run in."""
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
    """Create the metadata DB, the admin user and the roles, once per Superset version."""
    marker = state / "initialized"
    if (
        marker.exists()
        and marker.read_text() == SUPERSET_VERSION
        and (state / "superset.db").exists()
    ):
        return
    user, password = login_of(target)
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
                    f"`superset {' '.join(cmd[1:3])}` failed: {tail(log)}", hint=f"see {log}"
                )
    marker.write_text(SUPERSET_VERSION)


def _wait_health(
    url: str,
    *,
    timeout: float,
    svc: ManagedProcess | None = None,
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

    wait_ready(
        probe,
        lambda last: f"Superset at {url} is not healthy after {timeout:.0f} s ({last})",
        timeout=timeout,
        interval=0.3,
        remote_hint="check superset.url in profiles.yml",
        service=svc,
        proc=proc,
    )
