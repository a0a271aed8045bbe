"""The typed dashboards-as-code definitions: `dashboards/*.yml` read into pydantic models.

`database.yml` is the Superset database (rendered with Jinja first: `{{ thrift_host }}` ...),
`datasets.yml` the virtual datasets, every other `*.yml` one dashboard (charts, filters,
layout). Every mistake, from a YAML syntax error to a chart naming a metric no dataset defines,
is one ConfigError naming the file, the line and the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import jinja2
import pydantic
from pydantic import BaseModel, ConfigDict, Field

from runner.errors import ConfigError, Location
from runner.yaml_files import YamlList, YamlMap, parse_yaml

FIXED_FILES = ("database.yml", "datasets.yml")
GRID_COLUMNS = 12
Loc = tuple[str | int, ...]


class _Def(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseDef(_Def):
    """The Superset database every dataset queries (fields as in Superset's database API)."""

    name: str = Field(description="Superset database name (the target's superset.database_name)")
    sqlalchemy_uri: str = Field(description="hive://... URI of the Spark Thrift Server")
    expose_in_sqllab: bool = Field(True, description="Show the database in SQL Lab")
    allow_run_async: bool = Field(False, description="Run SQL Lab queries in Celery workers")
    allow_dml: bool = Field(False, description="Allow INSERT/UPDATE/DELETE from SQL Lab")
    allow_csv_upload: bool = Field(False, description="Allow CSV uploads into this database")


class ColumnDef(_Def):
    """A dataset column: a mart column, or an `expression` computed in Spark SQL."""

    name: str = Field(description="Column name in Superset")
    expression: str | None = Field(None, description="Spark SQL computing the column")
    description: str | None = Field(None, description="Else the model's YAML docs")
    verbose_name: str | None = Field(None, description="Label shown in charts")
    is_dttm: bool | None = Field(
        None, description="A time column (time grains, time filter); else as Superset detects"
    )


class MetricDef(_Def):
    """A named aggregate charts refer to."""

    name: str = Field(description="Metric name; charts use it")
    expression: str = Field(description="Spark SQL aggregate, e.g. AVG(activation)")
    format: str | None = Field(None, description='d3 number format, e.g. ".1%"')
    description: str | None = None
    verbose_name: str | None = None


class DatasetDef(_Def):
    """One virtual dataset: its columns read from `cass.<keyspace>.<mart>`."""

    name: str = Field(description="Dataset name; charts refer to it")
    mart: str = Field(description="The Cassandra table (a mart) in the target's keyspace")
    description: str | None = None
    columns: list[ColumnDef] = Field(min_length=1, description="Names or {name, expression, ..}")
    metrics: list[MetricDef] = Field(default_factory=list)

    @pydantic.field_validator("columns", mode="before")
    @classmethod
    def _names_to_columns(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @pydantic.model_validator(mode="after")
    def _unique_names(self) -> DatasetDef:
        for kind, names in (("column", [c.name for c in self.columns]),
                            ("metric", [m.name for m in self.metrics])):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{kind} {', '.join(dupes)} defined twice")
        return self


class DatasetsFile(_Def):
    datasets: list[DatasetDef] = Field(min_length=1)


class _Chart(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(description="Chart title (changing it keeps the chart)")
    dataset: str = Field(description="A dataset name of datasets.yml")
    description: str | None = None
    where: str | None = Field(None, description="Spark SQL condition on the dataset's rows")
    width: int | None = Field(None, ge=1, le=GRID_COLUMNS, description="Grid columns; else shared")
    height: int | None = Field(None, ge=1, description="Grid rows (8 px each)")


class BigNumberChart(_Chart):
    """One metric as a big number."""

    type: Literal["big_number"]
    metric: str
    format: str = Field("SMART_NUMBER", description="d3 number format")
    subheader: str = ""
    time_format: str | None = Field(None, description="strftime format: the metric is a time")


class SeriesChart(_Chart):
    """Metrics by a category (`bar`) or over time (`line`), one series per `groupby` value."""

    type: Literal["bar", "line"]
    x: str = Field(description="The x axis column")
    metrics: list[str] = Field(min_length=1)
    groupby: list[str] = Field(default_factory=list)
    format: str = Field("SMART_NUMBER", description="d3 number format of the y axis")
    row_limit: int = Field(10000, ge=1)
    stacked: bool = Field(False, description="bar only: stack the series")
    horizontal: bool = Field(False, description="bar only: bars left to right, `x` on the side")
    time_grain: str | None = Field(None, description="line only: e.g. P1W; None keeps x as is")


class TableChart(_Chart):
    """Raw `columns`, or `groupby` + `metrics` aggregated."""

    type: Literal["table"]
    columns: list[str] | None = None
    groupby: list[str] = Field(default_factory=list)
    metrics: list[str] = Field(default_factory=list)
    order_by: list[str] = Field(default_factory=list, description='"col" or "col desc"')
    row_limit: int = Field(1000, ge=1)
    page_length: int = Field(0, ge=0, description="Rows per page; 0 shows all")
    search: bool = False
    formats: dict[str, str] = Field(default_factory=dict, description="d3 format per column")

    @pydantic.field_validator("order_by")
    @classmethod
    def _column_and_direction(cls, value: list[str]) -> list[str]:
        for item in value:
            parts = item.split()
            if not 1 <= len(parts) <= 2 or parts[-1].lower() not in (
                parts[0].lower(),
                "asc",
                "desc",
            ):
                raise ValueError(f"'{item}' is not 'column', 'column asc' or 'column desc'")
        return value

    @pydantic.model_validator(mode="after")
    def _one_mode(self) -> TableChart:
        if self.columns is not None and (self.groupby or self.metrics):
            raise ValueError("give either columns (raw rows) or groupby + metrics, not both")
        if self.columns is None and not self.metrics:
            raise ValueError("give columns (raw rows) or metrics (aggregated)")
        return self


Chart = Annotated[BigNumberChart | SeriesChart | TableChart, Field(discriminator="type")]


class FilterDef(_Def):
    """A native filter; it applies to every chart whose dataset has the column."""

    key: str
    title: str
    column: str
    dataset: str = Field(description="The dataset whose values the filter lists")
    description: str = ""


class SectionDef(_Def):
    """A titled section of rows; each row splits the 12 grid columns among its charts."""

    section: str
    rows: list[list[str]] = Field(min_length=1)


class DashboardDef(_Def):
    """One dashboard file."""

    title: str
    slug: str = Field(pattern=r"^[A-Za-z0-9_-]+$", description="URL name; its identity")
    filters: list[FilterDef] = Field(default_factory=list)
    charts: dict[str, Chart] = Field(min_length=1, description="By key, the chart's identity")
    layout: list[SectionDef] = Field(min_length=1)


@dataclass(frozen=True)
class Definitions:
    """Everything in a dashboards folder, validated and cross-checked."""

    database: DatabaseDef
    datasets: dict[str, DatasetDef]
    dashboards: dict[Path, DashboardDef]


# ---------------------------------------------------------------------------------------------
# Where an error is


def locate(data: Any, loc: Loc) -> tuple[str, int | None]:
    """The dotted key path and line of a pydantic `loc` in YAML from `parse_yaml`.

    Parts that are not keys of the data (the tag pydantic adds for a union member) are skipped.

    Example:
        >>> data = parse_yaml("a:\\n  b: [1, 2]\\n  c: 3\\n", "d.yml")
        >>> locate(data, ("a", "union-tag", "c")), locate(data, ("a", "b", 1))
        (('a.c', 3), ('a.b[1]', 2))
    """
    line = data.line if isinstance(data, YamlMap | YamlList) else None
    key, node = "", data
    for part in loc:
        if isinstance(node, dict) and part in node:
            key += f".{part}" if key else str(part)
            line = node.key_lines.get(part, line) if isinstance(node, YamlMap) else line
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            key += f"[{part}]"
            line = node.item_lines[part] if isinstance(node, YamlList) else line
            node = node[part]
    return key, line


# ---------------------------------------------------------------------------------------------
# Loading


@dataclass(frozen=True)
class _File:
    path: Path  # as errors show it
    text: str
    data: Any

    def error(self, loc: Loc, message: str, hint: str | None = None) -> ConfigError:
        key, line = locate(self.data, loc)
        prefix = f"{key}: " if key else ""
        return ConfigError(
            prefix + message, location=Location(self.path, line), hint=hint, source=self.text
        )

    def parse(self, model: type[_Def]) -> Any:
        try:
            return model.model_validate(self.data)
        except pydantic.ValidationError as exc:
            # A misspelt key also makes the real one missing: report the misspelling.
            errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
            first, loc = errors[0], errors[0]["loc"]
            message = str(first["msg"]).removeprefix("Value error, ")
            hint = f"see the comments at the top of {self.path.name}"
            if first["type"] == "union_tag_invalid":
                loc = (*loc, "type")
                message = f"unknown chart type '{first['ctx']['tag']}'"
                hint = f"use one of: {first['ctx']['expected_tags']}"
            elif first["type"] == "union_tag_not_found":
                message = "missing key 'type'"
            elif first["type"] == "extra_forbidden":
                message, hint = "unknown key", f"check its spelling; {hint}"
            elif first["type"] == "missing":
                message = f"missing key '{loc[-1]}'"
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise self.error(loc, message + more, hint=hint) from exc


def _read(path: Path, shown: Path, variables: dict[str, Any] | None = None) -> _File:
    text = path.read_text()
    if variables is not None:
        try:
            env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
            text = env.from_string(text).render(**variables)
        except jinja2.TemplateError as exc:
            line = exc.lineno if isinstance(exc, jinja2.TemplateSyntaxError) else None
            raise ConfigError(f"cannot render: {exc}", location=Location(shown, line)) from exc
    data = parse_yaml(text, shown)
    return _File(shown, text, YamlMap() if data is None else data)


def display_path(path: Path, project_dir: Path | None) -> Path:
    """`path` relative to `project_dir` when inside it (how errors and reports name files)."""
    if project_dir is not None and path.resolve().is_relative_to(project_dir.resolve()):
        return path.resolve().relative_to(project_dir.resolve())
    return path


def load_definitions(
    dashboards_dir: Path, variables: dict[str, Any], *, project_dir: Path | None = None
) -> Definitions:
    """Read and cross-check `database.yml`, `datasets.yml` and every dashboard `*.yml` of a folder.

    Args:
        dashboards_dir: the folder (the project's `dashboard-paths`).
        variables: what `{{ name }}` in `database.yml` renders to.
        project_dir: errors show file paths relative to it (default: as given).

    Returns:
        The validated definitions.

    Raises:
        ConfigError: naming the file, line and key of the first mistake.
    """
    for required in FIXED_FILES:
        if not (dashboards_dir / required).exists():
            raise ConfigError(
                f"{display_path(dashboards_dir / required, project_dir)} not found",
                hint="restore it from the repository (see dashboards/ and docs/CONTRACTS.md)",
            )
    database_path = dashboards_dir / "database.yml"
    database_file = _read(database_path, display_path(database_path, project_dir), variables)
    database = database_file.parse(DatabaseDef)
    datasets_path = dashboards_dir / "datasets.yml"
    datasets_file = _read(datasets_path, display_path(datasets_path, project_dir))
    datasets_list = datasets_file.parse(DatasetsFile).datasets
    names = [d.name for d in datasets_list]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise datasets_file.error(("datasets", i, "name"), f"dataset '{name}' defined twice")
    datasets = {d.name: d for d in datasets_list}
    dashboards: dict[Path, DashboardDef] = {}
    slugs: dict[str, Path] = {}
    for path in sorted(dashboards_dir.glob("*.yml")):
        if path.name in FIXED_FILES:
            continue
        file = _read(path, display_path(path, project_dir))
        dash = file.parse(DashboardDef)
        _check_dashboard(file, dash, datasets)
        if dash.slug in slugs:
            raise file.error(("slug",), f"'{dash.slug}' is also the slug of {slugs[dash.slug]}",
                             hint="give each dashboard its own slug")
        dashboards[path], slugs[dash.slug] = dash, file.path
    return Definitions(database, datasets, dashboards)


def _check_dashboard(file: _File, dash: DashboardDef, datasets: dict[str, DatasetDef]) -> None:
    """Every name a dashboard uses must exist: datasets, their columns and metrics, charts."""
    known = f"use one of: {', '.join(datasets)} (datasets.yml)"
    for key, chart in dash.charts.items():
        at: Loc = ("charts", key)
        ds = datasets.get(chart.dataset)
        if ds is None:
            raise file.error((*at, "dataset"), f"unknown dataset '{chart.dataset}'", hint=known)
        columns = {c.name for c in ds.columns}
        metrics = {m.name for m in ds.metrics}
        refs: list[tuple[str, list[str], set[str]]] = []
        if isinstance(chart, BigNumberChart):
            refs.append(("metric", [chart.metric], metrics))
        elif isinstance(chart, SeriesChart):
            refs += [("x", [chart.x], columns), ("metrics", chart.metrics, metrics),
                     ("groupby", chart.groupby, columns)]
        else:
            refs += [("columns", chart.columns or [], columns), ("groupby", chart.groupby, columns),
                     ("metrics", chart.metrics, metrics),
                     ("order_by", [o.split()[0] for o in chart.order_by], columns | metrics),
                     ("formats", list(chart.formats), columns | metrics)]
        for field, used, defined in refs:
            for name in used:
                if name not in defined:
                    kind = "metric" if defined is metrics else "column"
                    raise file.error(
                        (*at, field),
                        f"{kind} '{name}' is not in dataset '{ds.name}'",
                        hint=f"define it in datasets.yml or use: {', '.join(sorted(defined))}",
                    )
    for i, flt in enumerate(dash.filters):
        ds = datasets.get(flt.dataset)
        if ds is None:
            raise file.error(("filters", i, "dataset"), f"unknown dataset '{flt.dataset}'",
                             hint=known)
        if flt.column not in {c.name for c in ds.columns}:
            raise file.error(("filters", i, "column"),
                             f"column '{flt.column}' is not in dataset '{ds.name}'")
    _check_layout(file, dash)


def _check_layout(file: _File, dash: DashboardDef) -> None:
    placed: set[str] = set()
    for s, section in enumerate(dash.layout):
        for r, row in enumerate(section.rows):
            at: Loc = ("layout", s, "rows", r)
            for key in row:
                if key not in dash.charts:
                    raise file.error(at, f"layout places undefined chart '{key}'",
                                     hint="define it under `charts:` or remove it")
                if key in placed:
                    raise file.error(at, f"chart '{key}' is placed twice")
                placed.add(key)
            fixed = [dash.charts[k].width or 0 for k in row]
            free = sum(1 for w in fixed if not w)
            if sum(fixed) + free > GRID_COLUMNS:
                raise file.error(at, f"the row needs more than {GRID_COLUMNS} grid columns",
                                 hint="lower the charts' `width` or split the row")
    unplaced = [k for k in dash.charts if k not in placed]
    if unplaced:
        raise file.error(("charts", unplaced[0]), f"chart '{unplaced[0]}' is not in the layout",
                         hint="add it to a row under `layout:` or remove it")
