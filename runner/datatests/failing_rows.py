"""Run a data test on Spark: count its failing rows, keep a sample, store them all on request."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.datatests.one_pass import build_count_query
from runner.errors import ExecutionError, Location
from runner.paths import remove_tree, staged_path, swap_in
from runner.spark.session import strip_sqlstate

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from runner.datatests.collect import DataTest

SAMPLE_ROWS = 5


@dataclass(frozen=True)
class FailingRows:
    """What a test returned: how many failing rows, the first ones, where all of them are stored."""

    failures: int
    columns: tuple[str, ...] = ()
    sample: tuple[tuple[Any, ...], ...] = ()
    stored: Path | None = None


def run_test(
    spark: SparkSession, test: DataTest, failures_dir: Path | None = None,
    failures: int | None = None,
) -> FailingRows:
    """Run a test on Spark; with `failures_dir`, its failing rows go to `<dir>/<test name>/`.

    `failures`, when its model's pass counted them (ConditionBatch), spares the count: a test
    with none runs no query, one with some only the query of its first rows.

    Raises:
        ExecutionError: Spark could not run the test's SQL.
    """
    if failures == 0 and failures_dir is None:
        return FailingRows(0)
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    stored = None
    try:
        df = spark.sql(test.sql)
        if failures_dir is not None:
            stored = _store(df, failures_dir / test.name, failures_dir)
            df = spark.read.parquet(str(stored))
            failures = df.count()
        elif failures is None:
            failures = df.count()
        rows = df.limit(SAMPLE_ROWS).collect() if failures else []
    except (PySparkException, Py4JJavaError) as exc:
        raise to_test_error(exc, test) from exc
    if not failures:
        if stored is not None and failures_dir is not None:
            remove_tree(stored, [failures_dir])
        return FailingRows(0)
    return FailingRows(failures, tuple(df.columns), tuple(tuple(r) for r in rows), stored)


class ConditionBatch:
    """The generic tests of each model (not_null, unique, unique_combination_of_columns,
    accepted_values, expression), counted in one query over the model the first time one of
    them runs (`one_pass.build_count_query`).

    Each count equals the number of rows the test's own query returns, so a test with none
    passes without a query of its own and a failing one only fetches its first rows for the
    message; failing rows to store are never batched. In this project, 60 of the 67 data tests:
    one query per model instead of one (passing) or two (failing) jobs per test.

    Args:
        spark: the session.
        tests: the tests of the run; those with a `count`, reading only their own model and
            with no failing rows to store, are batched by model.
    """

    def __init__(self, spark: SparkSession, tests: Iterable[DataTest]) -> None:
        self.spark = spark
        self.groups: dict[str, list[DataTest]] = {}
        for test in tests:
            if test.count and test.model and test.refs == (test.model,) and not test.sources:
                self.groups.setdefault(test.model, []).append(test)
        self.groups = {m: ts for m, ts in self.groups.items() if len(ts) > 1}
        self.locks = {model: threading.Lock() for model in self.groups}
        self.counts: dict[str, dict[str, int]] = {}

    def failures(self, test: DataTest) -> int | None:
        """The failing rows the model's pass counted for `test`; None: run it on its own."""
        model = test.model or ""
        lock = self.locks.get(model)
        if lock is None or not any(t is test for t in self.groups[model]):
            return None
        with lock:
            if model not in self.counts:
                self.counts[model] = self._count(model)
        return self.counts[model].get(test.name)

    def passes(self, test: DataTest) -> bool:
        """True when the batch counted no failing row for `test`."""
        return self.failures(test) == 0

    def _count(self, model: str) -> dict[str, int]:
        from py4j.protocol import Py4JJavaError
        from pyspark.errors import PySparkException

        tests = self.groups[model]
        sql = build_count_query(model, [t.count for t in tests if t.count])
        try:
            row = self.spark.sql(sql).collect()[0]
        except (PySparkException, Py4JJavaError):  # a broken test is reported by its own run
            return {}
        return {t.name: int(row[i]) for i, t in enumerate(tests)}


def _store(df: Any, final: Path, root: Path) -> Path:
    """Write rows as Parquet beside `final`, then swap them in (a stale copy never lingers)."""
    staged = staged_path(final, root)
    try:
        df.toDF(*unique_columns(df.columns)).write.mode("overwrite").parquet(str(staged))
    except BaseException:
        remove_tree(staged, [root])
        raise
    return swap_in(staged, final, root=root)


def unique_columns(names: Iterable[str]) -> list[str]:
    """Column names made unique for Parquet, which refuses `select a.total, b.total`.

    Example:
        >>> unique_columns(["total", "total", "n"])
        ['total', 'total_2', 'n']
    """
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name.lower()] = seen.get(name.lower(), 0) + 1
        out.append(name if seen[name.lower()] == 1 else f"{name}_{seen[name.lower()]}")
    return out


def to_test_error(exc: BaseException, test: DataTest) -> ExecutionError:
    """Translate a Spark error raised by a test into an ExecutionError at its YAML/SQL file."""
    text = str(exc).strip()
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("\tat ")]
    first = next((ln for ln in lines if "Exception" in ln or "[" in ln), lines[0] if lines else "")
    first = strip_sqlstate(first).lstrip(": ")
    return ExecutionError(
        f"Spark error in test {test.name}: {first or type(exc).__name__}",
        location=Location(test.path),
        hint=f"compiled SQL: {compiled_path(test)}",
    )


def compiled_path(test: DataTest) -> str:
    """Where the compiled SQL of a test is written, relative to the target folder's parent."""
    return f"target/compiled/tests/{test.name}.sql"


def describe_failing_rows(test: DataTest, outcome: FailingRows) -> str:
    """The message of a test result: the failing-row count, where they are, the first rows."""
    if not outcome.failures:
        return "pass"
    plural = "s" if outcome.failures != 1 else ""
    text = f"{outcome.failures} failing row{plural} (severity {test.severity})"
    if outcome.stored is not None:
        text += f"; all stored in {outcome.stored}"
    table = format_rows(outcome.columns, outcome.sample, outcome.failures)
    return f"{text}\n{table}" if table else text


def format_rows(
    columns: Iterable[str], rows: Iterable[Iterable[Any]], total: int | None = None,
    width: int = 40,
) -> str:
    """A small text table of sample rows, values cut at `width`.

    Example:
        >>> print(format_rows(["id", "n"], [("a", 2), ("bb", 3)], total=3))
        id | n
        a  | 2
        bb | 3
        ... and 1 more
    """
    header = list(columns)
    body = [[_cell(v, width) for v in row] for row in rows]
    if not header:
        return ""
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(header)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in body]
    if total is not None and total > len(body):
        lines.append(f"... and {total - len(body)} more")
    return "\n".join(lines)


def _cell(value: Any, width: int) -> str:
    text = "NULL" if value is None else str(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 3] + "..."
