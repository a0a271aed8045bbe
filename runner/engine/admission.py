"""Whether the running engine can run a command: its session was started with the settings
the command's target needs, and with the runner code on disk now.

Settings fixed when the JVM starts (master, driver memory, jars, extensions, other `spark.*`
keys) must be equal; `spark.sql.*` and `spark.cassandra.*` settings are applied to the running
session by each command and may differ.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from runner.config import Target

# spark.sql.* settings that only take effect when the session starts.
STATIC_SQL = frozenset({
    "spark.sql.extensions",
    "spark.sql.warehouse.dir",
    "spark.sql.catalogImplementation",
    "spark.sql.hive.metastore.version",
    "spark.sql.hive.metastore.jars",
})
RUNTIME_PREFIXES = ("spark.sql.", "spark.cassandra.")


@dataclass(frozen=True)
class SessionSpec:
    """What a Spark session was started with, as far as a command cares."""

    master: str
    driver_memory: str
    conf: tuple[tuple[str, str], ...]  # the target's settings fixed at start, sorted
    cassandra: bool  # the Cassandra connector is loaded (or needed)


def session_spec(target: Target, *, cassandra: bool | None = None) -> SessionSpec:
    """The session a target needs (`cassandra`: what a started one has, when known).

    Example:
        >>> from runner.config import SparkTarget
        >>> t = Target(spark=SparkTarget(conf={"spark.sql.shuffle.partitions": "4",
        ...                                    "spark.executor.cores": "1"}))
        >>> session_spec(t).conf
        (('spark.executor.cores', '1'),)
    """
    static = sorted((k, v) for k, v in target.spark.conf.items() if not is_runtime(k))
    return SessionSpec(
        target.spark.master,
        target.spark.driver_memory,
        tuple(static),
        target.cassandra is not None if cassandra is None else cassandra,
    )


def is_runtime(key: str) -> bool:
    """Whether a Spark setting can be changed on a running session.

    Example:
        >>> is_runtime("spark.sql.shuffle.partitions"), is_runtime("spark.sql.extensions")
        (True, False)
    """
    return key.startswith(RUNTIME_PREFIXES) and key not in STATIC_SQL


def mismatch(running: SessionSpec, wanted: SessionSpec) -> str | None:
    """Why a session started as `running` cannot serve a target needing `wanted`; None if it can.

    Example:
        >>> a = SessionSpec("local[*]", "2g", (), True)
        >>> mismatch(a, SessionSpec("local[*]", "2g", (), False)) is None
        True
        >>> mismatch(a, SessionSpec("local[2]", "2g", (), False))
        "the engine's Spark master is local[*], the target's local[2]"
    """
    if running.master != wanted.master:
        return f"the engine's Spark master is {running.master}, the target's {wanted.master}"
    if running.driver_memory != wanted.driver_memory:
        return (f"the engine's driver memory is {running.driver_memory}, the target's "
                f"{wanted.driver_memory}")
    if wanted.cassandra and not running.cassandra:
        return "the engine was started without the Cassandra connector (a target without one)"
    if running.conf != wanted.conf:
        keys = sorted({k for k, _ in set(running.conf) ^ set(wanted.conf)})
        return f"the engine was started with other Spark settings ({', '.join(keys)})"
    return None


def changed_modules(since_ns: int) -> list[str]:
    """The runner modules this process runs whose file changed after `since_ns` (epoch ns).

    An engine keeps the code it loaded; a command after a change must not run that code.
    """
    changed = []
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if not name.startswith("runner.") or not path:
            continue
        try:
            if Path(path).stat().st_mtime_ns > since_ns:
                changed.append(name)
        except OSError:
            changed.append(name)
    return sorted(changed)
