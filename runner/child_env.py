"""The environment a child process gets: ours, without secrets.

Every process the runner starts (services, installers, the build's Spark JVM) gets its
environment from here, so no secret reaches `/proc/<pid>/environ` of a child.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

# Environment variables no service gets: anything named like a secret (RUNNER_CASSANDRA_PASSWORD,
# a cloud key, ...). /proc/<pid>/environ of a child is readable by its owner for as long as it
# runs, and a JVM copies its environment into every process it starts. pyspark's own gateway
# variables are not secrets of ours and must stay.
SECRET_ENV = re.compile(
    r"^(?!PYSPARK_GATEWAY_).*(PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE_KEY)", re.I
)
# What the build's Spark JVM must not get: the runner's own credentials. It keeps the rest
# (e.g. AWS_SECRET_ACCESS_KEY, which Spark reads from its environment for s3a:// raw data).
RUNNER_SECRET_ENV = re.compile(r"^RUNNER_.*(PASSWORD|SECRET|TOKEN)", re.I)


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process: ours without secrets, plus `extra`.

    Example:
        >>> env = child_env({"JAVA_HOME": "/jdk", "RUNNER_SUPERSET_PASSWORD": "x"})
        >>> env["JAVA_HOME"], "RUNNER_SUPERSET_PASSWORD" in env
        ('/jdk', False)
    """
    env = {**os.environ, **(extra or {})}
    return {k: v for k, v in env.items() if not SECRET_ENV.search(k)}


@contextmanager
def runner_secrets_out_of_environ() -> Iterator[None]:
    """Remove the runner's secret variables from `os.environ` while a library starts a child.

    pyspark launches its JVM with a copy of `os.environ` and no way to pass another one; the
    variables come back when the block ends, for the runner's own later reads.
    """
    removed = {k: os.environ.pop(k) for k in list(os.environ) if RUNNER_SECRET_ENV.search(k)}
    try:
        yield
    finally:
        os.environ.update(removed)
