"""The roles of a managed Cassandra node with authentication: the runner's own, none by default.

A node started for a target with a login (`RUNNER_CASSANDRA_USERNAME`/`_PASSWORD`) comes with
only the factory superuser `cassandra`/`cassandra`. `ensure_roles` replaces it, on every
`runner up` and build, with:

    runner_admin    superuser; its password is generated into <node>/secrets/admin.password;
                    the runner logs in with it only to manage roles and to probe the node
    <target user>   the build's login: CREATE on all keyspaces; CREATE, ALTER, DROP, SELECT
                    and MODIFY on the target's keyspace (not AUTHORIZE); its password is the
                    target's, set again every time, so a changed password is applied
    runner_reader   the Thrift server's login: SELECT on the target's keyspace, nothing else;
                    its password is generated into <node>/secrets/reader.password
    cassandra       LOGIN = false, SUPERUSER = false once runner_admin exists

Secret files are 0600 in a 0700 folder. A password travels to Cassandra as a bound value of the
CQL statement, never in a command line or a log.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.cassandra.client import driver_errors, literal, open_session, quote
from runner.errors import ConfigError, ServiceError
from runner.secret_files import ensure_secret, generate_password, read_secret, write_private

if TYPE_CHECKING:
    from cassandra.cluster import Session

    from runner.config import CassandraTarget

DEFAULT_SUPERUSER = ("cassandra", "cassandra")
ADMIN_ROLE = "runner_admin"
READER_ROLE = "runner_reader"
RESERVED = (DEFAULT_SUPERUSER[0], ADMIN_ROLE, READER_ROLE)
TIMEOUT = 20.0
CACHE_SECONDS = 30.0
PASSWORD_CHANGE_SECONDS = 10.0  # Cassandra takes one password change per role every 5 s


@dataclass(frozen=True)
class NodeRoles:
    """The logins of a node after `ensure_roles`: the build's and the Thrift server's."""

    writer: tuple[str, str]
    reader: tuple[str, str]


def admin_file(state_dir: Path) -> Path:
    """Where the node's `runner_admin` password is."""
    return state_dir / "secrets" / "admin.password"


def reader_file(state_dir: Path) -> Path:
    """Where the node's `runner_reader` password is."""
    return state_dir / "secrets" / "reader.password"


def probe_login(state_dir: Path) -> tuple[str, str]:
    """The login to ask the node for its version: `runner_admin` once it exists, else factory's.

    The admin password file is written only after the role was created, and the factory login
    is disabled only after that, so one of the two always works.
    """
    password = read_secret(admin_file(state_dir))
    return (ADMIN_ROLE, password) if password else DEFAULT_SUPERUSER


def reader_login(state_dir: Path) -> tuple[str, str] | None:
    """The Thrift server's login on the node, once `ensure_roles` made it."""
    password = read_secret(reader_file(state_dir))
    return (READER_ROLE, password) if password else None


def ensure_roles(
    host: str, port: int, state_dir: Path, writer: tuple[str, str], target: CassandraTarget
) -> NodeRoles:
    """Give the node the runner's roles and disable the factory superuser (see the module doc).

    The target's keyspace is created here when missing (with the target's replication, as a
    build would), so the reader can be granted SELECT on it before the first build.

    Args:
        host, port: the node's native transport.
        state_dir: the node's folder (its `secrets/` holds the generated passwords).
        writer: the target's login, which builds use.
        target: the keyspace and its replication.

    Raises:
        ConfigError: the target's user is one of the runner's own roles or `cassandra`.
        ServiceError: the node refused, or neither the runner's nor the factory login works.
    """
    if writer[0] in RESERVED:
        raise ConfigError(
            f"the Cassandra login '{writer[0]}' is reserved: the runner manages it",
            hint="choose another RUNNER_CASSANDRA_USERNAME (cassandra.username); the runner "
            "creates that role with your password",
        )
    session = _admin_session(host, port, state_dir)
    what = f"setting up the roles on {host}:{port}"
    try:
        with driver_errors(what):
            reader_password, _ = ensure_secret(reader_file(state_dir))
            _set_role(session, host, port, writer[0], writer[1])
            _set_role(session, host, port, READER_ROLE, reader_password)
            keyspace = quote(target.keyspace)
            replication = ", ".join(
                f"{literal(k)}: {literal(v)}" for k, v in target.replication.items()
            )
            for cql in (
                f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {{{replication}}}",
                f"GRANT CREATE ON ALL KEYSPACES TO {quote(writer[0])}",
                *(
                    f"GRANT {permission} ON KEYSPACE {keyspace} TO {quote(writer[0])}"
                    for permission in ("CREATE", "ALTER", "DROP", "SELECT", "MODIFY")
                ),
                f"GRANT SELECT ON KEYSPACE {keyspace} TO {READER_ROLE}",
            ):
                session.execute(cql)
            if _role_can_login(session, DEFAULT_SUPERUSER[0]):
                session.execute(
                    f"ALTER ROLE {DEFAULT_SUPERUSER[0]} WITH SUPERUSER = false AND LOGIN = false"
                )
                _wait_refused(host, port, DEFAULT_SUPERUSER)
    finally:
        session.cluster.shutdown()
    return NodeRoles(writer, (READER_ROLE, reader_password))


def _admin_session(host: str, port: int, state_dir: Path) -> Session:
    """A session as `runner_admin`, creating that role with the factory login the first time."""
    known = read_secret(admin_file(state_dir))
    if known is not None:
        try:
            return open_session([host], port, (ADMIN_ROLE, known), TIMEOUT)
        except ServiceError as exc:
            if "authentication failed" not in exc.message:
                raise
    try:
        session = open_session([host], port, DEFAULT_SUPERUSER, TIMEOUT)
    except ServiceError as exc:
        if "authentication failed" not in exc.message:
            raise
        raise ServiceError(
            f"cannot log in to the Cassandra node on {host}:{port} as {ADMIN_ROLE} or as the "
            "factory superuser",
            hint=f"its roles were set up with a password the runner no longer has "
            f"({admin_file(state_dir)}); to start the node afresh, `runner down` and delete "
            f"{state_dir / 'data'}",
        ) from None
    password = known or generate_password()
    try:
        with driver_errors(f"creating the role {ADMIN_ROLE} on {host}:{port}"):
            _set_role(session, host, port, ADMIN_ROLE, password, superuser=True)
    finally:
        session.cluster.shutdown()
    write_private(admin_file(state_dir), password + "\n")  # only now: see probe_login
    return open_session([host], port, (ADMIN_ROLE, password), TIMEOUT)


def _set_role(
    session: Session, host: str, port: int, name: str, password: str, *, superuser: bool = False
) -> None:
    """Create the login role `name`, or make its flags and password what they should be.

    Cassandra accepts one password change per role every 5 s, so the password is changed only
    when logging in with it fails.
    """
    row: Any = session.execute(
        "SELECT can_login, is_superuser FROM system_auth.roles WHERE role = %s", (name,)
    ).one()
    flags = f"LOGIN = true AND SUPERUSER = {str(superuser).lower()}"
    if row is None:
        session.execute(f"CREATE ROLE {quote(name)} WITH PASSWORD = %s AND {flags}", (password,))
        return
    if not row.can_login or bool(row.is_superuser) != superuser:
        session.execute(f"ALTER ROLE {quote(name)} WITH {flags}")
    if not _login_works(host, port, (name, password)):
        _change_password(session, name, password)
        # The node may answer from its credentials cache (credentials_validity) for a while.
        deadline = time.monotonic() + CACHE_SECONDS
        while not _login_works(host, port, (name, password)):
            if time.monotonic() > deadline:
                raise ServiceError(f"the new password of role {name} on {host}:{port} is refused")
            time.sleep(0.5)


def _change_password(session: Session, name: str, password: str) -> None:
    """ALTER ROLE's password, waiting out Cassandra's one change per role every 5 s (a role
    created or changed a moment ago, e.g. by the previous command)."""
    deadline = time.monotonic() + PASSWORD_CHANGE_SECONDS
    while True:
        try:
            session.execute(f"ALTER ROLE {quote(name)} WITH PASSWORD = %s", (password,))
            return
        except Exception as exc:  # noqa: BLE001 - the driver wraps the throttle in several types
            if "can only be changed every" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _wait_refused(host: str, port: int, login: tuple[str, str]) -> None:
    """Return once the node refuses `login`: it answers from its credentials cache for a while
    after the role lost its login, and the node is not ready while the factory login works."""
    deadline = time.monotonic() + CACHE_SECONDS
    while _login_works(host, port, login):
        if time.monotonic() > deadline:
            raise ServiceError(f"{host}:{port} still accepts the login {login[0]} it disabled")
        time.sleep(0.5)


def _login_works(host: str, port: int, login: tuple[str, str]) -> bool:
    try:
        open_session([host], port, login, TIMEOUT).cluster.shutdown()
    except ServiceError as exc:
        if "authentication failed" in exc.message:
            return False
        raise
    return True


def _role_can_login(session: Session, name: str) -> bool:
    row: Any = session.execute(
        "SELECT can_login FROM system_auth.roles WHERE role = %s", (name,)
    ).one()
    return bool(row and row.can_login)
