"""One SparkSession per run, built from the target; Spark errors become ExecutionError."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.child_env import runner_secrets_out_of_environ
from runner.config import SparkTarget
from runner.errors import ExecutionError, Location, ServiceError
from runner.java import ensure_java_home
from runner.spark.class_archive import java_options
from runner.spark.launch_conf import secret_properties, split_launch_conf
from runner.spark.master import check_master, check_registered, registration_watchdog

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from runner.templating import CompiledModel

SMALL_INPUT_BYTES = 64 * 2**20


def session_conf(
    target: SparkTarget, warehouse: Path, input_bytes: int | None = None
) -> dict[str, str]:
    """Default Spark settings for a build, then the target's own `conf`, which wins.

    The driver's JVM, and a cluster's executors (started cold for each build), get the
    throughput garbage collector and, when the build reads less than
    `SMALL_INPUT_BYTES`, only the quick JIT compiler. Measured on 2 cores: the parallel collector
    takes 8-15% off the JVM's CPU time at every size; C1 alone takes another third off at the
    original size and at 10x, where the optimizing compiler's own work never pays back, and adds
    40% at 100x, where it does.

    Args:
        target: the profile's spark settings.
        warehouse: spark.sql.warehouse.dir.
        input_bytes: size of the raw files the build reads; None when not known.
    """
    conf = {
        "spark.driver.memory": target.driver_memory,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.adaptive.coalescePartitions.enabled": "true",
        "spark.sql.shuffle.partitions": "8",
        "spark.sql.warehouse.dir": str(warehouse),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.legacy.timeParserPolicy": "CORRECTED",
    }
    log4j = Path(__file__).parents[1] / "log4j2.properties"
    java = [f"-Dlog4j2.configurationFile={log4j}", "-XX:+UseParallelGC"]
    if input_bytes is not None and input_bytes < SMALL_INPUT_BYTES:
        java.append("-XX:TieredStopAtLevel=1")
    conf["spark.driver.extraJavaOptions"] = " ".join(java)
    if not target.master.startswith("local"):  # a cluster's executors start cold for each build
        conf["spark.executor.extraJavaOptions"] = " ".join(java[1:])
    if target.master.startswith("local"):
        conf["spark.driver.host"] = "127.0.0.1"
        conf["spark.driver.bindAddress"] = "127.0.0.1"
    conf.update(target.conf)
    return conf


def create_session(
    target: SparkTarget,
    warehouse: Path,
    extra: dict[str, str],
    input_bytes: int | None = None,
    project_dir: Path | None = None,
) -> SparkSession:
    """Start (or reuse, inside one process) the SparkSession for a run (see `session_conf`).

    With `project_dir`, the JVM maps the project's class archive when there is one
    (`runner.spark.class_archive`).
    """
    ensure_java_home()
    check_master(target)
    if _on_this_machine(target.master):  # remote executors must reach the driver's address
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", os.environ.get("PYSPARK_PYTHON", "python3"))
    from pyspark.sql import SparkSession  # pyspark takes ~1 s to import: only when a session starts

    builder = SparkSession.builder.master(target.master).appName(target.app_name)
    conf = session_conf(target, warehouse, input_bytes)
    if project_dir is not None and "spark.driver.extraJavaOptions" not in target.conf:
        options = java_options(project_dir)
        conf["spark.driver.extraJavaOptions"] = " ".join(
            [conf["spark.driver.extraJavaOptions"], *options]
        )
    # pyspark puts every builder setting on the JVM's command line, which any local user can read
    # (/proc/<pid>/cmdline): secret ones are set once the JVM runs, or read from a 0600 file.
    launch = split_launch_conf({**conf, **extra})
    for key, value in launch.argv.items():
        builder = builder.config(key, value)
    try:
        with (
            runner_secrets_out_of_environ(),  # nor are passwords in the JVM's environment
            secret_properties(launch.at_start),
            registration_watchdog(target),
            _jvm_ignores_sigterm(),
        ):
            spark = builder.getOrCreate()
    except ServiceError:
        raise
    except Exception as exc:  # py4j/JVM start-up failures have no common type
        raise ServiceError(
            f"could not start Spark (master {target.master}): {str(exc).splitlines()[0]}",
            hint="check the spark: section of your profile and that Java 17 is installed",
        ) from exc
    check_registered(target, bool(spark.sparkContext._jsc.sc().isStopped()))
    for key, value in launch.runtime.items():
        spark.conf.set(key, value)
    spark.sparkContext.setLogLevel("ERROR")
    return spark


@contextmanager
def _jvm_ignores_sigterm() -> Iterator[None]:
    """Start the driver JVM with SIGTERM ignored, as pyspark already does for SIGINT.

    A scheduler (or `kill` of the process group) sends SIGTERM to the JVM too; it would stop the
    SparkContext under the runner, which is cancelling the jobs and writing run_results.json. The
    JVM still exits with the runner: it stops when its stdin, a pipe from the runner, closes.
    """
    from pyspark import java_gateway

    popen = java_gateway.Popen

    def launch(*args: Any, **kwargs: Any) -> Any:
        first = kwargs.get("preexec_fn")

        def preexec() -> None:
            if callable(first):
                first()
            signal.signal(signal.SIGTERM, signal.SIG_IGN)

        return popen(*args, **{**kwargs, "preexec_fn": preexec})

    java_gateway.Popen = launch  # type: ignore[assignment,misc]
    try:
        yield
    finally:
        java_gateway.Popen = popen  # type: ignore[misc]


def _on_this_machine(master: str) -> bool:
    """Whether the master's executors run on this machine (local mode or a loopback master).

    Example:
        >>> _on_this_machine("local[*]"), _on_this_machine("spark://10.0.0.5:7077")
        (True, False)
    """
    return master.startswith("local") or "127.0.0.1" in master or "localhost" in master


_POS = re.compile(r"line (\d+),? pos (\d+)")
_SQLSTATE = re.compile(r"\s*SQLSTATE: \w+")


def strip_sqlstate(line: str) -> str:
    """A line of a Spark error without the SQLSTATE code Spark puts in its messages.

    Example:
        >>> strip_sqlstate("[DIVIDE_BY_ZERO] Division by zero. SQLSTATE: 22012; line 1 pos 7")
        '[DIVIDE_BY_ZERO] Division by zero.; line 1 pos 7'
    """
    return _SQLSTATE.sub("", line)


def spark_error_line(exc: BaseException) -> str:
    """The first line of a Spark error without its SQLSTATE code (the error's type if empty).

    Example:
        >>> spark_error_line(ValueError("\\n[X] no column. SQLSTATE: 42703\\n'Project"))
        '[X] no column.'
        >>> spark_error_line(ValueError())
        'ValueError'
    """
    text = str(exc).strip()
    return strip_sqlstate(text.splitlines()[0]) if text else type(exc).__name__


def run_sql(spark: SparkSession, model: CompiledModel, raw_sql: str) -> DataFrame:
    """Analyse a compiled model with Spark; errors point at the model's `.sql` file."""
    from pyspark.errors import PySparkException

    try:
        return spark.sql(model.sql)
    except PySparkException as exc:
        raise to_execution_error(exc, model, raw_sql) from exc


def to_execution_error(exc: BaseException, model: CompiledModel, raw_sql: str) -> ExecutionError:
    """Translate a Spark error raised while running `model` into an ExecutionError."""
    text = str(exc)
    first = spark_error_line(exc)
    match = _POS.search(text)
    location = Location(model.path)
    if match:
        location = Location(
            model.path, model.source_line(int(match.group(1))), int(match.group(2)) + 1
        )
    return ExecutionError(
        f"Spark error in model {model.name}: {first}",
        location=location,
        source=raw_sql if match else None,
        hint=f"compiled SQL: {model.compiled_path}",
    )
