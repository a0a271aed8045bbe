"""cassandra-driver sessions: connect with timeouts, quote CQL, and translate failures once.

Every driver, Spark or Py4J failure of the Cassandra adapter becomes a `RunnerError` here
(`open_session`, `driver_errors`, `Failures.translate`), with secrets scrubbed from the message.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.config import CASSANDRA_PASSWORD_ENV, CASSANDRA_USER_ENV
from runner.errors import Location, RunnerError, ServiceError, scrub_secrets

if TYPE_CHECKING:
    from cassandra.cluster import Session

    from runner.config import CassandraTarget

REQUEST_TIMEOUT = 30.0  # seconds for any one request, driver or connector, unless told otherwise


def quote(name: str) -> str:
    """Double-quote a CQL identifier, so reserved words such as `drop` work as names.

    Example:
        >>> quote("drop")
        '"drop"'
    """
    return '"' + name.replace('"', '""') + '"'


def literal(value: Any) -> str:
    """A CQL string literal.

    Example:
        >>> literal("it's")
        "'it''s'"
    """
    return "'" + str(value).replace("'", "''") + "'"


def first_line(text: str) -> str:
    """The first line of `text`, at most 300 characters.

    Example:
        >>> first_line("  boom\\n  at x.y(z)")
        'boom'
    """
    return text.strip().splitlines()[0][:300] if text.strip() else text


def consistency(target: CassandraTarget) -> str:
    """`cassandra.consistency` of the profile; else LOCAL_ONE when there is one replica (a dev
    node), else LOCAL_QUORUM."""
    if target.consistency is not None:
        return target.consistency
    factors = [int(v) for k, v in target.replication.items() if k != "class" and str(v).isdigit()]
    return "LOCAL_ONE" if max(factors, default=1) <= 1 else "LOCAL_QUORUM"


def open_session(
    hosts: Sequence[str],
    port: int,
    login: tuple[str, str] | None,
    timeout: float,
    local_dc: str | None = None,
) -> Session:
    """Connect a cassandra-driver session, or raise ServiceError naming the host and port.

    Args:
        hosts: contact points.
        port: CQL native port.
        login: (username, password), or None without authentication.
        timeout: seconds allowed for each connection attempt and for requests.
        local_dc: datacenter the load-balancing policy prefers.
    """
    from cassandra import AuthenticationFailed, DriverException, UnresolvableContactPoints
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
    from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=local_dc)),
        request_timeout=max(timeout, REQUEST_TIMEOUT),
    )
    where = ", ".join(f"{host}:{port}" for host in hosts)
    secrets: list[str | None] = [login[1]] if login else []
    try:
        cluster = Cluster(
            contact_points=list(hosts),
            port=port,
            auth_provider=PlainTextAuthProvider(*login) if login else None,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            connect_timeout=timeout,
            control_connection_timeout=timeout,
            protocol_version=5,
        )
    except UnresolvableContactPoints:
        raise ServiceError(
            f"cannot resolve the Cassandra host name(s) {', '.join(hosts)}",
            hint="fix cassandra.hosts in profiles.yml",
        ) from None
    try:
        return cluster.connect()
    except NoHostAvailable as exc:
        cluster.shutdown()
        causes = list((exc.errors or {}).values())
        if any(isinstance(c, AuthenticationFailed) for c in causes):
            if login is None:
                raise ServiceError(
                    f"Cassandra at {where} requires authentication",
                    hint=f"set cassandra.username/password in profiles.yml or "
                    f"${CASSANDRA_USER_ENV} and ${CASSANDRA_PASSWORD_ENV}",
                ) from None
            raise ServiceError(
                f"Cassandra authentication failed for user '{login[0]}' at {where}",
                hint=f"check the username and password (profiles.yml, ${CASSANDRA_USER_ENV}, "
                f"${CASSANDRA_PASSWORD_ENV})",
            ) from None
        reason = "; ".join(sorted({first_line(str(c)) for c in causes})) or str(exc)
        raise ServiceError(
            f"cannot reach Cassandra at {where}: {scrub_secrets(reason, secrets)}",
            hint="start it (`runner up` starts the managed dev node) or fix "
            "cassandra.hosts/port in profiles.yml",
        ) from None
    except (DriverException, OSError) as exc:
        cluster.shutdown()
        raise ServiceError(
            f"cannot connect to Cassandra at {where}: {scrub_secrets(str(exc), secrets)}",
            hint="check cassandra.hosts/port in profiles.yml",
        ) from None


def connect(target: CassandraTarget) -> Session:
    """Open a driver session to `target`; errors name host:port and never contain the password.

    The caller closes it with `session.cluster.shutdown()`.
    """
    user, password = target.credentials()
    login = (user, password or "") if user else None
    return open_session(target.hosts, target.port, login, target.connect_timeout, target.local_dc)


@contextmanager
def driver_errors(what: str, hint: str | None = None) -> Iterator[None]:
    """Turn a cassandra-driver failure inside the block into ServiceError("<what> failed: ...")."""
    from cassandra import DriverException

    try:
        yield
    except DriverException as exc:
        raise ServiceError(f"{what} failed: {first_line(str(exc))}", hint=hint) from None


@dataclass(frozen=True)
class Failures:
    """Translates failures while a model's mart is written into errors that name the model."""

    model: str
    model_path: str
    secrets: list[str | None]

    @contextmanager
    def translate(self, error: type[RunnerError], what: str, hint: str) -> Iterator[None]:
        """Turn a Spark, Py4J or driver failure into `error`, secrets scrubbed."""
        try:
            yield
        except RunnerError:
            raise
        except Exception as exc:  # noqa: BLE001 - pyspark, Py4J and the driver wrap failures differently
            cause = scrub_secrets(root_cause(exc), self.secrets)
            raise error(
                f"model '{self.model}': {what} failed: {cause}",
                location=Location(self.model_path),
                hint=hint,
            ) from None


def root_cause(exc: BaseException) -> str:
    """The innermost JVM exception message, else the first line of the Python one."""
    from py4j.protocol import Py4JError

    java = getattr(exc, "java_exception", None) or getattr(exc, "_origin", None)
    text = str(exc)
    with suppress(Py4JError):  # the JVM is gone: the Python text is all there is
        while java is not None and java.getCause() is not None:
            java = java.getCause()
        text = str(java.toString()) if java is not None else text
    return connector_line(text)


def connector_line(text: str) -> str:
    """First line of a failure; the connector's write failure keeps its latest cause.

    Example:
        >>> text = "Failed to write statements to ks.t. The|latest exception was|  timeout|"
        >>> connector_line(text.replace("|", chr(10)))
        'Failed to write statements to ks.t. The latest exception was: timeout'
    """
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) >= 3 and lines[1] == "latest exception was":
        return first_line(f"{lines[0]} {lines[1]}: {lines[2]}")
    return first_line(text)
