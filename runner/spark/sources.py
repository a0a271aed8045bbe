"""Register raw CSV sources as Spark temp views, every declared column read as STRING.

Reading as strings keeps every value the file holds; staging models cast to the declared types
and quarantine what does not parse, with a reason, instead of letting the reader null it.

The header is matched to the declared columns by name, in any order. Before Spark reads a
file, `runner.spark.csv_scan` finds its records and their lines; a malformed record (a stray
quote, say) is cut out of what Spark reads and added back as one row holding its raw text, so
it costs its own lines only. Every row of the view knows the line its record starts on.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from runner.errors import DataSourceError, Location
from runner.paths import prepare_write, resolve_inside
from runner.project import Project, SourceTable, normalize_name
from runner.spark.csv_scan import CsvFormatError, CsvScan, Malformed, read_header, scan_records
from runner.spark.line_runs import line_expression, record_lines
from runner.templating import source_view_name

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

CORRUPT_COLUMN = "_corrupt_record"
LINE_COLUMN = "_line"
FILE_COLUMN = "_file"
RECORDS_COLUMN = "_file_records"
MAX_LINE_RUNS = 64  # more runs: the lines are joined from a lookup table, not one CASE
MAX_RAW_BYTES = 8192  # of a malformed record's text kept in the view
_UNNAMED = re.compile(r"unnamed: (\d+)")


def source_file(project: Project, table: SourceTable, vars: dict[str, Any]) -> Path:
    """Where a source table's file is, after rendering `{{ var('raw_dir') }}` in its path."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    merged = {**project.config.vars, **vars}
    try:
        folder = env.from_string(table.path_template).render(
            var=lambda name, default=None: merged.get(name, default)
        )
    except jinja2.TemplateError as exc:
        raise DataSourceError(
            f"cannot render path of source {table.source_name}.{table.name}: {exc}",
            location=Location(table.yaml_path or "sources.yml"),
        ) from exc
    path = Path(folder)
    if not path.is_absolute():
        path = project.dir / path
    return path / table.file


def input_bytes(project: Project, vars: dict[str, Any]) -> int:
    """Total size of the project's raw source files (missing ones count 0)."""
    total = 0
    for table in project.sources.values():
        path = source_file(project, table, vars)
        total += path.stat().st_size if path.is_file() else 0
    return total


def header_columns(names: tuple[str, ...] | list[str]) -> list[str]:
    """Header field names as column names: a first unnamed field is the pandas index
    `row_index`, `Unnamed: N` is `unnamed_N`, the rest is normalized.

    Example:
        >>> header_columns(["", "Unnamed: 0", " User_ID "])
        ['row_index', 'unnamed_0', 'user_id']
    """
    columns = []
    for position, raw in enumerate(names):
        name = normalize_name(raw)
        unnamed = _UNNAMED.fullmatch(name)
        if position == 0 and not name:
            name = "row_index"
        elif unnamed:
            name = f"unnamed_{unnamed[1]}"
        columns.append(name)
    return columns


def match_header(names: tuple[str, ...], table: SourceTable, path: Path) -> list[str]:
    """The declared columns in the order the file's header lists them.

    Raises:
        DataSourceError: a declared column is missing from the header, the header has a
            column that is not declared, or names one twice.
    """
    found = header_columns(names)
    declared = [c.name for c in table.columns]
    twice = sorted({name for name in found if found.count(name) > 1})
    missing = [name for name in declared if name not in found]
    unknown = [name or f"(no name, field {found.index(name) + 1})" for name in found
               if name not in declared]
    if not (twice or missing or unknown):
        return found
    problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
        [f"not declared {', '.join(unknown)}"] if unknown else []) + (
        [f"named twice {', '.join(twice)}"] if twice else [])
    raise DataSourceError(
        f"{table.source_name}.{table.name}: the header does not match the declared columns "
        f"({'; '.join(problems)}). Declared: {', '.join(declared)}. "
        f"Header: {', '.join(repr(n) for n in names)}",
        location=Location(path, 1, 1),
        hint=f"fix the file's header or the columns of {table.name} in "
             f"{table.yaml_path or 'sources.yml'}",
    )


def scan_source(path: Path, table: SourceTable) -> tuple[list[str], CsvScan]:
    """Check the file's header against `table` and find its records.

    Returns:
        The declared columns in file order, and the scan.

    Raises:
        DataSourceError: the file is missing, its header unreadable or not the declared
            columns, or none of its records is well formed.
    """
    location = Location(table.yaml_path or "sources.yml")
    if not path.is_file():
        raise DataSourceError(
            f"raw file not found: {path}", location=location,
            hint="set the data folder with --vars '{raw_dir: /path/to/data}'",
        )
    try:
        header = read_header(path)
    except CsvFormatError as exc:
        raise DataSourceError(f"{table.source_name}.{table.name}: {exc}",
                              location=Location(path, 1)) from exc
    order = match_header(header.names, table, path)
    scan = scan_records(path, header)
    if scan.malformed and not scan.records:
        first = scan.malformed[0]
        raise DataSourceError(
            f"{table.source_name}.{table.name}: no record is well-formed CSV with {len(order)} "
            f"comma-separated fields (lines {first.line}-{scan.malformed[-1].end_line})",
            location=Location(path, first.line),
            hint="check the file's delimiter (a comma), quoting and encoding (UTF-8)",
        )
    return order, scan


def register_source(
    spark: SparkSession, project: Project, table: SourceTable, vars: dict[str, Any]
) -> str:
    """Read one CSV source with Spark and register it as a temp view; returns the view name.

    The view has the declared columns (STRING), `_corrupt_record` (the raw text of a record
    that could not be split into them), `_line` (the line its record starts on), `_file` and
    `_file_records` (records in the file: every row of the view is one).
    """
    from pyspark.sql import functions as F

    path = source_file(project, table, vars)
    order, scan = scan_source(path, table)
    name = source_view_name(table.source_name, table.name)
    work = project.target_layout.sources
    read_path = path
    if scan.malformed:
        read_path = write_good_records(path, scan, prepare_write(work / f"{name}.csv", work))
    df = _read_csv(spark, read_path, order)
    df = df.withColumn("_ord", F.monotonically_increasing_id())
    lines = resolve_inside(work / f"{name}.lines.parquet", [work])
    df = _with_lines(spark, df, scan, path, lines).drop("_ord")
    columns = [c.name for c in table.columns] + [CORRUPT_COLUMN, LINE_COLUMN]
    df = df.select(*columns, *_file_columns(path, scan))
    if scan.malformed:
        df = df.unionByName(_malformed_rows(spark, path, scan, table, columns))
    df.createOrReplaceTempView(name)
    return name


def _read_csv(spark: SparkSession, path: Path, order: list[str]) -> DataFrame:
    """Spark's CSV reader with a schema in the file's column order (it reads by position).

    Always multiLine: the file is one partition, read in order, so a row's ordinal is its
    record's (measured: no more JVM CPU than line mode on 100x data).
    """
    from pyspark.sql.types import StringType, StructField, StructType

    schema = StructType([StructField(c, StringType()) for c in [*order, CORRUPT_COLUMN]])
    return (
        spark.read.schema(schema)
        .option("header", True)
        .option("multiLine", True)
        .option("quote", '"')
        .option("escape", '"')
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
        .option("enforceSchema", True)
        .csv(str(path))
    )


def _with_lines(
    spark: SparkSession, df: DataFrame, scan: CsvScan, path: Path, lookup: Path
) -> DataFrame:
    """`df` with `_line`, from its rows' ordinals `_ord` and the scan's line runs."""
    from pyspark.sql import functions as F

    if len(scan.runs) <= MAX_LINE_RUNS:
        name = re.sub(r"[^\w. -]", "_", path.name)
        overflow = f"raise_error('{name}: Spark read more records than the scan found')"
        return df.withColumn(LINE_COLUMN, F.expr(line_expression(scan.runs, "_ord", overflow)))
    import pyarrow as pa  # only for files whose record heights vary
    import pyarrow.parquet as pq

    lookup.parent.mkdir(parents=True, exist_ok=True)
    lines = record_lines(scan.runs, scan.records)
    pq.write_table(pa.table({"_ord": range(len(lines)), LINE_COLUMN: lines}), lookup)
    return df.join(F.broadcast(spark.read.parquet(str(lookup))), "_ord", "left")


def _file_columns(path: Path, scan: CsvScan) -> list[Column]:
    from pyspark.sql import functions as F

    return [F.lit(path.resolve().as_uri()).alias(FILE_COLUMN),
            F.lit(scan.total).cast("bigint").alias(RECORDS_COLUMN)]


def _malformed_rows(
    spark: SparkSession, path: Path, scan: CsvScan, table: SourceTable, columns: list[str]
) -> DataFrame:
    """One row per malformed record: no values, its raw text and first line."""
    from pyspark.sql import functions as F

    rows = [(raw_text(path, m, scan.header.dialect.newline), m.line) for m in scan.malformed]
    df = spark.createDataFrame(rows, f"{CORRUPT_COLUMN} string, {LINE_COLUMN} bigint")
    values = [F.lit(None).cast("string").alias(c.name) for c in table.columns]
    return df.select(*values, CORRUPT_COLUMN, LINE_COLUMN, *_file_columns(path, scan)).select(
        *columns, FILE_COLUMN, RECORDS_COLUMN)


def raw_text(path: Path, record: Malformed, newline: bytes) -> str:
    """A malformed record's text without its last line break; the first `MAX_RAW_BYTES` of it."""
    size = record.end - record.start
    with path.open("rb") as fh:
        fh.seek(record.start)
        data = fh.read(min(size, MAX_RAW_BYTES))
    text = data.decode("utf-8", errors="replace")
    if size > MAX_RAW_BYTES:
        return f"{text}... ({size} bytes in all, lines {record.line}-{record.end_line})"
    return text.removesuffix(newline.decode()).removesuffix("\r")


def write_good_records(path: Path, scan: CsvScan, out: Path) -> Path:
    """A copy of `path` without its malformed records (blocks of bytes between them)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with path.open("rb") as src, out.open("wb") as dst:
        position = 0
        for record in scan.malformed:
            _copy(src, dst, position, record.start)
            position = record.end
        _copy(src, dst, position, None)
    return out


def _copy(src: Any, dst: Any, start: int, end: int | None, block: int = 8 * 2**20) -> None:
    src.seek(start)
    left = None if end is None else end - start
    while left is None or left > 0:
        chunk = src.read(block if left is None else min(block, left))
        if not chunk:
            return
        dst.write(chunk)
        if left is not None:
            left -= len(chunk)
