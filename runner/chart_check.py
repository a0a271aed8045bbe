"""Charts are part of the graph: `dashboards/` datasets and charts against the marts' columns.

`runner compile` reads the dashboard definitions (each chart must name columns and metrics of its
dataset) and checks every dataset against the columns its mart's compiled SQL selects (inferred
with sqlglot, no Spark): a renamed or dropped mart column is an error at the YAML line that
still names it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from runner.cassandra import build_info
from runner.config import SupersetTarget, Target
from runner.errors import ConfigError, Location
from runner.lineage import expression_columns, infer_columns
from runner.project import Project, SourceTable
from runner.superset.definitions import (
    BigNumberChart,
    Chart,
    DatasetDef,
    Definitions,
    SeriesChart,
    load_definitions,
)
from runner.templating import CompiledModel, source_view_name
from runner.yaml_files import find_line, load_yaml

DATASETS_FILE = "datasets.yml"
# Tables the runner writes itself, not models (runner/publish.py record_build).
RUNNER_TABLES: dict[str, tuple[str, ...]] = {build_info.BUILD_INFO: tuple(build_info.COLUMNS)}
# Columns the runner adds to every source view (runner/spark/sources.py).
SOURCE_EXTRA_COLUMNS = ("_corrupt_record", "_file")


@dataclass(frozen=True)
class ChartRef:
    """One chart of one dashboard file."""

    key: str
    dashboard: str  # the dashboard's slug
    path: Path  # its YAML file, relative to the project
    chart: Chart
    dataset: DatasetDef

    @property
    def name(self) -> str:
        return f"{self.dashboard}.{self.key}"


def source_columns(sources: Mapping[tuple[str, str], SourceTable]) -> dict[str, list[str]]:
    """The columns of every source view, by the view name the compiled SQL uses."""
    return {
        source_view_name(*key): [c.name for c in src.columns] + list(SOURCE_EXTRA_COLUMNS)
        for key, src in sources.items()
    }


def load_dashboards(project: Project, target: Target) -> list[tuple[Path, Definitions]]:
    """The definitions of every dashboards folder of the project (checked chart -> dataset)."""
    sup = target.superset or SupersetTarget()
    variables = {"database_name": sup.database_name, "thrift_host": sup.thrift_host,
                 "thrift_port": sup.thrift_port,
                 "keyspace": target.cassandra.keyspace if target.cassandra else ""}
    out = []
    for folder in project.config.dashboard_paths:
        path = project.dir / folder
        if path.is_dir():
            out.append((path, load_definitions(path, variables, project_dir=project.dir)))
    return out


def charts(project: Project, defs: Iterable[tuple[Path, Definitions]]) -> list[ChartRef]:
    """Every chart, with the dataset it reads, in file and key order."""
    out = []
    for _, d in defs:
        for path, dash in d.dashboards.items():
            rel = path.resolve().relative_to(project.dir.resolve())
            for key, chart in dash.charts.items():
                out.append(ChartRef(key, dash.slug, rel, chart, d.datasets[chart.dataset]))
    return out


def charts_reading(project: Project, target: Target, models: Iterable[str]) -> list[ChartRef]:
    """The charts whose dataset reads one of `models`, in file and key order."""
    wanted = set(models)
    refs = charts(project, load_dashboards(project, target))
    return [r for r in refs if r.dataset.mart in wanted]


def chart_fields(chart: Chart) -> list[tuple[str, str, str]]:
    """(field, name, kind) of every dataset column or metric a chart names; kind is
    'column', 'metric' or 'either' (order_by and formats may name both)."""
    if isinstance(chart, BigNumberChart):
        return [("metric", chart.metric, "metric")]
    if isinstance(chart, SeriesChart):
        return [("x", chart.x, "column"), *[("metrics", m, "metric") for m in chart.metrics],
                *[("groupby", g, "column") for g in chart.groupby]]
    return [*[("columns", c, "column") for c in chart.columns or []],
            *[("groupby", g, "column") for g in chart.groupby],
            *[("metrics", m, "metric") for m in chart.metrics],
            *[("order_by", o.split()[0], "either") for o in chart.order_by],
            *[("formats", f, "either") for f in chart.formats]]


def dataset_inputs(dataset: DatasetDef) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """The mart columns each dataset column and each metric reads: (columns, metrics)."""
    columns = {
        c.name: expression_columns(c.expression) if c.expression else {c.name}
        for c in dataset.columns
    }
    metrics = {
        m.name: set().union(*(columns.get(n, {n}) for n in expression_columns(m.expression)))
        for m in dataset.metrics
    }
    return columns, metrics


def chart_reads(ref: ChartRef) -> set[str]:
    """The mart columns a chart reads, through its dataset's columns and metrics."""
    columns, metrics = dataset_inputs(ref.dataset)
    out: set[str] = set()
    for _, name, kind in chart_fields(ref.chart):
        is_metric = kind == "metric" or (kind == "either" and name not in columns)
        out |= (metrics if is_metric else columns).get(name, set())
    return out


def check_dashboards(
    project: Project, compiled: Mapping[str, CompiledModel], target: Target
) -> list[ChartRef]:
    """Check every chart and dataset against the marts' columns; returns the charts.

    Raises:
        ConfigError: at the YAML file and line of the first name that does not exist.
    """
    loaded = load_dashboards(project, target)
    marts = {ds.mart for _, d in loaded for ds in d.datasets.values()}
    models = {n: m.sql for n, m in compiled.items()}
    known = infer_columns(models, source_columns(project.sources), sorted(marts & set(models)))
    known.update(RUNNER_TABLES)
    refs = charts(project, loaded)
    for folder, d in loaded:
        _check_datasets(project, folder / DATASETS_FILE, d, known, refs)
    return refs


def _check_datasets(
    project: Project,
    path: Path,
    defs: Definitions,
    known: Mapping[str, tuple[str, ...] | None],
    refs: list[ChartRef],
) -> None:
    rel = path.resolve().relative_to(project.dir.resolve())
    data = load_yaml(path, display=rel)
    text = path.read_text()
    for i, ds in enumerate(defs.datasets.values()):
        if ds.mart not in known:
            close = difflib.get_close_matches(ds.mart, list(known), n=1)
            raise ConfigError(
                f"dataset '{ds.name}' reads mart '{ds.mart}', which is not a model",
                location=Location(rel, find_line(data, "datasets", i, "mart")),
                source=text,
                hint=f"did you mean '{close[0]}'?" if close else "name a model of models/",
            )
        mart_columns = known[ds.mart]
        if mart_columns is None:  # its SQL could not be read; `runner compile` reports that
            continue
        for j, col in enumerate(ds.columns):
            reads = expression_columns(col.expression) if col.expression else {col.name}
            for name in sorted(reads - set(mart_columns)):
                users = [r.name for r in refs
                         if r.dataset.name == ds.name and name in chart_reads(r)]
                line = find_line(data, "datasets", i, "columns", j)
                at = Location(rel, line, _column_of(text, line, col.name))
                raise _missing(at, text, name, ds, mart_columns, users)
        names = {c.name for c in ds.columns}
        for k, metric in enumerate(ds.metrics):
            for name in sorted(expression_columns(metric.expression) - names):
                raise ConfigError(
                    f"metric '{metric.name}' of dataset '{ds.name}' reads column '{name}', "
                    "which the dataset does not list",
                    location=Location(rel, find_line(data, "datasets", i, "metrics", k)),
                    source=text,
                    hint=f"add it to the dataset's columns or use: {', '.join(sorted(names))}",
                )


def _column_of(text: str, line: int | None, name: str) -> int | None:
    """The 1-based column of the word `name` in a line of `text`, if it is there.

    Example:
        >>> _column_of("a\\ncolumns: [user_id, users]", 2, "users")
        20
    """
    lines = text.splitlines()
    if line is None or not 0 < line <= len(lines):
        return None
    match = re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", lines[line - 1])
    return match.start() + 1 if match else None


def _missing(
    location: Location,
    text: str,
    name: str,
    ds: DatasetDef,
    mart_columns: tuple[str, ...],
    users: list[str],
) -> ConfigError:
    close = difflib.get_close_matches(name, mart_columns, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    hint += f"model {ds.mart} selects: {', '.join(mart_columns)}"
    if users:
        hint += f"; charts using it: {', '.join(users)}"
    return ConfigError(
        f"dataset '{ds.name}' names column '{name}', which model {ds.mart} does not select",
        location=location,
        source=text,
        hint=hint,
    )
