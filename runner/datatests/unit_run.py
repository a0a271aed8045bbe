"""Run unit tests on Spark: the given rows become inline views, the model runs on them, and the
columns the test expects are compared with its output.

The column types of an input are those of the upstream model: its compiled SQL is analysed on
empty upstream views (no job runs, no file is read); a source's are its declared columns, all
STRING, plus those the build adds (`_corrupt_record`, `_line`, `_file`, `_file_records`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from runner.datatests.row_diff import RowDiff, compare_rows, render_diff
from runner.datatests.unit import UnitInput, UnitTest
from runner.datatests.unit_values import FixtureRow, quote_name, relation_sql, to_value
from runner.errors import RunnerError
from runner.graph import Graph
from runner.project import Project
from runner.results import NodeResult, NodeStatus, ResourceType
from runner.spark.session import to_execution_error
from runner.spark.sources import CORRUPT_COLUMN, FILE_COLUMN, LINE_COLUMN, RECORDS_COLUMN
from runner.templating import CompiledModel, source_view_name
from runner.value_text import format_literal

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType

# A few rows need neither parallelism nor generated code: one task per stage, no adaptive
# re-planning, expressions interpreted instead of compiled (Spark runs its own test suites in
# both modes). Measured on the project's unit tests (2 cores, loaded): 0.85 -> 0.65 CPU-seconds
# per test once warm, and a third less for the first test of each model, which compiles code.
SESSION_CONF = {
    "spark.sql.shuffle.partitions": "1",
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
}
# the columns `runner.spark.sources.register_source` adds to a source's declared STRING ones
SOURCE_EXTRA_COLUMNS = (
    (CORRUPT_COLUMN, "string"), (LINE_COLUMN, "bigint"), (FILE_COLUMN, "string"),
    (RECORDS_COLUMN, "bigint"),
)


@dataclass(frozen=True)
class UnitOutcome:
    columns: tuple[str, ...]
    diff: RowDiff
    expected_rows: int
    actual_rows: int


class UnitRunner:
    """Runs unit tests in a Spark session of their own on the build's SparkContext.

    Its temp views (empty upstream models, given rows) never meet the build's, and its settings
    suit a few rows. Threads may run tests at once: each test's views have its own names, and
    the upstream schemas are worked out once, under a lock.
    """

    def __init__(
        self, spark: SparkSession, project: Project, models: Mapping[str, CompiledModel],
        graph: Graph,
    ) -> None:
        self._parent = spark
        self._project = project
        self._models = models
        self._graph = graph
        self._session: SparkSession | None = None
        self._schemas: dict[str, StructType] = {}
        self._lock = threading.Lock()

    def session(self) -> SparkSession:
        with self._lock:
            if self._session is None:
                self._session = self._parent.newSession()
                for key, value in SESSION_CONF.items():
                    self._session.conf.set(key, value)
            return self._session

    def run(self, test: UnitTest) -> UnitOutcome:
        """Register the inputs, run the model, compare; the test's views are dropped after.

        Raises:
            ConfigError: a given or expected row does not fit the columns (at its YAML line).
            ExecutionError: Spark could not run the model (at the model's line).
        """
        spark = self.session()
        registered: list[str] = []
        try:
            for given in test.given:
                schema = self.input_schema(given)
                rows = [_typed_row(test, given, schema, row) for row in given.rows]
                spark.sql(relation_sql(schema, rows)).createOrReplaceTempView(given.relation)
                registered.append(given.relation)
            return self._compare(spark, test)
        finally:
            for view in registered:
                spark.catalog.dropTempView(view)

    def input_schema(self, given: UnitInput) -> StructType:
        """The columns and types of a given input: its model's output, or the source's."""
        if given.source is not None:
            return self._source_schema(given.source)
        assert given.model is not None
        with self._lock:
            return self._model_schema(given.model)

    def _source_schema(self, key: tuple[str, str]) -> StructType:
        from pyspark.sql.types import LongType, StringType, StructField, StructType

        types = {"string": StringType(), "bigint": LongType()}
        columns = [(c.name, "string") for c in self._project.sources[key].columns]
        return StructType(
            [StructField(n, types[t]) for n, t in [*columns, *SOURCE_EXTRA_COLUMNS]]
        )

    def _model_schema(self, name: str) -> StructType:
        """Analyse `name` and what it reads on empty views named as the build names them.

        Each analysed model is registered as an empty relation of its schema, not as its plan,
        so a model downstream is analysed on a few empty inputs, not on their whole lineage.
        """
        from pyspark.errors import PySparkException

        assert self._session is not None
        for model in self._graph.order(self._graph.ancestors(name) | {name}):
            if model in self._schemas:
                continue
            compiled = self._models[model]
            for key in compiled.sources:
                empty = relation_sql(self._source_schema(key), [])
                self._session.sql(empty).createOrReplaceTempView(source_view_name(*key))
            try:
                schema = self._session.sql(compiled.sql).schema
            except PySparkException as exc:
                raw = self._project.models[model].raw_sql
                raise to_execution_error(exc, compiled, raw) from exc
            self._session.sql(relation_sql(schema, [])).createOrReplaceTempView(model)
            self._schemas[model] = schema
        return self._schemas[name]

    def _compare(self, spark: SparkSession, test: UnitTest) -> UnitOutcome:
        from py4j.protocol import Py4JJavaError
        from pyspark.errors import PySparkException

        raw = self._project.models[test.model].raw_sql
        try:
            df = spark.sql(test.compiled.sql)
            # with `rows: []` expected, every column of any row produced is shown
            columns = _output_columns(test, df) if test.expect_columns else list(df.columns)
            fields = {f.name: f.dataType for f in df.schema.fields}
            actual_rows = df.select([quote_name(c) for c in columns]).collect()
        except (PySparkException, Py4JJavaError) as exc:
            raise to_execution_error(exc, test.compiled, raw) from exc
        zone = ZoneInfo(spark.conf.get("spark.sql.session.timeZone") or "UTC")
        types = [fields[c] for c in columns]
        actual = [tuple(_from_spark(v, t, zone) for v, t in zip(row, types, strict=True))
                  for row in actual_rows]
        expected = [_expected_row(test, row, types) for row in test.expect]
        diff = compare_rows(expected, actual)
        return UnitOutcome(tuple(columns), diff, len(expected), len(actual))


def _output_columns(test: UnitTest, df: DataFrame) -> list[str]:
    """The model's output columns the test compares, as Spark spells them."""
    by_lower = {c.lower(): c for c in df.columns}
    missing = [c for c in test.expect_columns if c not in by_lower]
    if missing:
        raise test.site.error(
            f"model {test.model} has no column '{missing[0]}' (expect:)", test.expect_line,
            hint=f"its columns: {', '.join(df.columns)}",
        )
    return [by_lower[c] for c in test.expect_columns]


def _typed_row(
    test: UnitTest, given: UnitInput, schema: StructType, row: FixtureRow
) -> dict[str, Any]:
    types = {f.name.lower(): f.dataType for f in schema.fields}
    out: dict[str, Any] = {}
    for column, value in row.values.items():
        if column not in types:
            raise test.site.error(
                f"input {given.input} has no column '{column}'", row.line,
                hint=f"its columns: {', '.join(f.name for f in schema.fields)}",
            )
        out[column] = _convert(test, value, types[column], f"input {given.input}", column, row)
    return out


def _expected_row(test: UnitTest, row: FixtureRow, types: list[DataType]) -> tuple[Any, ...]:
    return tuple(
        _convert(test, row.values.get(c), t, "expect", c, row)
        for c, t in zip(test.expect_columns, types, strict=True)
    )


def _convert(
    test: UnitTest, value: Any, dtype: DataType, where: str, column: str, row: FixtureRow
) -> Any:
    try:
        return to_value(value, dtype)
    except ValueError as exc:
        raise test.site.error(
            f"{where}: {column} = {format_literal(value)} {exc}", row.line,
            hint=f"the column is {dtype.simpleString()}",
        ) from None


def _from_spark(value: Any, dtype: DataType, zone: ZoneInfo) -> Any:
    """A collected value as `to_value` gives it: timestamps in the session's time zone (PySpark
    hands them over in the Python process's), structs as dicts."""
    if value is None:
        return None
    name = dtype.typeName()
    if name == "timestamp" and isinstance(value, datetime):
        return value.astimezone(zone).replace(tzinfo=None)
    if name == "array":
        return [_from_spark(v, dtype.elementType, zone) for v in value]  # type: ignore[attr-defined]
    if name == "map":
        return {_from_spark(k, dtype.keyType, zone): _from_spark(v, dtype.valueType, zone)  # type: ignore[attr-defined]
                for k, v in value.items()}
    if name == "struct":
        return {f.name: _from_spark(value[f.name], f.dataType, zone)
                for f in dtype.fields}  # type: ignore[attr-defined]
    return value


def run_unit_test(runner: UnitRunner, test: UnitTest) -> NodeResult:
    """Run one unit test; a failure or an error is a result, never an exception."""
    started = time.perf_counter()
    failures = None
    try:
        outcome = runner.run(test)
    except RunnerError as err:
        status, message = NodeStatus.ERROR, f"unit test {test.name}: {err}"
        if err.message.startswith(f"unit test {test.name}:"):
            message = str(err)
    else:
        failures = outcome.diff.failures
        status = NodeStatus.ERROR if failures else NodeStatus.SUCCESS
        message = (
            f"unit test {test.name} of model {test.model}: the output differs from expect:\n"
            + render_diff(outcome.columns, outcome.diff, outcome.expected_rows)
            if failures else f"{outcome.actual_rows} rows as expected"
        )
    seconds = time.perf_counter() - started
    return NodeResult(
        test.name, status, message, seconds, None, "unit_test", test.path.as_posix(),
        {"total": seconds}, resource_type=ResourceType.UNIT_TEST, failures=failures,
    )
