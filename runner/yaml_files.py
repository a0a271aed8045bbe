"""Project YAML at the edge: a loader that keeps line numbers, the pydantic models of `schema.yml`
and `sources.yml`, and one translation of YAML and validation errors into a `ConfigError` at
`file:line`.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from runner.errors import ConfigError, Location

SpecT = TypeVar("SpecT", bound=BaseModel)


# -- loading ---------------------------------------------------------------------------------


class YamlMap(dict[Any, Any]):
    """A YAML mapping that knows its 1-based start line and the line of each key."""

    def __init__(self, line: int | None = None) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[Any, int] = {}


class YamlList(list[Any]):
    """A YAML sequence that knows its 1-based start line and the line of each item."""

    def __init__(self, line: int | None = None) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> Iterator[YamlMap]:
    data = YamlMap(node.start_mark.line + 1)
    yield data  # before filling it, so recursive anchors resolve as in SafeLoader
    data.update(loader.construct_mapping(node, deep=True))
    for key_node, _ in node.value:  # merge keys (<<) were flattened by construct_mapping
        key = loader.construct_object(key_node, deep=True)
        data.key_lines[key] = key_node.start_mark.line + 1


def _construct_seq(loader: _LineLoader, node: yaml.SequenceNode) -> Iterator[YamlList]:
    data = YamlList(node.start_mark.line + 1)
    yield data
    data.extend(loader.construct_sequence(node, deep=True))
    data.item_lines = [item.start_mark.line + 1 for item in node.value]


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def load_yaml(path: Path, *, display: Path | str | None = None) -> Any:
    """Parse a YAML file into plain values whose mappings and lists remember their lines.

    Args:
        path: the file to read.
        display: how errors name the file (e.g. relative to the project); default `path`.

    Raises:
        ConfigError: the file is missing, or is not valid YAML (at the line of the problem).
    """
    shown = display if display is not None else path
    try:
        text = path.read_text()
    except FileNotFoundError as exc:
        raise ConfigError(f"{shown} not found") from exc
    return parse_yaml(text, shown)


def parse_yaml(text: str, display: Path | str) -> Any:
    """Parse YAML text (see `load_yaml`); errors name `display`."""
    try:
        return yaml.load(text, Loader=_LineLoader)  # a SafeLoader subclass: safe
    except yaml.YAMLError as exc:
        mark = exc.problem_mark if isinstance(exc, yaml.MarkedYAMLError) else None
        problem = exc.problem if isinstance(exc, yaml.MarkedYAMLError) else str(exc)
        raise ConfigError(
            f"invalid YAML: {problem}",
            location=Location(
                display, mark.line + 1 if mark else None, mark.column + 1 if mark else None
            ),
            source=text,
        ) from exc


def find_line(node: Any, *keys: Any) -> int | None:
    """The line of `node[k1][k2]...` (of the key, in a mapping) as loaded by `load_yaml`.

    Example:
        >>> find_line(parse_yaml("a:\\n  - x\\n  - b: 1\\n", "f.yml"), "a", 1, "b")
        3
        >>> find_line({"a": 1}, "a") is None
        True
    """
    line = node.line if isinstance(node, YamlMap | YamlList) else None
    for key in keys:
        if isinstance(node, YamlMap) and key in node:
            line, node = node.key_lines.get(key, line), node[key]
        elif isinstance(node, YamlList) and isinstance(key, int) and 0 <= key < len(node):
            line, node = node.item_lines[key], node[key]
        else:
            return None
    return line


# -- validation ------------------------------------------------------------------------------


def validate_yaml(spec: type[SpecT], data: Any, display: Path | str, text: str | None) -> SpecT:
    """Validate loaded YAML against a pydantic model; the first problem (by line) is raised.

    Raises:
        ConfigError: at the line of the offending entry, naming the entry and the key.
    """
    try:
        return spec.model_validate({} if data is None else data)
    except ValidationError as exc:
        raise to_config_error(exc, data, spec, display, text) from None


def to_config_error(
    exc: ValidationError, data: Any, spec: type[BaseModel], display: Path | str, text: str | None
) -> ConfigError:
    """The first of `exc`'s errors, in file order, as `file:line: <entry>: <problem>`."""
    errors = sorted(
        exc.errors(), key=lambda e: _deepest_line(data, e["loc"]) or float("inf")
    )
    first = errors[0]
    loc = first["loc"]
    message, hint = _describe(first, data, spec)
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    return ConfigError(
        message, location=Location(display, _deepest_line(data, loc)), source=text, hint=hint
    )


def _deepest_line(data: Any, loc: tuple[int | str, ...]) -> int | None:
    for end in range(len(loc), -1, -1):
        line = find_line(data, *loc[:end])
        if line is not None:
            return line
    return None


_PROBLEMS = {
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
}


def _describe(error: Any, data: Any, spec: type[BaseModel]) -> tuple[str, str | None]:
    loc: tuple[int | str, ...] = error["loc"]
    kind = error["type"]
    if kind == "value_error":  # from a validator of the entry or key at `loc`
        owner, path = _owner(data, loc)
        problem = str(error["ctx"]["error"])
        return f"{owner or repr(path)}: {problem}", None
    owner, path = _owner(data, loc[:-1])
    key = loc[-1] if loc else None
    where = ": ".join(p for p in (owner, f"'{path}'" if path else "") if p)
    if kind == "missing":
        return f"{where or 'the file'} has no '{key}'", f"add `{key}:` to it"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(spec, loc[:-1])
        hint = f"allowed keys: {', '.join(allowed)}" if allowed else None
        message = f"{where}: unknown key '{key}'" if where else f"unknown top-level key '{key}'"
        return message, hint
    if kind == "literal_error":
        problem = f"must be {error['ctx']['expected']}"
    else:
        problem = _PROBLEMS.get(kind) or _lower_first(error["msg"])
    problem += _got(error.get("input"))
    if isinstance(key, int):
        subject = f"each item of '{path}'" if path else "each item"
    elif key is not None:
        subject = f"'{f'{path}.{key}' if path else key}'"
    else:
        subject = "the file"
    return (f"{owner}: {subject} {problem}" if owner else f"{subject} {problem}"), None


def _owner(data: Any, loc: tuple[int | str, ...]) -> tuple[str | None, str]:
    """Name the innermost list entries along `loc` and the mapping keys left after the last one.

    ('models', 0, 'columns', 1, 'meta') -> ("column 'id' of model 'users'", "meta")
    """
    owners: list[str] = []
    rest: list[str] = []
    node: Any = data
    parent: int | str | None = None
    for part in loc:
        node = node[part] if _has(node, part) else None
        if isinstance(part, int) and isinstance(parent, str):
            owners.append(_entry_name(parent, node))
            rest = []
        else:
            rest.append(f"[{part}]" if isinstance(part, int) else part)
        parent = part
    owner = " of ".join(reversed(owners[-2:])) or None
    return owner, ".".join(rest).replace(".[", "[")


def _has(node: Any, part: int | str) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _entry_name(list_key: str, entry: Any) -> str:
    kind = list_key.removesuffix("s").replace("_", " ")
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"{kind} '{name}'" if isinstance(name, str) and name else f"{kind} entry"


def _allowed_keys(spec: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    tp: Any = spec
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(part, str):
            field = next(
                (f for n, f in tp.model_fields.items() if part in (n, f.alias)), None
            )
            tp = field.annotation if field is not None else None
        elif get_origin(tp) in (list, tuple) and isinstance(part, int):
            tp = get_args(tp)[0]
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        else:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        keys = [f.alias or n for n, f in tp.model_fields.items()]
        return sorted(keys, key=lambda k: (k != "name", k))
    return []


def _unwrap(tp: Any) -> Any:
    """`X | None` and `Annotated[X, ...]` -> X."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
        elif get_origin(tp) in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _got(value: Any) -> str:
    if isinstance(value, bool):
        return f", not {str(value).lower()}"
    if isinstance(value, dict):
        return ", not a mapping"
    if isinstance(value, list):
        return ", not a list"
    if isinstance(value, str):
        return f", not '{value}'" if len(value) <= 40 else ", not a string"
    if isinstance(value, int | float):
        return f", not {value}"
    return ""


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


# -- schema.yml / sources.yml ----------------------------------------------------------------


class _Spec(BaseModel):
    """An entry of a project YAML file: unknown keys are errors, as in dbt; `key: null` is as if
    the key were absent; `line` is where the entry starts."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    _line: int | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _drop_nulls_keep_line(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        given = {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data
        spec = handler(given)
        if isinstance(data, YamlMap):
            spec._line = data.line
        return spec

    @property
    def line(self) -> int | None:
        return self._line


class _HasTests(_Spec):
    tests: list[Any] = Field(default_factory=list, description="Generic test entries, raw")
    data_tests: list[Any] = Field(default_factory=list, description="dbt 1.8 name of `tests`")

    @model_validator(mode="after")
    def _tests_or_data_tests(self) -> _HasTests:
        if self.tests and self.data_tests:
            raise ValueError("give either 'tests' or 'data_tests', not both")
        return self

    @property
    def all_tests(self) -> list[Any]:
        """The raw test entries, from `tests:` or its dbt 1.8 name `data_tests:`."""
        return [*self.tests, *self.data_tests]


class ColumnSpec(_HasTests):
    """A column of a model."""

    name: str
    description: str = ""
    data_type: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict, description="Free-form, not read")


class ModelSpec(_HasTests):
    """A `models:` entry: documentation, config and tests of one `.sql` model."""

    name: str
    description: str = ""
    config: dict[str, Any] = Field(default_factory=dict, description="As `{{ config() }}`")
    columns: list[ColumnSpec] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict, description="Free-form, not read")
    docs: dict[str, Any] = Field(default_factory=dict, description="dbt docs settings, not read")


class SourceColumnSpec(_Spec):
    """A column of a raw table: read as STRING, cast by the staging model."""

    name: str
    description: str = ""
    data_type: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict, description="Free-form, not read")
    tests: list[Any] = Field(default_factory=list, description="Refused: see the validator")
    data_tests: list[Any] = Field(default_factory=list, description="Refused: see the validator")

    @field_validator("tests", "data_tests")
    @classmethod
    def _no_tests(cls, value: list[Any]) -> list[Any]:
        if value:
            raise ValueError(
                "tests on source columns are not run: declare them on the staging model"
            )
        return value


class TableSpec(_Spec):
    """A raw table of a source: one file."""

    name: str
    description: str = ""
    file: str | None = Field(None, description="File name in the folder; default `<name>.csv`")
    path: str | None = Field(None, description="Folder; default the source's `path`")
    format: Literal["csv"] | None = Field(None, description="Default the source's `format`")
    columns: list[SourceColumnSpec] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict, description="Free-form, not read")


class SourceSpec(_Spec):
    """A `sources:` entry: a folder of raw files."""

    name: str
    description: str = ""
    path: str = Field(".", description="Folder of the files; may use {{ var('raw_dir') }}")
    format: Literal["csv"] = "csv"
    tables: list[TableSpec] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict, description="Free-form, not read")


class SchemaFile(_Spec):
    """A YAML file under a model path (`schema.yml`, `sources.yml`, any name)."""

    version: Literal[2] | None = None
    models: list[ModelSpec] = Field(default_factory=list)
    sources: list[SourceSpec] = Field(default_factory=list)
    unit_tests: list[Any] = Field(
        default_factory=list, description="dbt 1.8 unit tests, kept raw (entries keep `.line`)"
    )

    @field_validator("unit_tests")
    @classmethod
    def _mappings(cls, value: list[Any]) -> list[Any]:
        if not all(isinstance(v, dict) for v in value):
            raise ValueError("each unit test must be a mapping")
        return value


def load_schema_file(path: Path, display: Path | str) -> SchemaFile:
    """Read and validate one YAML file of a model path.

    Raises:
        ConfigError: invalid YAML or an invalid entry, at `display:line`.
    """
    text = path.read_text()
    return validate_yaml(SchemaFile, parse_yaml(text, display), display, text)
