"""Unit tests (dbt 1.8's `unit_tests:`): a model run on given rows, its output compared with
expected rows. No data file, no service: the inputs are a few rows written in the YAML.

    unit_tests:
      - name: habit_needs_five_distinct_days
        model: int_user_metrics
        given:
          - input: ref('int_user_window_activity')
            rows: [{user_id: MLB1, transaction_days_in_window: 5}]
          - input: source('raw', 'lk_onboarding')
            format: csv                  # dict (default) | csv: `rows: |` text or `fixture: f.csv`
            rows: |
              user_id,first_login_dt
              MLB1,2022-01-01
        overrides: {vars: {onboarding_days: 30}}
        expect:
          rows: [{user_id: MLB1, habit: 1}]

Every ref() and source() the model reads must be given (`rows: []` for an empty one). This
module reads and checks the definitions and renders the model with each ref()/source() pointing
at its input's view; `unit_run` runs them on Spark.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from runner.datatests.unit_values import FixtureRow, parse_csv
from runner.errors import ConfigError, Location
from runner.project import Project, UnitTestDef, normalize_name, validate_name
from runner.templating import CompiledModel, Renderer, source_view_name
from runner.variables import validate_vars
from runner.yaml_files import YamlList, YamlMap, find_line, parse_yaml, validate_yaml

_REF = re.compile(r"""^\s*ref\(\s*['"](\w+)['"]\s*\)\s*$""")
_SOURCE = re.compile(r"""^\s*source\(\s*['"](\w+)['"]\s*,\s*['"](\w+)['"]\s*\)\s*$""")


# -- the YAML entries ------------------------------------------------------------------------


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RowsSpec(_Entry):
    """Rows of an input or of the expected output."""

    rows: list[dict[str, Any]] | str | None = Field(
        None, description="dict: a list of mappings; csv: CSV text with a header line"
    )
    format: Literal["dict", "csv"] = Field("dict", description="How `rows` is written")
    fixture: str | None = Field(
        None, description="csv: a CSV file (relative to this YAML file) instead of `rows`"
    )

    @model_validator(mode="after")
    def _rows_match_format(self) -> RowsSpec:
        if self.fixture is not None and (self.format != "csv" or self.rows is not None):
            raise ValueError("`fixture:` needs `format: csv` and no `rows:`")
        if self.format == "dict" and isinstance(self.rows, str):
            raise ValueError("rows is text: add `format: csv`, or write a list of mappings")
        if self.format == "csv" and isinstance(self.rows, list):
            raise ValueError("format csv takes `rows: |` followed by CSV text, not a list")
        return self


class GivenSpec(RowsSpec):
    """One input of the model under test."""

    input: str = Field(description="ref('model') or source('source', 'table')")


class OverridesSpec(_Entry):
    vars: dict[str, Any] = Field(default_factory=dict, description="Vars for this test only")


class UnitConfigSpec(_Entry):
    enabled: bool = True
    tags: list[str] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict, description="Free-form, not read")


class UnitTestSpec(_Entry):
    """A `unit_tests:` entry."""

    name: str
    model: str = Field(description="The model under test")
    description: str = ""
    given: list[GivenSpec] = Field(default_factory=list)
    expect: RowsSpec
    overrides: OverridesSpec = Field(default_factory=OverridesSpec)
    config: UnitConfigSpec = Field(default_factory=UnitConfigSpec)


class _UnitTestsSpec(_Entry):
    """One entry under `unit_tests:`, validated there so errors say "unit test 'name'"."""

    unit_tests: list[UnitTestSpec]


# -- compiled --------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitInput:
    """A given input: what the model reads, the view its rows become, and the rows."""

    input: str  # as written, e.g. ref('int_user_segments')
    relation: str
    rows: tuple[FixtureRow, ...]
    line: int | None
    model: str | None = None  # a ref()
    source: tuple[str, str] | None = None  # a source()


@dataclass(frozen=True)
class UnitSite:
    """Where a unit test is declared, for its errors."""

    name: str
    path: Path  # the YAML file
    line: int | None
    text: str = ""  # the YAML file's text, to underline the line

    def error(self, message: str, line: int | None = None, hint: str | None = None) -> ConfigError:
        """A ConfigError about this test at `line` of its YAML file (default: the entry's)."""
        return ConfigError(
            f"unit test {self.name}: {message}",
            location=Location(self.path, line or self.line),
            source=self.text or None,
            hint=hint,
        )


@dataclass(frozen=True)
class UnitTest:
    name: str
    model: str
    site: UnitSite
    compiled: CompiledModel  # the model rendered on the given inputs
    given: tuple[UnitInput, ...]
    expect: tuple[FixtureRow, ...]
    expect_columns: tuple[str, ...]  # compared; a row that leaves one out expects NULL
    expect_line: int | None
    description: str = ""
    tags: tuple[str, ...] = ()

    @property
    def unique_id(self) -> str:
        return f"unit_test.{self.name}"

    @property
    def path(self) -> Path:
        return self.site.path


# -- collecting ------------------------------------------------------------------------------


def collect_unit_tests(
    project: Project, renderer: Renderer, models: Mapping[str, CompiledModel]
) -> dict[str, UnitTest]:
    """Check and compile every enabled unit test of the project; a disabled model's are left out.

    Raises:
        ConfigError: at the YAML line of the entry, given input or row that is wrong.
    """
    out: dict[str, UnitTest] = {}
    files: dict[Path, tuple[str, dict[int | None, YamlMap]]] = {}
    for definition in project.unit_tests:
        if definition.path not in files:
            # a plain dict copy of an entry lost its own keys' lines: read the file again
            again = not isinstance(definition.definition, YamlMap)
            files[definition.path] = _load_entries(project.dir / definition.path, again)
        text, entries = files[definition.path]
        data = entries.get(definition.line) or YamlMap(definition.line)
        data.update({} if data else definition.definition)  # the file could not be read again
        test = compile_unit_test(project, renderer, models, definition, data, text)
        if test is None:
            continue
        if test.name in out:
            other = out[test.name]
            raise test.site.error(
                f"the name is used twice (also at {other.path}:{other.site.line})",
                hint="give each unit test its own name",
            )
        out[test.name] = test
    return out


def compile_unit_test(
    project: Project,
    renderer: Renderer,
    models: Mapping[str, CompiledModel],
    definition: UnitTestDef,
    data: YamlMap,
    text: str,
) -> UnitTest | None:
    """One unit test, checked and rendered; None when it or its model is disabled.

    Args:
        data: the entry as loaded, its lines kept (`runner.yaml_files`).
        text: the YAML file's text.
    """
    wrapper = YamlMap(data.line)
    entries = YamlList(data.line)
    entries.append(data)
    entries.item_lines = [data.line or 0]
    wrapper["unit_tests"] = entries
    wrapper.key_lines["unit_tests"] = data.line or 0
    spec = validate_yaml(_UnitTestsSpec, wrapper, definition.path, text).unit_tests[0]
    validate_name(spec.name, "unit test", Location(definition.path, definition.line))
    name = normalize_name(spec.name)
    model_name = normalize_name(spec.model)
    site = UnitSite(name, definition.path, definition.line, text)
    if model_name not in project.models:
        close = difflib.get_close_matches(model_name, list(project.models), n=1)
        raise site.error(f"model '{spec.model}' not found", find_line(data, "model"),
                         hint=f"did you mean '{close[0]}'?" if close else "check the model name")
    if not spec.config.enabled or model_name not in models:
        return None
    folder = definition.path.parent
    nodes = data.get("given") or []
    given = tuple(
        _given(project, site, g, nodes[i] if i < len(nodes) else None, folder)
        for i, g in enumerate(spec.given)
    )
    _check_inputs(site, models[model_name], given, find_line(data, "given"))
    expect = _rows(project, site, spec.expect, data.get("expect"), folder)
    relations = {g.model or source_view_name(*g.source or ("", "")): g.relation for g in given}
    # A unit test checks a rule as the project declares it: the run's --vars do not change its
    # expectations (its own `overrides: vars:` do).
    merged_vars: dict[str, Any] | None = {**renderer.vars, **project.config.vars}
    if spec.overrides.vars:
        merged_vars = _with_overrides(project, merged_vars or {}, site, spec.overrides.vars,
                                      find_line(data, "overrides"))
    compiled = renderer.render(project.models[model_name], relations=relations, vars=merged_vars)
    compiled_sql = project.config.target_layout.compiled / "unit_tests" / f"{name}.sql"
    compiled = replace(compiled, compiled_path=compiled_sql.as_posix())
    return UnitTest(
        name=name, model=model_name, site=site, compiled=compiled, given=given, expect=expect,
        expect_columns=tuple(dict.fromkeys(c for row in expect for c in row.values)),
        expect_line=find_line(data, "expect"), description=spec.description,
        tags=tuple(spec.config.tags),
    )


def _load_entries(path: Path, parse: bool) -> tuple[str, dict[int | None, YamlMap]]:
    """A YAML file's text and, with `parse`, its `unit_tests:` entries by line, as the
    line-keeping loader gives them."""
    text = _read(path)
    if not parse:
        return text, {}
    try:
        data = parse_yaml(text, path)
    except ConfigError:
        return text, {}
    entries = data.get("unit_tests") if isinstance(data, dict) else None
    return text, {e.line: e for e in entries or [] if isinstance(e, YamlMap)}


def _given(
    project: Project, site: UnitSite, spec: GivenSpec, node: Any, folder: Path
) -> UnitInput:
    line = node.line if isinstance(node, YamlMap) else site.line
    ref, source = _parse_input(spec.input)
    if ref is None and source is None:
        raise site.error(
            f"input '{spec.input}' is not a ref() or source()", line,
            hint="write input: ref('model') or input: source('source', 'table')",
        )
    suffix = ref or source_view_name(*source or ("", ""))
    rows = _rows(project, site, spec, node, folder)
    return UnitInput(spec.input.strip(), f"__unit__{site.name}__{suffix}", rows, line, ref, source)


def _parse_input(text: str) -> tuple[str | None, tuple[str, str] | None]:
    """`ref('m')` -> ('m', None); `source('s', 't')` -> (None, ('s', 't')).

    Example:
        >>> _parse_input("ref('stg_users')"), _parse_input('source("raw", "dim_users")')
        (('stg_users', None), (None, ('raw', 'dim_users')))
    """
    ref = _REF.match(text)
    if ref:
        return normalize_name(ref.group(1)), None
    source = _SOURCE.match(text)
    if source:
        return None, (normalize_name(source.group(1)), normalize_name(source.group(2)))
    return None, None


def _check_inputs(
    site: UnitSite, model: CompiledModel, given: tuple[UnitInput, ...], line: int | None
) -> None:
    """Every input names something the model reads, once; everything it reads is given."""
    reads = [f"ref('{r}')" for r in model.refs]
    reads += [f"source('{s}', '{t}')" for s, t in model.sources]
    seen: set[str] = set()
    for g in given:
        key = f"ref('{g.model}')" if g.model else "source('{}', '{}')".format(*g.source or ("", ""))
        if key not in reads:
            raise site.error(
                f"model {model.name} does not read {key}", g.line,
                hint=f"it reads: {', '.join(reads) or 'nothing'}",
            )
        if key in seen:
            raise site.error(f"{key} is given twice", g.line, hint="merge the two inputs")
        seen.add(key)
    missing = [r for r in reads if r not in seen]
    if missing:
        raise site.error(
            f"input {missing[0]} of model {model.name} is not given"
            + (f" (nor {', '.join(missing[1:])})" if missing[1:] else ""),
            line,
            hint=f"add `- input: {missing[0]}` under given: (`rows: []` for no rows)",
        )


def _rows(
    project: Project, site: UnitSite, spec: RowsSpec, node: Any, folder: Path
) -> tuple[FixtureRow, ...]:
    """The rows of an input or expectation: YAML mappings, inline CSV, or a CSV fixture."""
    rows_line = find_line(node, "rows") if node is not None else None
    if spec.fixture is not None:
        path = project.dir / folder / spec.fixture
        try:
            text = path.read_text()
        except OSError:
            raise site.error(
                f"fixture {spec.fixture} not found ({path})", find_line(node, "fixture"),
                hint="the path is relative to the YAML file's folder",
            ) from None
        return _csv_rows(site, text, None, find_line(node, "fixture"))
    if isinstance(spec.rows, str):
        return _csv_rows(site, spec.rows, rows_line + 1 if rows_line else None, rows_line)
    items = node.get("rows") if isinstance(node, dict) else None
    lines = items.item_lines if isinstance(items, YamlList) else []
    out = []
    for i, row in enumerate(spec.rows or []):
        values = {normalize_name(str(k)): v for k, v in row.items()}
        out.append(FixtureRow(values, lines[i] if i < len(lines) else rows_line))
    return tuple(out)


def _csv_rows(
    site: UnitSite, text: str, first_line: int | None, line: int | None
) -> tuple[FixtureRow, ...]:
    try:
        return parse_csv(text, first_line)
    except ValueError as exc:
        message, row_line = exc.args
        raise site.error(message, row_line or line, hint="give every record the header's "
                         "fields; an empty field is NULL") from None


def _with_overrides(
    project: Project, values: Mapping[str, Any], site: UnitSite, overrides: dict[str, Any],
    line: int | None,
) -> dict[str, Any]:
    """The vars of the run with a test's overrides, each checked against its var-types:."""
    try:
        typed = validate_vars(project, overrides, only_overrides=True)
    except ConfigError as err:
        raise site.error(f"overrides: {err.message.replace('--vars: ', '')}", line,
                         hint=err.hint) from None
    return {**values, **{k: typed.get(k, v) for k, v in overrides.items()}}


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
