"""Spark settings that are secrets, kept off the driver JVM's command line.

pyspark starts its JVM with `spark-submit --conf key=value` for every builder setting, and the
JVM's command line is readable by every local user (`/proc/<pid>/cmdline`). A setting that Spark
itself would hide (its default `spark.redaction.regex`: a key or value naming a secret,
password, token or access key) goes instead:

- once the JVM runs, through `spark.conf.set`, when Spark reads it per session (the Cassandra
  connector's login: `RUNTIME_PREFIXES`);
- else, since Spark must know it at start (`spark.authenticate.secret`, `spark.hadoop.*`, SSL
  passwords), into a properties file readable by its owner only (0600), named to spark-submit
  with `--properties-file` in `PYSPARK_SUBMIT_ARGS` (as the Thrift server gets its settings),
  and deleted once the JVM has started.
"""

from __future__ import annotations

import os
import re
import shlex
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# Spark's own default `spark.redaction.regex`, matched on keys and values as Spark does.
REDACTED = re.compile(r"(?i)secret|password|token|access[.]?key")
# Settings a session reads when it uses them, so they may be set after the JVM starts.
RUNTIME_PREFIXES = ("spark.cassandra.auth.",)


@dataclass(frozen=True)
class LaunchConf:
    """A session's settings, split by how each reaches the JVM."""

    argv: dict[str, str]  # `--conf key=value` on the command line: nothing secret
    at_start: dict[str, str]  # the 0600 properties file
    runtime: dict[str, str]  # `spark.conf.set` once the JVM runs


def split_launch_conf(settings: Mapping[str, str]) -> LaunchConf:
    """Split settings into those the command line may carry and the secret ones.

    Example:
        >>> conf = split_launch_conf({"spark.ui.enabled": "false",
        ...     "spark.hadoop.fs.s3a.secret.key": "s", "spark.cassandra.auth.password": "p"})
        >>> list(conf.argv), list(conf.at_start)
        (['spark.ui.enabled'], ['spark.hadoop.fs.s3a.secret.key'])
        >>> list(conf.runtime)
        ['spark.cassandra.auth.password']
    """
    argv: dict[str, str] = {}
    at_start: dict[str, str] = {}
    runtime: dict[str, str] = {}
    for key, value in settings.items():
        if key.startswith(RUNTIME_PREFIXES):
            runtime[key] = value
        elif REDACTED.search(key) or REDACTED.search(value):
            at_start[key] = value
        else:
            argv[key] = value
    return LaunchConf(argv, at_start, runtime)


def properties_text(settings: Mapping[str, str]) -> str:
    r"""Settings as a Java properties file (`key=value` lines, escaped).

    Example:
        >>> properties_text({"spark.a": "x=1\\y", "k:2": " lead\n"})
        'spark.a=x=1\\\\y\nk\\:2=\\ lead\\n\n'
    """

    def escape(text: str, key: bool) -> str:
        out = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
        out = out.replace("\t", "\\t")
        if key:
            return re.sub(r"([=: #!])", r"\\\1", out)
        return "\\" + out if out.startswith((" ", "#", "!")) else out

    return "".join(f"{escape(k, True)}={escape(v, False)}\n" for k, v in settings.items())


def _spark_defaults() -> str:
    """The text of Spark's `spark-defaults.conf`, which `--properties-file` replaces."""
    home = os.environ.get("SPARK_HOME")
    if home is None:
        import pyspark

        home = str(Path(pyspark.__file__).parent)
    path = Path(os.environ.get("SPARK_CONF_DIR") or Path(home) / "conf") / "spark-defaults.conf"
    return path.read_text() + "\n" if path.is_file() else ""


@contextmanager
def secret_properties(settings: Mapping[str, str]) -> Iterator[Path | None]:
    """While the block runs, pyspark's next JVM reads `settings` from a 0600 properties file.

    The file also holds `spark-defaults.conf`'s settings, which spark-submit would otherwise no
    longer read. It and `PYSPARK_SUBMIT_ARGS` are restored when the block ends.

    Yields:
        The file, or None when there is nothing to put in it.
    """
    if not settings:
        yield None
        return
    fd, name = tempfile.mkstemp(prefix="runner-spark-", suffix=".conf")  # 0600, O_EXCL
    previous = os.environ.get("PYSPARK_SUBMIT_ARGS")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(_spark_defaults() + properties_text(settings))
        os.environ["PYSPARK_SUBMIT_ARGS"] = (
            f"--properties-file {shlex.quote(name)} {previous or 'pyspark-shell'}"
        )
        yield Path(name)
    finally:
        if previous is None:
            os.environ.pop("PYSPARK_SUBMIT_ARGS", None)
        else:
            os.environ["PYSPARK_SUBMIT_ARGS"] = previous
        Path(name).unlink(missing_ok=True)
