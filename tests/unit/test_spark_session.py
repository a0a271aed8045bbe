"""The Spark settings a build starts with (no JVM is started)."""

from __future__ import annotations

from pathlib import Path

from runner.config import SparkTarget
from runner.spark.session import SMALL_INPUT_BYTES, session_conf


def test_a_clusters_executors_get_the_drivers_jit_and_collector() -> None:
    target = SparkTarget(master="spark://127.0.0.1:7077")
    small = session_conf(target, Path("/w"), input_bytes=1)
    assert small["spark.executor.extraJavaOptions"] == "-XX:+UseParallelGC -XX:TieredStopAtLevel=1"
    assert small["spark.driver.extraJavaOptions"].endswith(small["spark.executor.extraJavaOptions"])
    large = session_conf(target, Path("/w"), input_bytes=SMALL_INPUT_BYTES)
    assert large["spark.executor.extraJavaOptions"] == "-XX:+UseParallelGC"


def test_local_mode_has_no_executor_jvm_and_the_profile_wins() -> None:
    assert "spark.executor.extraJavaOptions" not in session_conf(
        SparkTarget(master="local[2]"), Path("/w"), input_bytes=1)
    own = SparkTarget(master="spark://h:7077", conf={"spark.executor.extraJavaOptions": "-Xss4m"})
    conf = session_conf(own, Path("/w"), input_bytes=1)
    assert conf["spark.executor.extraJavaOptions"] == "-Xss4m"
