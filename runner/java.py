"""The one Java home every JVM the runner starts uses: Spark, Cassandra and the Thrift server.

Spark 3.5 and Cassandra 5.0 both run on Java 17; a newer JDK on the machine (Cassandra refuses
it) must never be picked up by accident.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from runner.errors import ServiceError

JAVA_VERSION = 17
SEARCH_DIRS = (Path("/usr/lib/jvm"), Path("/usr/java"), Path("/opt/java"), Path("/opt"))
_RELEASE_VERSION = re.compile(r'^JAVA_VERSION="(\d+)', re.MULTILINE)


def java_major(home: Path) -> int | None:
    """The major version of a JDK folder, from its `release` file; None when it is not a JDK.

    Example:
        >>> java_major(Path("/nonexistent")) is None
        True
    """
    try:
        text = (home / "release").read_text()
    except OSError:
        return None
    match = _RELEASE_VERSION.search(text)
    if match is None or not (home / "bin" / "java").exists():
        return None
    return int(match.group(1))


def find_java_home() -> Path:
    """$JAVA_HOME when it is a Java 17, else the first Java 17 under the usual JDK folders.

    Raises:
        ServiceError: naming what was looked for, when no Java 17 is found.
    """
    env = os.environ.get("JAVA_HOME")
    if env and java_major(Path(env)) == JAVA_VERSION:
        return Path(env)
    candidates = sorted(
        {p for d in SEARCH_DIRS if d.is_dir() for p in d.iterdir() if p.is_dir()}
    )
    for home in candidates:
        if java_major(home) == JAVA_VERSION:
            return home
    found = (f"$JAVA_HOME={env} is Java {java_major(Path(env))}; " if env
             else "$JAVA_HOME is unset; ")
    raise ServiceError(
        f"{found}no Java {JAVA_VERSION} found in {', '.join(str(d) for d in SEARCH_DIRS)}",
        hint=f"install OpenJDK {JAVA_VERSION} (Debian: apt-get install "
        f"openjdk-{JAVA_VERSION}-jdk-headless) or set JAVA_HOME to a Java {JAVA_VERSION} folder",
    )


def ensure_java_home() -> Path:
    """Point $JAVA_HOME (read by pyspark's launcher) at Java 17 and return it."""
    home = find_java_home()
    os.environ["JAVA_HOME"] = str(home)
    return home


def java_bin(home: Path | None = None) -> Path:
    """The `java` executable of the Java 17 home."""
    return (home or find_java_home()) / "bin" / "java"
