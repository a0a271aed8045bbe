"""Register raw CSV sources as Spark temp views, every declared column read as STRING.

Reading as strings keeps every value the file holds; staging models cast to the declared types
and quarantine what does not parse, with a reason, instead of letting the reader null it.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from runner.errors import DataSourceError, Location
from runner.project import Project, SourceTable
from runner.templating import source_view_name

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

CORRUPT_COLUMN = "_corrupt_record"
MULTILINE_MAX_BYTES = 8 * 2**20  # smaller files are one or two splits: not worth a scan


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


def check_header(path: Path, table: SourceTable) -> None:
    """The file's header must list the declared columns (the first, unnamed one excepted)."""
    if not path.exists():
        raise DataSourceError(
            f"raw file not found: {path}",
            location=Location(table.yaml_path or "sources.yml"),
            hint="set the data folder with --vars '{raw_dir: /path/to/data}'",
        )
    with path.open(newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh), [])
    declared = [c.name for c in table.columns]
    if len(header) != len(declared):
        raise DataSourceError(
            f"{table.source_name}.{table.name}: header has {len(header)} fields, "
            f"{len(declared)} are declared ({', '.join(declared)})",
            location=Location(path, 1, 1),
            hint=f"fix the columns of {table.name} in {table.yaml_path}",
        )


def needs_multiline(path: Path) -> bool:
    """Whether `path` must be read in Spark's multiLine CSV mode, which parses a file in one task.

    Line mode splits a large file across cores, and gives the same rows when no record spans
    lines and no line is told apart differently: multiLine keeps a line of spaces as a row and
    treats a stray CR differently. So only a large file with no double quote, no CR and no line
    starting with a space or tab is read line by line.

    Args:
        path: the CSV file.

    Returns:
        False only for such a file.
    """
    if path.stat().st_size < MULTILINE_MAX_BYTES:
        return True
    return contains_any(path, (b'"', b"\r", b"\n ", b"\n\t"))


def contains_any(path: Path, markers: tuple[bytes, ...], block: int = 8 * 2**20) -> bool:
    """Whether the file holds any of `markers` (at most 2 bytes each), read block by block.

    Plain reads, not a memory map: mapping a 1 GB file makes all of it count as the runner's
    resident memory.
    """
    tail = b""
    with path.open("rb") as fh:
        while chunk := fh.read(block):
            data = tail + chunk
            if any(marker in data for marker in markers):
                return True
            tail = data[-1:]
    return False


def register_source(
    spark: SparkSession, project: Project, table: SourceTable, vars: dict[str, Any]
) -> str:
    """Read one CSV source with Spark and register it as a temp view; returns the view name."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    path = source_file(project, table, vars)
    check_header(path, table)
    schema = StructType(
        [StructField(c.name, StringType()) for c in table.columns]
        + [StructField(CORRUPT_COLUMN, StringType())]
    )
    df = (
        spark.read.schema(schema)
        .option("header", True)
        .option("multiLine", needs_multiline(path))
        .option("quote", '"')
        .option("escape", '"')
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
        .option("enforceSchema", True)
        .csv(str(path))
        .withColumn("_file", F.input_file_name())
    )
    name = source_view_name(table.source_name, table.name)
    df.createOrReplaceTempView(name)
    return name
