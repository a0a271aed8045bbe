"""Preview rows on Spark: any model (staging and intermediate too) or an inline query with
`ref()`/`source()`/`var()` and the project's macros, optionally filtered. Nothing is written."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.build import register_inputs
from runner.compile import CompiledProject
from runner.config import ModelConfig
from runner.errors import ExecutionError, RunnerError
from runner.spark.session import create_session, run_sql, spark_error_line, to_execution_error
from runner.spark.sources import input_bytes
from runner.sql import check_syntax
from runner.templating import CompiledModel, Renderer, map_lines

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

INLINE_PATH = Path("<inline>")


@dataclass(frozen=True)
class Preview:
    """The first rows of a query."""

    title: str  # the model, or "inline"
    columns: tuple[str, ...]
    types: tuple[str, ...]  # Spark's names: string, int, map<string,date>, ...
    rows: tuple[tuple[Any, ...], ...]
    more: bool = False  # more rows match than are shown


def open_session(cp: CompiledProject) -> SparkSession:
    """A Spark session for reading the project (no Cassandra: marts come from their Parquet
    copies)."""
    project = cp.project
    return create_session(cp.target.spark, project.target_layout.spark_warehouse, {},
                          input_bytes=input_bytes(project, cp.vars), project_dir=project.dir)


def preview_model(
    cp: CompiledProject, spark: SparkSession, name: str, *, where: str | None = None,
    limit: int = 10,
) -> Preview:
    """Run model `name` (and what it reads) and return its first `limit` rows meeting `where`.

    Upstream table-like models built earlier are read from their Parquet copies.
    """
    model = cp.models[name]
    raw = cp.project.models[name].raw_sql
    register_inputs(cp, spark, [name])
    df = filter_rows(run_sql(spark, model, raw), where, name)
    return collect_preview(df, name, limit, model, raw)


def compile_inline(cp: CompiledProject, text: str) -> CompiledModel:
    """Render an inline query like a model (every macro, ref, source, var) and check its SQL.

    Example errors point at `<inline>:line:col` and underline the query's own line.
    """
    rendered = Renderer(cp.project, cp.vars).render_snippet(text, INLINE_PATH, owner="inline")
    unknown = [r for r in rendered.refs if r not in cp.models]
    if unknown:
        raise RunnerError(f"inline query refers to disabled model '{unknown[0]}'",
                          hint=f"enable {unknown[0]} or query another model")
    model = CompiledModel(
        name="inline", path=INLINE_PATH, sql=rendered.sql + "\n", refs=rendered.refs,
        sources=rendered.sources, config=ModelConfig(), line_map=map_lines(text, rendered.sql),
        compiled_path="(inline query)",
    )
    check_syntax(model, text)
    return model


def preview_inline(
    cp: CompiledProject, spark: SparkSession, text: str, *, limit: int = 10
) -> Preview:
    """Run an inline query on the project's models and sources; its first `limit` rows."""
    model = compile_inline(cp, text)
    register_inputs(cp, spark, [], expose=model.refs, sources=model.sources)
    return collect_preview(run_sql(spark, model, text), "inline", limit, model, text)


def filter_rows(df: DataFrame, where: str | None, name: str) -> DataFrame:
    """`df` restricted to the rows meeting the Spark SQL condition `where` (None: all)."""
    if not where:
        return df
    from pyspark.errors import PySparkException  # pyspark is imported once Spark starts

    try:
        return df.where(where)
    except PySparkException as exc:
        first = spark_error_line(exc)
        raise ExecutionError(
            f"--where {where!r} does not apply to {name}: {first}",
            hint=f"a Spark SQL condition on the columns of {name}: {', '.join(df.columns)}",
        ) from None


def collect_preview(
    df: DataFrame, title: str, limit: int, model: CompiledModel, raw_sql: str
) -> Preview:
    """The first `limit` rows of `df` (one more is read, to tell whether there are more)."""
    from pyspark.sql import Row

    try:
        rows = df.limit(limit + 1).collect()
    except Exception as exc:  # noqa: BLE001 - Py4J and runtime errors of the Spark job
        raise to_execution_error(exc, model, raw_sql) from exc
    fields = df.schema.fields
    return Preview(
        title=title,
        columns=tuple(f.name for f in fields),
        types=tuple(f.dataType.simpleString() for f in fields),
        rows=tuple(tuple(to_python(v, Row) for v in row) for row in rows[:limit]),
        more=len(rows) > limit,
    )


def to_json(preview: Preview) -> dict[str, Any]:
    """The `--output json` document of `runner show`: columns with types, rows as objects."""
    return {
        "name": preview.title,
        "columns": [{"name": c, "type": t} for c, t in zip(preview.columns, preview.types,
                                                           strict=True)],
        "rows": [dict(zip(preview.columns, jsonable(list(r)), strict=True)) for r in preview.rows],
        "more": preview.more,
    }


def jsonable(value: Any) -> Any:
    """A value as JSON can hold it: dates in ISO, decimals as numbers, maps as objects.

    Example:
        >>> jsonable({"k": [date(2022, 1, 3), Decimal("1.5")], "n": None})
        {'k': ['2022-01-03', 1.5], 'n': None}
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def to_python(value: Any, row_type: Any) -> Any:
    """A collected value with its structs (Spark `Row`s, `row_type`) as dicts."""
    if isinstance(value, row_type):
        return {k: to_python(v, row_type) for k, v in value.asDict().items()}
    if isinstance(value, dict):
        return {k: to_python(v, row_type) for k, v in value.items()}
    if isinstance(value, list):
        return [to_python(v, row_type) for v in value]
    return value
