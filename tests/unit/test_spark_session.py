"""The Spark settings a build starts with (no JVM is started)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from runner.config import SparkTarget
from runner.errors import ServiceError
from runner.spark import session
from runner.spark.launch_conf import split_launch_conf
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


# Settings Spark itself would redact, as a profile (or the connector's login) may bring them.
SECRETS = {
    "spark.hadoop.fs.s3a.secret.key": "s3-secret-value",
    "spark.hadoop.fs.s3a.access.key": "s3-access-value",
    "spark.ssl.ui.keyPassword": "ssl-password-value",
    "spark.authenticate.secret": "auth-secret-value",
    "spark.hadoop.some.token": "token-value",
}


def test_no_redactable_setting_reaches_the_jvms_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pyspark's own launcher builds the command; the JVM is not started, its argv is read.
    from pyspark import java_gateway

    seen: dict[str, object] = {}

    def popen(command: list[str], **kwargs: object) -> object:
        env = kwargs["env"]
        assert isinstance(env, dict)
        args = shlex.split(env["PYSPARK_SUBMIT_ARGS"])
        props = Path(args[args.index("--properties-file") + 1])
        seen.update(argv=command, env=env, props=props, mode=props.stat().st_mode & 0o777,
                    text=props.read_text())
        raise RuntimeError("no JVM in unit tests")

    monkeypatch.setattr(java_gateway, "Popen", popen)
    monkeypatch.setattr(session, "ensure_java_home", lambda: None)
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    monkeypatch.delenv("PYSPARK_SUBMIT_ARGS", raising=False)
    monkeypatch.setenv("RUNNER_CASSANDRA_PASSWORD", "cassandra-env-value")
    target = SparkTarget(master="local[1]", conf=SECRETS)
    with pytest.raises(ServiceError, match="could not start Spark"):
        session.create_session(target, tmp_path / "w", {"spark.cassandra.auth.password": "cpw"})
    argv = " ".join(seen["argv"])  # type: ignore[arg-type]
    assert "spark.sql.session.timeZone=UTC" in argv  # the ordinary settings still go there
    for key, value in {**SECRETS, "spark.cassandra.auth.password": "cpw"}.items():
        assert key not in argv and value not in argv
    env_values = " ".join(seen["env"].values())  # type: ignore[union-attr]
    assert "cassandra-env-value" not in env_values and "s3-secret-value" not in env_values
    assert seen["mode"] == 0o600
    for key, value in SECRETS.items():
        assert f"{key}={value}\n" in seen["text"]  # type: ignore[operator]
    assert "cpw" not in seen["text"]  # type: ignore[operator]  # set once the JVM runs
    assert not seen["props"].exists()  # type: ignore[union-attr]
    assert "PYSPARK_SUBMIT_ARGS" not in os.environ


def test_the_split_follows_sparks_redaction_regex() -> None:
    conf = split_launch_conf({**SECRETS, "spark.driver.memory": "2g",
                              "spark.cassandra.auth.username": "u"})
    assert conf.argv == {"spark.driver.memory": "2g"}
    assert conf.at_start == SECRETS
    assert conf.runtime == {"spark.cassandra.auth.username": "u"}
