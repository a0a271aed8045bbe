"""The local Superset: gunicorn serving Superset from its own venv, metadata in SQLite.

Closed by default: it listens on 127.0.0.1 only and answers only requests addressed to
127.0.0.1 or localhost (Flask's TRUSTED_HOSTS: a web page that rebinds its own name to
127.0.0.1 gets HTTP 400); no proxy headers are trusted; Talisman sets its security headers. The
one login is the target's (`RUNNER_SUPERSET_USERNAME`/`RUNNER_SUPERSET_PASSWORD`), else `admin`
with a password generated once into `.runner/secrets/superset-admin.password` (0600); every
`runner up` makes Superset's user match it, so a changed password is applied and no factory
`admin`/`admin` login stays active. The password reaches Superset on standard input only.

State, under `<project>/.runner/superset/` (0700): venv/ (see `runner.local.superset_venv`),
superset_config.py, superset.db (the Thrift password in it is encrypted with the secret key),
secret_key (0600), home/, gunicorn.pid, gunicorn.log, superset.url, install.log, init.log.
"""

from __future__ import annotations

import json
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
    child_env,
    open_log,
    refuse_busy_port,
    tail,
    wait_ready,
)
from runner.local.secret_files import ensure_secret, secret_path, write_private
from runner.local.superset_venv import SUPERSET_VERSION, ensure_superset_venv, superset_dir
from runner.paths import ensure_private_dir, state_root
from runner.superset.client import login_of

if TYPE_CHECKING:
    from runner.config import SupersetTarget

APP = "superset.app:create_app()"
ADMIN_PASSWORD_FILE = "superset-admin.password"

CONFIG_TEMPLATE = '''\
"""Superset config written by runner/local/superset_server.py; edits are overwritten."""
from pathlib import Path

_STATE = Path({state!r})
SECRET_KEY = (_STATE / "secret_key").read_text().strip()
SQLALCHEMY_DATABASE_URI = "sqlite:///" + str(_STATE / "superset.db") + "?check_same_thread=false"
DATA_DIR = str(_STATE / "home")
# Closed by default: requests must name this machine (no DNS rebinding), no proxy headers are
# trusted, Talisman's security headers are on, nobody signs up, anonymous users see nothing.
TRUSTED_HOSTS = ["127.0.0.1", "localhost"]
ENABLE_PROXY_FIX = False
TALISMAN_ENABLED = True
AUTH_USER_REGISTRATION = False
PUBLIC_ROLE_LIKE = None
PREVENT_UNSAFE_DB_CONNECTIONS = True
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


# Makes the runner's login the one Superset knows: created, or its password reset, and any other
# user still on the factory password `admin` deactivated. The login comes on standard input.
LOGIN_SCRIPT = """\
import json, sys
req = json.load(sys.stdin)
from superset.app import create_app
app = create_app()
with app.app_context():
    from superset.extensions import security_manager as sm
    from werkzeug.security import check_password_hash
    user = sm.find_user(username=req["user"])
    if user is None:
        role = sm.find_role("Admin")
        if not sm.add_user(req["user"], "Runner", "Admin", req["user"] + "@localhost", role,
                           password=req["password"]):
            sys.exit("could not create the user " + req["user"])
    else:
        sm.reset_password(user.id, req["password"])
        if not user.active:
            user.active = True
            sm.update_user(user)
    for other in sm.get_all_users():
        if other.username != req["user"] and other.active and other.password \\
                and check_password_hash(other.password, "admin"):
            other.active = False
            sm.update_user(other)
            print("deactivated", other.username, "(factory password)")
"""


def superset_process(project_dir: Path) -> ManagedProcess:
    """The managed Superset of a project (its files; it may not run)."""
    return ManagedProcess(
        "superset", "Superset", superset_dir(project_dir), "gunicorn.pid", "gunicorn.log", APP
    )


def ensure_superset(
    project_dir: Path, superset_target: SupersetTarget, *, timeout: float = 120
) -> ServiceInfo:
    """Reuse or start Superset (gunicorn) with an SQLite metadata DB under `.runner/superset`.

    First run: venv, config, `superset db upgrade`, `superset init`, the login. Every call then
    makes sure the login (`admin_login`) works, and resets it when it does not. An unmanaged
    target is only checked. Ready means `GET /health` answers `OK`.

    Returns:
        The running Superset; its note says where a password generated by this call is.
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
    login, generated = admin_login(project_dir, superset_target)
    note = _password_note(project_dir, login[0]) if generated else None
    ensure_private_dir(state_root(project_dir))  # .runner: the owner's only
    python = ensure_superset_venv(project_dir)
    changed = _write_config(svc.state_dir)
    env = _superset_env(svc.state_dir)
    pid = svc.live_pid()
    if pid is not None and changed:
        svc.stop()  # it runs with an older config (e.g. an older runner's, less closed)
        pid = None
    started = pid is None
    if pid is None:
        refuse_busy_port(port, "superset.url")
        _initialize(svc.state_dir, python, env, login)
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
        pid = proc.pid
    else:
        _wait_health(url, timeout=timeout, svc=svc)
    if not _login_works(url, login):
        _set_login(svc.state_dir, python, env, login)
    seconds = time.monotonic() - began
    return ServiceInfo("superset", url, pid, started, seconds, svc.log_file, note)


def stop(project_dir: Path, timeout: float = 30) -> bool:
    """Stop the project's Superset by its PID file; whether it was running."""
    return superset_process(project_dir).stop(timeout)


def status(project_dir: Path) -> ServiceStatus:
    """Whether the project's Superset runs; the detail says how to read a generated password."""
    svc = superset_process(project_dir).status()
    password = secret_path(project_dir, ADMIN_PASSWORD_FILE)
    how = f"`cat {password}`" if password.exists() else "$RUNNER_SUPERSET_PASSWORD"
    return ServiceStatus(svc.name, svc.running, svc.pid, svc.url, f"{svc.detail}; password: {how}")


def admin_login(project_dir: Path, target: SupersetTarget) -> tuple[tuple[str, str], bool]:
    """The login of the project's managed Superset, and whether this call generated its password.

    The target's login when it has a password; else `admin` (or the target's user) with the
    password in `.runner/secrets/superset-admin.password`, generated on first use. A password
    from the target makes a generated one obsolete: its file is removed.
    """
    path = secret_path(project_dir, ADMIN_PASSWORD_FILE)
    if target.credentials()[1]:
        path.unlink(missing_ok=True)
        return login_of(target), False
    password, generated = ensure_secret(path)
    return login_of(target, password), generated


def _password_note(project_dir: Path, user: str) -> str:
    path = secret_path(project_dir, ADMIN_PASSWORD_FILE)
    return (
        f"Superset login: {user}, with a generated password in {path} (0600); read it with "
        f"`cat {path}`, or set RUNNER_SUPERSET_PASSWORD to choose one"
    )


def _write_config(state: Path) -> bool:
    """Write the secret key (once) and the config; whether the config changed."""
    ensure_private_dir(state)
    ensure_private_dir(state / "home")
    ensure_secret(state / "secret_key")
    config = state / "superset_config.py"
    text = CONFIG_TEMPLATE.format(state=str(state))
    if config.is_file() and config.read_text() == text:
        return False
    write_private(config, text)
    return True


def _superset_env(state: Path) -> dict[str, str]:
    """The environment Superset's commands run in: no secrets, the config's path."""
    return child_env(
        {
            "SUPERSET_CONFIG_PATH": str(state / "superset_config.py"),
            "SUPERSET_HOME": str(state / "home"),
            "FLASK_APP": "superset",
            "PYTHONUNBUFFERED": "1",
        }
    )


def _initialize(state: Path, python: Path, env: dict[str, str], login: tuple[str, str]) -> None:
    """Create the metadata DB, the roles and the login, once per Superset version."""
    marker = state / "initialized"
    if (
        marker.exists()
        and marker.read_text() == SUPERSET_VERSION
        and (state / "superset.db").exists()
    ):
        return
    superset = str(python.parent / "superset")
    log = state / "init.log"
    with open_log(log, append=False) as out:
        for cmd in ([superset, "db", "upgrade"], [superset, "init"]):
            proc = subprocess.run(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=state, check=False
            )
            if proc.returncode != 0:
                raise ServiceError(
                    f"`superset {' '.join(cmd[1:3])}` failed: {tail(log)}", hint=f"see {log}"
                )
    _set_login(state, python, env, login)
    marker.write_text(SUPERSET_VERSION)


def _login_works(url: str, login: tuple[str, str]) -> bool:
    """Whether Superset accepts `login` (a database login, as `SupersetClient` sends it)."""
    try:
        resp = requests.post(
            f"{url}/api/v1/security/login",
            json={"username": login[0], "password": login[1], "provider": "db"},
            timeout=60,
        )
    except requests.RequestException as exc:
        raise ServiceError(f"Superset at {url} did not answer a login: {exc}") from exc
    return resp.status_code == 200


def _set_login(state: Path, python: Path, env: dict[str, str], login: tuple[str, str]) -> None:
    """Create the user of `login` or reset its password (see LOGIN_SCRIPT)."""
    log = state / "init.log"
    with open_log(log) as out:
        proc = subprocess.run(
            [str(python), "-c", LOGIN_SCRIPT],
            input=json.dumps({"user": login[0], "password": login[1]}).encode(),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=state,
            timeout=600,
            check=False,
        )
    if proc.returncode != 0:
        raise ServiceError(
            f"setting the Superset login '{login[0]}' failed: {tail(log)}", hint=f"see {log}"
        )


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
