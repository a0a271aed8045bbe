"""Typed project variables: `var-types:` declares each var once, every value is checked against it.

Defaults stay under dbt's `vars:`; `var-types:` in the same project file says what each may be.
A project that declares types is closed: a default or a `--vars` key without a declaration is an
error, because a misspelt `--vars '{control_shar: 0.1}'` would otherwise build with the default
and look like a result. A project without `var-types:` keeps dbt's untyped vars.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from runner.config import PROJECT_FILE
from runner.errors import ConfigError, Location

if TYPE_CHECKING:
    from runner.project import Project

VarTypeName = Literal["int", "float", "bool", "str", "regex", "path", "list[int]"]

_STRICT = ConfigDict(strict=True)
_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "int": TypeAdapter(int, config=_STRICT),
    "float": TypeAdapter(float, config=_STRICT),
    "bool": TypeAdapter(bool, config=_STRICT),
    "str": TypeAdapter(str, config=_STRICT),
    "regex": TypeAdapter(str, config=_STRICT),
    "path": TypeAdapter(str, config=_STRICT),
    "list[int]": TypeAdapter(list[int], config=_STRICT),
}


class VarSpec(BaseModel):
    """The declaration of one variable under `var-types:`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: VarTypeName = Field(
        description="int, float (an int is accepted), bool (YAML true/false only, never a "
        "string), str, regex (a string that compiles), path (an existing folder, relative to "
        "the project folder), list[int] (non-empty, each item once)"
    )
    description: str = Field(min_length=1, description="What the variable means, for analysts")
    min: int | float | None = Field(None, description="Lowest number (each item of a list)")
    max: int | float | None = Field(None, description="Highest number (each item of a list)")
    exclusive: bool = Field(False, description="min and max themselves are not allowed")
    values: list[int | str] | None = Field(None, description="The allowed values (list: items)")
    pattern: str | None = Field(None, description="A str must match this regex in full")
    nullable: bool = Field(False, description="null is allowed too")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return pattern


def validate_vars(
    project: Project, overrides: dict[str, Any], *, only_overrides: bool = False
) -> dict[str, Any]:
    """The value of every variable: `vars:` defaults, then `--vars`, each checked and typed.

    Args:
        project: the loaded project; its `var-types:` declare the variables.
        overrides: the `--vars` mapping as parsed.
        only_overrides: check and return the overrides alone (a unit test's `overrides: vars:`;
            the defaults were checked by its run, or replaced by the run's `--vars`).

    Returns:
        Every variable by name, converted to its declared type (a float var given `1` is `1.0`).

    Raises:
        ConfigError: a declaration, default or override that breaks the rules, naming the
            variable, the value given and what is allowed.
    """
    defaults = project.config.vars
    if not project.config.var_types:
        return {**defaults, **overrides}
    text = _read(project.dir / PROJECT_FILE)
    specs = _load_specs(project.config.var_types, text)
    _check_declared(specs, defaults, text)
    _check_overrides(specs, overrides)
    typed: dict[str, Any] = {}
    problems: list[tuple[str, str, Location | None]] = []
    for name, spec in specs.items():
        for origin, values in (("vars", defaults), ("--vars", overrides)):
            if name not in values or (origin == "vars" and (only_overrides or name in overrides)):
                continue  # an overridden default is not checked: --vars replaces it
            try:
                typed[name] = to_typed_value(spec, values[name], project.dir)
            except ValueError as exc:
                line = _line(text, "vars", name)
                where = Location(PROJECT_FILE, line) if origin == "vars" else None
                problems.append((name, f"{origin}: {name} = {_show(values[name])} {exc}", where))
    if len(problems) == 1:
        name, message, where = problems[0]
        declared = f"{PROJECT_FILE}:{_line(text, 'var-types', name)}"
        raise ConfigError(
            message,
            location=where,
            source=text if where else None,
            hint=f"{name} ({declared}): {specs[name].description}",
        )
    if problems:
        raise ConfigError(
            "\n".join(p[1] for p in problems),
            hint=f"what each var allows is declared under var-types: in {PROJECT_FILE}",
        )
    return typed


def to_typed_value(spec: VarSpec, value: Any, project_dir: Path) -> Any:
    """`value` as the type `spec` declares; raises ValueError saying what is allowed.

    Example:
        >>> spec = VarSpec(type="float", min=0, max=1, description="share")
        >>> to_typed_value(spec, 1, Path("."))
        1.0
        >>> to_typed_value(spec, "abc", Path("."))
        Traceback (most recent call last):
        ...
        ValueError: is not allowed: expected a number from 0 to 1
    """
    if value is None and spec.nullable:
        return None
    expected = f"is not allowed: expected {describe_allowed(spec)}"
    try:
        typed = _ADAPTERS[spec.type].validate_python(value)
    except ValidationError:
        raise ValueError(expected) from None
    items = typed if isinstance(typed, list) else [typed]
    if isinstance(typed, list) and (not typed or len(set(typed)) < len(typed)):
        raise ValueError(expected)
    if any(not _in_range(spec, item) for item in items):
        raise ValueError(expected)
    if spec.values is not None and any(item not in spec.values for item in items):
        raise ValueError(expected)
    if spec.pattern is not None and not re.fullmatch(spec.pattern, typed):
        raise ValueError(expected)
    if spec.type == "regex":
        reason = _regex_problem(typed)
        if reason:
            raise ValueError(f"{expected}; {reason}")
    if spec.type == "path":
        folder = Path(typed) if Path(typed).is_absolute() else project_dir / typed
        if not folder.is_dir():
            raise ValueError(f"{expected}; {folder} is not a folder")
    return typed


def describe_allowed(spec: VarSpec) -> str:
    """What a variable may be, in words.

    Example:
        >>> describe_allowed(VarSpec(type="int", min=1, description="days"))
        'an integer >= 1'
        >>> describe_allowed(VarSpec(type="list[int]", values=[1, 2], description="codes"))
        'a non-empty list of distinct integers, each one of [1, 2], e.g. [1, 2]'
    """
    kind = {
        "int": "an integer",
        "float": "a number",
        "bool": "true or false (a YAML boolean, unquoted)",
        "str": "a string",
        "regex": "a regular expression (a string Python's re and Java can compile)",
        "path": "an existing folder (absolute, or relative to the project folder)",
        "list[int]": "a non-empty list of distinct integers",
    }[spec.type]
    each = ", each" if spec.type == "list[int]" else ""
    bounds = _describe_bounds(spec)
    if bounds:
        kind += f"{each} {bounds}"
    if spec.values is not None:
        kind += f"{each} one of {_show(spec.values)}"
        if spec.type == "list[int]":
            kind += f", e.g. {_show(spec.values)}"
    if spec.pattern is not None:
        kind += f" matching {spec.pattern}"
    return kind + (", or null" if spec.nullable else "")


def _describe_bounds(spec: VarSpec) -> str:
    low, high = spec.min, spec.max
    if low is not None and high is not None:
        if spec.exclusive:
            return f"greater than {_show(low)} and less than {_show(high)}"
        return f"from {_show(low)} to {_show(high)}"
    if low is not None:
        return f"{'>' if spec.exclusive else '>='} {_show(low)}"
    if high is not None:
        return f"{'<' if spec.exclusive else '<='} {_show(high)}"
    return ""


def _in_range(spec: VarSpec, value: Any) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return True
    if spec.min is not None and (value <= spec.min if spec.exclusive else value < spec.min):
        return False
    return spec.max is None or (value < spec.max if spec.exclusive else value <= spec.max)


def _regex_problem(pattern: str) -> str | None:
    """Why `pattern` would not work in Spark's rlike (Java); None when it compiles in both."""
    if "(?P" in pattern:
        return "(?P<name>...) is Python-only syntax; Java writes (?<name>...)"
    try:
        re.compile(pattern)
    except re.error as exc:
        return str(exc)
    return None


def _load_specs(raw: dict[str, Any], text: str) -> dict[str, VarSpec]:
    specs: dict[str, VarSpec] = {}
    for name, entry in raw.items():
        try:
            specs[name] = VarSpec.model_validate(entry)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise ConfigError(
                f"var-types: {name}: {field}: {first['msg']}" if field else
                f"var-types: {name}: {first['msg']}",
                location=Location(PROJECT_FILE, _line(text, "var-types", name)),
                source=text,
                hint="declare it as {type: int|float|bool|str|regex|path|list[int], "
                "description: ..., min/max/exclusive/values/pattern/nullable as needed}",
            ) from None
    return specs


def _check_declared(specs: dict[str, VarSpec], defaults: dict[str, Any], text: str) -> None:
    for name in defaults:
        if name not in specs:
            raise ConfigError(
                f"vars: {name} has no declaration under var-types:",
                location=Location(PROJECT_FILE, _line(text, "vars", name)),
                source=text,
                hint=f"add `{name}: {{type: ..., description: ...}}` under var-types: "
                f"in {PROJECT_FILE}",
            )
    for name in specs:
        if name not in defaults:
            raise ConfigError(
                f"var-types: {name} has no default under vars:",
                location=Location(PROJECT_FILE, _line(text, "var-types", name)),
                source=text,
                hint=f"add `{name}: <default>` under vars: in {PROJECT_FILE} (null if nullable)",
            )


def _check_overrides(specs: dict[str, VarSpec], overrides: dict[str, Any]) -> None:
    unknown = [name for name in overrides if name not in specs]
    if not unknown:
        return
    names = ", ".join(str(n) for n in unknown)
    close = difflib.get_close_matches(str(unknown[0]), list(specs), n=1)
    guess = f"did you mean {close[0]}? " if close else ""
    raise ConfigError(
        f"--vars: unknown variable{'s' if len(unknown) > 1 else ''} {names}",
        hint=f"{guess}Declared under var-types: in {PROJECT_FILE}: {', '.join(specs)}",
    )


def _line(text: str, block: str, name: str) -> int | None:
    """The line of `name:` inside the top-level `block:` of the project file."""
    start = re.search(rf"^{re.escape(block)}\s*:", text, re.MULTILINE)
    if start is None:
        return None
    key = re.compile(rf"(^[ \t]+|[{{,][ \t]*){re.escape(name)}[ \t]*:", re.MULTILINE)
    match = key.search(text, start.end())
    return text.count("\n", 0, match.end()) + 1 if match else None


def _show(value: Any) -> str:
    """A value as YAML/JSON writes it: strings quoted, true/false/null.

    Example:
        >>> _show("false"), _show(False), _show([1, "x"]), _show(None)
        ('"false"', 'false', '[1, "x"]', 'null')
    """
    return json.dumps(value, default=str, ensure_ascii=False)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
