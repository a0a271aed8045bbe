"""One step of a build: a model to materialize or a data test to run, and its NodeResult.

`runner.build` plans the steps and walks them; here one step runs and never raises: a failure
is an ERROR result whose message is the translated error (`path:line:col`, hint). Unit tests
run in `runner.datatests.unit_run`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runner.compile import CompiledProject
from runner.datatests import failing_rows
from runner.datatests.collect import DataTest
from runner.datatests.failing_rows import ConditionBatch
from runner.errors import RunnerError
from runner.results import NodeResult, NodeStatus, ResourceType
from runner.spark.materializations import MaterializeContext, materialize, register_stored_rows
from runner.spark.session import run_sql, to_execution_error
from runner.templating import CompiledModel

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class Step:
    """One line of a run: build a model or run a test."""

    resource_type: ResourceType
    name: str


def unique_id(step: Step) -> str:
    """`model.<name>`, `test.<name>` or `unit_test.<name>`, as its NodeResult spells it."""
    return f"{step.resource_type}.{step.name}"


def run_model(ctx: MaterializeContext, cp: CompiledProject, name: str) -> NodeResult:
    """Run a model's SQL and materialize it; its timing includes the Cassandra write."""
    model = cp.models[name]
    raw = cp.project.models[name].raw_sql
    started = time.perf_counter()
    try:
        register_stored_rows(ctx, model)  # {{ this }} of an incremental model
        df = run_sql(ctx.spark, model, raw)
        outcome = materialize(ctx, model, df)
    except RunnerError as err:
        return _error(model, started, str(err))
    except Exception as exc:  # noqa: BLE001 - Spark raises Py4J and runtime errors from actions
        return _error(model, started, str(to_execution_error(exc, model, raw)))
    timing = {"total": time.perf_counter() - started}
    if outcome.cassandra_seconds is not None:
        timing["cassandra"] = outcome.cassandra_seconds
    return NodeResult(
        name, NodeStatus.SUCCESS, outcome.message, timing["total"], outcome.rows,
        model.config.materialized, model.path.as_posix(), timing,
    )


def run_test(
    spark: SparkSession, test: DataTest, failures_dir: Path | None, batch: ConditionBatch
) -> NodeResult:
    """Run a data test (counted in `batch` when it is there); failing rows fail or warn by
    severity.

    With `failures_dir`, the failing rows are stored there.
    """
    started = time.perf_counter()
    try:
        outcome = failing_rows.run_test(spark, test, failures_dir, batch.failures(test))
    except RunnerError as err:
        message, failures, status = str(err), None, NodeStatus.ERROR
    except Exception as exc:  # noqa: BLE001 - Py4J errors outside the translated ones
        message, failures, status = (
            str(failing_rows.to_test_error(exc, test)), None, NodeStatus.ERROR)
    else:
        message = failing_rows.describe_failing_rows(test, outcome)
        failures = outcome.failures
        status = NodeStatus.SUCCESS if not failures else (
            NodeStatus.WARN if test.severity == "warn" else NodeStatus.ERROR)
    seconds = time.perf_counter() - started
    return NodeResult(
        test.name, status, message, seconds, None, "test", test.path.as_posix(),
        {"total": seconds}, resource_type=ResourceType.TEST, failures=failures,
    )


def skipped(cp: CompiledProject, step: Step, reason: str) -> NodeResult:
    """The result of a step not run, and why."""
    if step.resource_type == ResourceType.UNIT_TEST:
        unit = cp.unit_tests[step.name]
        return NodeResult(
            unit.name, NodeStatus.SKIPPED, reason, 0.0, None, "unit_test", unit.path.as_posix(),
            resource_type=ResourceType.UNIT_TEST,
        )
    if step.resource_type == ResourceType.TEST:
        test = cp.tests[step.name]
        return NodeResult(
            test.name, NodeStatus.SKIPPED, reason, 0.0, None, "test", test.path.as_posix(),
            resource_type=ResourceType.TEST,
        )
    model = cp.models[step.name]
    return NodeResult(
        model.name, NodeStatus.SKIPPED, reason, 0.0, None, model.config.materialized,
        model.path.as_posix(),
    )


def _error(model: CompiledModel, started: float, message: str) -> NodeResult:
    return NodeResult(
        model.name, NodeStatus.ERROR, message, time.perf_counter() - started, None,
        model.config.materialized, model.path.as_posix(),
    )
