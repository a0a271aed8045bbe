"""Integration fixtures: one SparkSession per test run, the CLI run in-process, mart readers."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from runner.local.maven import ensure_connector_jars
from tests.conftest import ROOT


@pytest.fixture(scope="session")
def spark():
    """The session every in-process `runner` call reuses (getOrCreate)."""
    from runner.config import SparkTarget
    from runner.spark.session import create_session

    jars = ensure_connector_jars(ROOT)
    extra = {
        "spark.jars": ",".join(str(j) for j in jars),
        "spark.sql.extensions": "com.datastax.spark.connector.CassandraSparkExtensions",
    }
    session = create_session(
        SparkTarget(master="local[2]", conf={"spark.sql.shuffle.partitions": "4"}),
        ROOT / "target" / "test-warehouse",
        extra,
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def run_runner(spark):
    """Run the real CLI in-process: run_runner(["build", ...], project_dir=...) -> click Result."""
    from runner.cli import main

    def invoke(args: list[str], project_dir: Path | str | None = None,
               env: dict[str, str] | None = None) -> Result:
        full = list(args)
        if project_dir is not None:
            full += ["--project-dir", str(project_dir)]
        result = CliRunner().invoke(main, full, env=env, catch_exceptions=False)
        return result

    return invoke


def read_mart(project_dir: Path | str, name: str) -> pd.DataFrame:
    """A mart's rows from its Parquet copy under target/marts/<name>."""
    return pd.read_parquet(Path(project_dir) / "target" / "marts" / name)


@pytest.fixture(scope="session")
def mart_reader():
    return read_mart


OPT_IN = ("faults",)  # 17 minutes on 2 cores: pytest -m faults, or RUNNER_FAULT_TESTS=1


def pytest_collection_modifyitems(config, items):
    chosen = config.getoption("-m") or ""
    run_all = os.environ.get("RUNNER_FAULT_TESTS") == "1"
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.slow)
        if "test_cassandra_faults" in str(item.fspath):
            item.add_marker(pytest.mark.faults)
        kinds = [k for k in OPT_IN if item.get_closest_marker(k)]
        if kinds and not run_all and not any(k in chosen for k in kinds):
            item.add_marker(pytest.mark.skip(
                reason=f"{kinds[0]} tests are opt-in: pytest -m {kinds[0]} or RUNNER_FAULT_TESTS=1"))


os.environ.setdefault("PYSPARK_PYTHON", str(Path(os.sys.executable)))

from tests.integration.cassandra_fixtures import (  # noqa: F401
    cassandra_auth_node,
    cassandra_node,
    cassandra_target,
    killable_node,
    spark_cassandra,
)
from tests.integration.superset_fixtures import (  # noqa: F401
    superset_cassandra,
    superset_marts,
    superset_stack,
)
