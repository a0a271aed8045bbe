"""`runner explain-user`: every row of one user (or any key value) from the raw files to the marts,
and a one-line verdict on whether and why the user is in the analysis.

Each source and model that has the key column (or a map with the key as an entry, as
`quarantined_rows.raw`) is filtered on one Spark session; staging rows show their quarantine
reason. A raw value matches the id itself or holds it as a whole token (`MLB1-1`, ` MLB1 `), so
malformed copies of an id show up next to the clean one.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp

from runner.compile import CompiledProject
from runner.errors import ExecutionError, RunnerError
from runner.explore.diff import TABLE_LIKE, mart_key
from runner.explore.preview import Preview, jsonable, to_python
from runner.spark.materializations import register_existing
from runner.spark.session import run_sql, spark_error_line, to_execution_error
from runner.spark.sources import CORRUPT_COLUMN, register_source
from runner.sql import DIALECT
from runner.value_text import format_cell

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

QUARANTINE_COLUMN = "quarantine_reason"  # staging models: NULL = clean (docs/CONTRACTS.md)
MAX_ROWS = 1000  # rows read per model; a user has a handful
SOURCE_ROWS = 100_000  # more rows of one source than any user has: not an id


@dataclass(frozen=True)
class NodeRows:
    """The rows one source or model holds for the value."""

    name: str  # a model, or `raw.lk_onboarding` for a source
    kind: str  # "source", or the model's materialization
    path: str
    matched_on: str  # `user_id`, or `raw['user_id']` for a map entry
    rows: Preview  # the first rows shown
    total: int  # rows found (at most MAX_ROWS)
    quarantine: tuple[str, ...] = ()  # the reason of each quarantined row (staging)
    refs: tuple[str, ...] = ()  # the models it reads


@dataclass(frozen=True)
class Explanation:
    key: str
    value: str
    nodes: tuple[NodeRows, ...]  # sources, then models in build order
    without_key: tuple[str, ...] = ()  # models that have no such column
    verdict: str = ""
    user_marts: tuple[str, ...] = ()  # marts of one row per key


def default_key(cp: CompiledProject) -> str:
    """The project's entity column: a mart's single-column key that every source declares.

    Raises:
        RunnerError: there is no such column, or there are several (pass --key).
    """
    declared = [{c.name for c in t.columns} for t in cp.project.sources.values()]
    shared = set.intersection(*declared) if declared else set()
    candidates = list(dict.fromkeys(
        key[0] for name in cp.graph.order()
        if cp.models[name].config.materialized in TABLE_LIKE
        and len(key := mart_key(cp, name)) == 1 and key[0] in shared
    ))
    if len(candidates) != 1:
        found = f" ({', '.join(candidates)})" if candidates else ""
        raise RunnerError(
            f"cannot tell which column identifies a user{found}",
            hint="name it with --key, e.g. --key user_id",
        )
    return candidates[0]


def token_pattern(value: str) -> str:
    """A Java/Python regex: `value` alone or as a whole token of a longer text.

    Example:
        >>> [bool(re.search(token_pattern("MLB12"), s)) for s in ("MLB12-1", " MLB12", "MLB123")]
        [True, True, False]
    """
    return rf"(^|[^0-9A-Za-z]){re.escape(value)}([^0-9A-Za-z]|$)"


def explain_user(
    cp: CompiledProject, spark: SparkSession, value: str, *, key: str | None = None,
    limit: int = 5,
) -> Explanation:
    """Find every row of `value` in the sources and the selected models, and decide a verdict.

    Each source is read once and cut down to the rows that mention `value`; the staging and
    intermediate models then run on those rows only, so a look-up takes seconds at any data
    size. That is exact for models that work per user, as this project's do (windows and
    groups by user_id), not for one that compares users with each other (a rank over all
    users). Table-like models are read from their last build's Parquet copy when there is one.

    Args:
        cp: the compiled project (its selection says which models to look in).
        spark: the session.
        value: the id to look for.
        key: the column; default `default_key(cp)`.
        limit: rows shown per model (all are counted, up to MAX_ROWS).
    """
    key = key or default_key(cp)
    names = cp.graph.order(set(cp.selected))
    sources = []
    for table in sorted(cp.project.sources.values(), key=lambda t: (t.source_name, t.name)):
        view = register_source(spark, cp.project, table, cp.vars)
        query = _query(spark.table(view), key, f"{table.source_name}.{table.name}", "source",
                       table.yaml_path.as_posix() if table.yaml_path else "")
        if query is not None:
            sources.append((view, query))
    with ThreadPoolExecutor(max_workers=cp.target.threads) as pool:
        source_rows = list(pool.map(lambda vq: _run(cp, vq[1], value, SOURCE_ROWS), sources))
    for (view, query), rows in zip(sources, source_rows, strict=True):
        if len(rows) > SOURCE_ROWS:
            raise RunnerError(
                f"{value!r} matches more than {SOURCE_ROWS:,} rows of {query.name}",
                hint=f"give one id; --key names the column to look in (now {key})",
            )
        spark.createDataFrame(rows, query.df.schema).createOrReplaceTempView(view)
    computed = _register_models(cp, spark, names)
    queries: list[_Query] = []
    without: list[str] = []
    for name in names:
        model = cp.models[name]
        query = _query(spark.table(name), key, name, model.config.materialized,
                       model.path.as_posix(), model.refs)
        if query is None:
            without.append(name)
        else:
            queries.append(query)
    match = re.compile(token_pattern(value), re.IGNORECASE)
    on_spark = [q for q in queries if q.name not in computed]
    with ThreadPoolExecutor(max_workers=cp.target.threads) as pool:
        read = dict(zip([q.name for q in on_spark],
                        pool.map(lambda q: _run(cp, q, value, MAX_ROWS), on_spark), strict=True))
    model_rows = [read[q.name] if q.name in read
                  else [r for r in computed[q.name] if _matches(q, r, match)] for q in queries]
    nodes = [_node_rows(q, rows, limit) for (_, q), rows in zip(sources, source_rows, strict=True)]
    nodes += [_node_rows(q, rows, limit) for q, rows in zip(queries, model_rows, strict=True)]
    user_marts = tuple(n for n in names if cp.models[n].config.materialized in TABLE_LIKE
                       and mart_key(cp, n) == (key,))
    flags = {n: flag_columns(cp.project.target_layout.marts / n) for n in user_marts}
    explanation = Explanation(key, value, tuple(nodes), tuple(without), user_marts=user_marts)
    filters = {n: filter_columns(cp.models[n].sql) for n in names}
    verdict = decide_verdict(explanation, cp.graph.order(), flags, filters)
    return replace(explanation, verdict=verdict)


def decide_verdict(
    ex: Explanation,
    order: list[str],
    flags: dict[str, set[str]] | None = None,
    filters: dict[str, tuple[str, ...]] | None = None,
) -> str:
    """One line: in which mart the user is (with its dimensions and flags), or why not.

    The first reason that applies: a row in a mart of one row per key; no row anywhere; every
    row of a staging model quarantined; else the model that dropped the user (it reads models
    that have the user, and has no row of it), naming the columns of its WHERE clauses
    (`filters`) that are false for the user.

    Args:
        ex: the rows found.
        order: every model in build order.
        flags: per user-level mart, its 0/1 columns (`flag_columns`).
        filters: per model, the columns its WHERE clauses read (`filter_columns`).
    """
    flags = flags or {}
    filters = filters or {}
    by_name = {n.name: n for n in ex.nodes}
    present = {n.name for n in ex.nodes if n.total}
    for mart in ex.user_marts:
        if mart in present:
            return f"in {mart}: {_describe_row(by_name[mart], ex.key, flags.get(mart, set()))}"
    if not present:
        return f"not found: no source or model has a row with {ex.key} {ex.value}"
    quarantined = [
        f"every {n.name} row quarantined ({', '.join(dict.fromkeys(n.quarantine))})"
        for n in ex.nodes if n.total and len(n.quarantine) == n.total
    ]
    if quarantined:
        return "excluded: " + "; ".join(quarantined)
    position = {n: i for i, n in enumerate(order)}
    frontier = [n for n in ex.nodes if not n.total and n.name in position
                and any(r in present for r in n.refs)]
    if not frontier:
        last = [n.name for n in ex.nodes if n.total][-1]
        return f"excluded: last seen in {last}"
    drop = max(frontier, key=lambda n: position[n.name])
    has = [by_name[r] for r in drop.refs if r in present]
    failed = [f"{column} is {value} in {node.name}" for node in has
              for column, value in _failed_filters(node, filters.get(drop.name, ()))]
    if failed:
        return f"excluded at {drop.name}: {'; '.join(failed)}"
    lacks = [r for r in drop.refs if r in by_name and r not in present]
    text = f"excluded at {drop.name}: it reads {', '.join(n.name for n in has)} (which have "
    text += "the user) but returns no row"
    if lacks:
        text += f"; no row in {', '.join(lacks)}"
    return text


def filter_columns(sql: str) -> tuple[str, ...]:
    """The columns a query's WHERE and HAVING clauses read, in order.

    Example:
        >>> filter_columns("select * from a join b on a.k = b.k where a.ok and b.n > 0")
        ('ok', 'n')
    """
    try:
        tree = sqlglot.parse_one(sql, read=DIALECT)
    except sqlglot.errors.SqlglotError:
        return ()
    clauses = [*tree.find_all(exp.Where), *tree.find_all(exp.Having)]
    return tuple(dict.fromkeys(c.name for clause in clauses for c in clause.find_all(exp.Column)))


def _failed_filters(node: NodeRows, columns: Iterable[str]) -> list[tuple[str, str]]:
    """Filter columns that are false, 0 or null in every row `node` has of the user."""
    out = []
    for column in columns:
        if column not in node.rows.columns or not node.rows.rows:
            continue
        at = node.rows.columns.index(column)
        values = {row[at] for row in node.rows.rows}
        if len(values) == 1 and next(iter(values)) in (False, None, 0):
            out.append((column, format_cell(next(iter(values)))))
    return out


def flag_columns(folder: Path) -> set[str]:
    """Integer columns of a Parquet copy whose every value is 0 or 1 (footer statistics only)."""
    bounds: dict[str, tuple[int, int]] = {}
    missing: set[str] = set()
    for part in sorted(folder.glob("part-*.parquet")):
        meta = pq.read_metadata(part)
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            for c in range(group.num_columns):
                column = group.column(c)
                name = column.path_in_schema
                stats = column.statistics
                if stats is None or not stats.has_min_max or not all(
                    type(v) is int for v in (stats.min, stats.max)  # dates are INT32 too
                ):
                    missing.add(name)
                    continue
                low, high = bounds.get(name, (stats.min, stats.max))
                bounds[name] = (min(low, stats.min), max(high, stats.max))
    return {n for n, (low, high) in bounds.items() if n not in missing and low >= 0 and high <= 1}


def to_json(ex: Explanation) -> dict[str, Any]:
    """The `--output json` document of `runner explain-user`."""
    return {
        "key": ex.key,
        "value": ex.value,
        "verdict": ex.verdict,
        "nodes": [
            {"name": n.name, "kind": n.kind, "path": n.path, "matched_on": n.matched_on,
             "rows_found": n.total, "quarantine_reasons": list(n.quarantine),
             "columns": list(n.rows.columns),
             "rows": [dict(zip(n.rows.columns, jsonable(list(r)), strict=True))
                      for r in n.rows.rows]}
            for n in ex.nodes
        ],
        "models_without_key": list(ex.without_key),
    }


# -- helpers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Query:
    """The rows of one source or model to read: those whose `columns` (or whose `entry` of the
    map column `columns[0]`) hold the value."""

    name: str
    kind: str
    path: str
    df: DataFrame
    columns: tuple[str, ...]
    entry: str | None = None
    refs: tuple[str, ...] = ()

    @property
    def matched_on(self) -> str:
        return f"{self.columns[0]}['{self.entry}']" if self.entry else self.columns[0]


def _query(
    df: DataFrame, key: str, name: str, kind: str, path: str, refs: tuple[str, ...] = ()
) -> _Query | None:
    """Look in `df`'s key column (and a source's unparsed record), else in the `key` entry of a
    string-keyed map; None when it has neither."""
    from pyspark.sql.types import MapType, StringType

    fields = {f.name: f.dataType for f in df.schema.fields}
    if key in fields:
        columns = (key, CORRUPT_COLUMN) if kind == "source" and CORRUPT_COLUMN in fields else (key,)
        return _Query(name, kind, path, df, columns, refs=refs)
    for column, type_ in fields.items():
        if isinstance(type_, MapType) and isinstance(type_.keyType, StringType):
            return _Query(name, kind, path, df, (column,), entry=key, refs=refs)
    return None


def _condition(query: _Query, value: str) -> Column:
    from pyspark.sql import functions as F

    pattern = "(?i)" + token_pattern(value)
    if query.entry is not None:
        return F.element_at(F.col(f"`{query.columns[0]}`"), F.lit(query.entry)).cast(
            "string").rlike(pattern)
    conditions = [F.col(f"`{c}`").cast("string").rlike(pattern) for c in query.columns]
    return functools.reduce(operator.or_, conditions)


def _matches(query: _Query, row: Any, match: re.Pattern[str]) -> bool:
    """`_condition` on a collected row (a Spark cast to string and Python's str agree on the
    types keys have: strings, integers, dates)."""
    if query.entry is not None:
        mapping = row[query.columns[0]]
        values = [mapping.get(query.entry) if mapping else None]
    else:
        values = [row[c] for c in query.columns]
    return any(v is not None and match.search(str(v)) for v in values)


def _register_models(
    cp: CompiledProject, spark: SparkSession, names: list[str]
) -> dict[str, list[Any]]:
    """Every model `names` need, as a temp view over the cut-down sources, computed once.

    A model is collected and registered as its rows, so the next one plans over small local
    rows rather than the whole inlined chain of views (on a loaded 2-core machine,
    int_user_metrics took 520 s over its parents' inlined plans, 9 s over their rows).
    Table-like models with a last build are read from their Parquet copy; a model with more
    rows than any user has stays a lazy view. Models of one depth in the graph run at once.
    (`runner.build.register_inputs` would register the full sources.)

    Returns:
        The rows of each model computed here, to look the value up in without Spark.
    """
    needed = set(names)
    for name in names:
        needed |= cp.graph.ancestors(name)
    marts_dir = cp.project.target_layout.marts
    computed: dict[str, list[Any]] = {}

    def register(name: str) -> None:
        model = cp.models[name]
        if model.config.materialized in TABLE_LIKE and register_existing(spark, name, marts_dir):
            return
        raw = cp.project.models[name].raw_sql
        df = run_sql(spark, model, raw)
        try:
            rows = df.limit(SOURCE_ROWS + 1).collect()
        except Exception as exc:  # noqa: BLE001 - Py4J and runtime errors of the Spark job
            raise to_execution_error(exc, model, raw) from exc
        if len(rows) <= SOURCE_ROWS:
            computed[name] = rows
            df = spark.createDataFrame(rows, df.schema)
        df.createOrReplaceTempView(name)

    depth: dict[str, int] = {}
    for name in cp.graph.order(needed):
        depth[name] = 1 + max((depth[r] for r in cp.models[name].refs if r in depth), default=0)
    with ThreadPoolExecutor(max_workers=cp.target.threads) as pool:
        for level in sorted(set(depth.values())):
            list(pool.map(register, [n for n in depth if depth[n] == level]))
    return computed


def _run(cp: CompiledProject, query: _Query, value: str, cap: int) -> list[Any]:
    """The rows of `query` holding `value`, at most `cap` + 1 (one more tells there are more)."""
    try:
        return query.df.where(_condition(query, value)).limit(cap + 1).collect()
    except Exception as exc:  # noqa: BLE001 - Py4J and runtime errors of the Spark job
        if query.name in cp.models:
            model = cp.models[query.name]
            raise to_execution_error(exc, model, cp.project.models[query.name].raw_sql) from exc
        first = spark_error_line(exc)
        raise ExecutionError(f"Spark error reading source {query.name}: {first}") from exc


def _node_rows(query: _Query, rows: list[Any], limit: int) -> NodeRows:
    from pyspark.sql import Row

    fields = query.df.schema.fields
    columns = tuple(f.name for f in fields)
    rows = rows[:MAX_ROWS]
    reasons: tuple[str, ...] = ()
    if QUARANTINE_COLUMN in columns:
        at = columns.index(QUARANTINE_COLUMN)
        reasons = tuple(str(r[at]) for r in rows if r[at] is not None)
    shown = Preview(
        title=query.name, columns=columns,
        types=tuple(f.dataType.simpleString() for f in fields),
        rows=tuple(tuple(to_python(v, Row) for v in r) for r in rows[:limit]),
        more=len(rows) > limit,
    )
    return NodeRows(query.name, query.kind, query.path, query.matched_on, shown, len(rows),
                    reasons, query.refs)


def _describe_row(node: NodeRows, key: str, flags: set[str]) -> str:
    """The dimensions (strings, booleans) and 0/1 flags of a user's mart row."""
    row = node.rows.rows[0]
    parts = []
    for column, type_, value in zip(node.rows.columns, node.rows.types, row, strict=True):
        if column == key:
            continue
        if type_ in ("string", "boolean"):
            parts.append(f"{column} {format_cell(value)}")
        elif column in flags and value is not None:
            parts.append(f"{column} {format_cell(bool(value))}")
    return ", ".join(parts) or f"{node.total} row(s)"
