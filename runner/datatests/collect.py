"""Data tests: generic tests declared in the models' YAML, user `test_<name>` macros, singular SQL.

Every test compiles to one SELECT that returns the failing rows; it passes when that returns none.
Generic tests are the functions of `generic_tests.GENERIC_TESTS`; a Jinja macro `test_<name>(model,
column_name, ...)` in macros/ adds (or overrides) one. Singular tests are `.sql` files under the
project's test-paths. A test's `severity` says whether failing rows are an error (the default:
descendants of its model are skipped) or a warning.
"""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.datatests.generic import (
    FAILURE_COUNTS,
    GENERIC_TESTS,
    FailureCount,
    GenericTestFn,
)
from runner.errors import CompilationError, Location
from runner.project import Model, Project, UniqueId, normalize_name, validate_name
from runner.yaml_files import find_line

if TYPE_CHECKING:
    from runner.templating import CompiledModel, Renderer

SEVERITIES = ("error", "warn")
CONFIG_KEYS = ("severity", "where", "store_failures", "enabled", "tags")
ALIASES = {
    "dbt_utils.expression_is_true": "expression",
    "expression_is_true": "expression",
    "dbt_utils.unique_combination_of_columns": "unique_combination_of_columns",
}
_OPERATORS = (("<>", "ne"), ("!=", "ne"), (">=", "gte"), ("<=", "lte"), (">", "gt"), ("<", "lt"),
              ("=", "eq"))
_REF = re.compile(r"\bref\(\s*['\"](\w+)['\"]\s*\)")
_CALL = re.compile(r"^\s*(ref|source)\s*\(.*\)\s*$", re.DOTALL)


@dataclass(frozen=True)
class DataTest:
    """One compiled test."""

    name: str
    kind: str  # a generic test name, or "singular"
    path: Path  # the YAML or .sql file that declares it
    sql: str  # selects the failing rows
    refs: tuple[str, ...]  # models it reads; a generic test's own model first
    sources: tuple[tuple[str, str], ...] = ()
    model: str | None = None  # the model a generic test is declared on
    column: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    severity: str = "error"
    tags: tuple[str, ...] = ()  # config: {tags: [..]}, for `-s tag:x`
    where: str | None = None
    store_failures: bool | None = None
    macro: str | None = None  # the user macro that implements it
    # for a built-in test reading only its model: how one scan of the model counts its failing
    # rows, so the tests of a model are counted in one query (datatests/one_pass.py)
    count: FailureCount | None = None

    @property
    def unique_id(self) -> UniqueId:
        return UniqueId(f"test.{self.name}")

    @property
    def attached(self) -> tuple[str, ...]:
        """Models whose descendants a failing test blocks."""
        return (self.model,) if self.model else self.refs


# -- collecting tests from the project -------------------------------------------------------


def collect_tests(
    project: Project, renderer: Renderer, models: Mapping[str, CompiledModel]
) -> dict[str, DataTest]:
    """Compile every enabled test of the project: YAML tests of enabled models, then singular.

    A test that refers to a disabled model is left out, as its model is.
    """
    out: dict[str, DataTest] = {}
    for name in sorted(models):
        model = project.models[name]
        declared: list[tuple[str | None, Any]] = [(None, e) for e in model.tests]
        declared += [(c.name, e) for c in model.columns for e in c.tests]
        for column, entry in declared:
            test = compile_generic(renderer, model, column, entry)
            if test is not None and all(r in models for r in test.refs):
                _add(out, test)
    for file in project.singular_tests:
        test = compile_singular(renderer, file.path, file.text)
        if test is not None and all(r in models for r in test.refs):
            _add(out, test)
    return out


def _add(out: dict[str, DataTest], test: DataTest) -> None:
    if test.name in out:
        other = out[test.name]
        raise CompilationError(
            f"two tests are named '{test.name}' ({other.path} and {test.path})",
            location=Location(test.path),
            hint="give one of them its own `name:` (or rename the .sql file)",
        )
    out[test.name] = test


def parse_entry(entry: Any) -> tuple[str, dict[str, Any]]:
    """Split one YAML test entry into its generic test name and arguments.

    Example:
        >>> parse_entry({"accepted_values": {"values": ["a"], "config": {"severity": "warn"}}})
        ('accepted_values', {'values': ['a'], 'config': {'severity': 'warn'}})
        >>> parse_entry("not_null")
        ('not_null', {})
    """
    if isinstance(entry, str):
        return entry, {}
    if isinstance(entry, dict) and "test_name" in entry:
        args = {k: v for k, v in entry.items() if k != "test_name"}
        return str(entry["test_name"]), args
    if isinstance(entry, dict) and len(entry) == 1:
        kind, args = next(iter(entry.items()))
        if args is None:
            args = {}
        if isinstance(args, dict):
            return str(kind), dict(args)
    raise TypeError(f"cannot read test entry {entry!r}")


def compile_generic(
    renderer: Renderer, model: Model, column: str | None, entry: Any
) -> DataTest | None:
    """Compile one YAML test entry of `model` (on `column`, or model-level when None).

    Raises:
        CompilationError: at the entry's line in the YAML file.
    """
    path = model.yaml_path or model.path
    yaml_text = _read(renderer.project.dir / path)
    try:
        kind, args = parse_entry(entry)
    except TypeError as exc:
        raise _definition_error(path, f"on model {model.name}: {exc}") from None
    if "name" in args:
        name_line = find_line(entry, "name") or find_line(entry, kind, "name")
        validate_name(
            str(args["name"]), "test", Location(path, name_line), hint="a test's `name:` is "
            "a name, not a path: letters, digits and _ (or leave it out for the default)",
        )
    kind = ALIASES.get(kind, kind)
    column = normalize_name(args.pop("column_name")) if "column_name" in args else column
    line = find_yaml_line(yaml_text, [model.name, column, kind.split(".")[-1]])
    what = f"{kind} on {model.name}{'.' + column if column else ''}"
    try:
        return _compile_generic(renderer, model, column, kind, args, path, what)
    except CompilationError as err:
        message = err.message if err.message.startswith(("test ", "unknown test")) else (
            f"test {what}: {err.message.removeprefix('Jinja error: ')}"
        )
        raise CompilationError(
            message, location=Location(path, line), source=yaml_text, hint=err.hint
        ) from err


def _compile_generic(
    renderer: Renderer, model: Model, column: str | None, kind: str, args: dict[str, Any],
    path: Path, what: str,
) -> DataTest | None:
    args.update(args.pop("arguments", None) or {})
    config = dict(args.pop("config", None) or {})
    for key in CONFIG_KEYS:
        if key in args:
            config.setdefault(key, args.pop(key))
    explicit_name = args.pop("name", None)
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise _definition_error(
            path, f"test {what}: unknown config '{unknown[0]}'",
            hint=f"config keys: {', '.join(CONFIG_KEYS)}",
        )
    if config.get("enabled") is False:
        return None
    severity = _severity(config.get("severity", "error"), path, what)
    where = config.get("where")

    count = None
    refs: list[str] = [model.name]
    sources: list[tuple[str, str]] = []
    kwargs: dict[str, Any] = {}
    for key, value in args.items():
        kwargs[key] = _render_arg(renderer, value, model, refs, sources)
    relation = f"`{model.name}`"
    if where:
        relation = f"(select * from `{model.name}` where {where})"
    macro_name = f"test_{kind}"
    if macro_name in renderer.env.globals:
        macro_fn = renderer.env.globals[macro_name]
        rendered = renderer.render_snippet(
            "{{ __test(**__kwargs) }}", path, owner=model.name, __test=macro_fn,
            __kwargs=_macro_kwargs(macro_fn, relation, column, kwargs),
        )
        sql, macro = rendered.sql, macro_name
        refs += rendered.refs
        sources += rendered.sources
    elif kind in GENERIC_TESTS:
        sql, macro = _call_generic(GENERIC_TESTS[kind], relation, column, kwargs, path, what), None
        if kind in FAILURE_COUNTS:
            count = FAILURE_COUNTS[kind](column, **kwargs).where(where)
    else:
        known = ", ".join(sorted(GENERIC_TESTS))
        raise _definition_error(
            path, f"unknown test '{kind}' on model {model.name}",
            hint=f"built-in tests: {known}; or define a macro {macro_name}(model, column_name) "
            "in macros/",
        )
    # named from the arguments as written, so --vars does not rename a test
    name = explicit_name or build_test_name(kind, model.name, column, args)
    return DataTest(
        name=str(name), kind=kind, path=path, sql=sql.strip(), refs=tuple(dict.fromkeys(refs)),
        sources=tuple(dict.fromkeys(sources)), model=model.name, column=column, kwargs=args,
        severity=severity, tags=_tags(config.get("tags")), where=where,
        store_failures=config.get("store_failures"), macro=macro, count=count,
    )


def find_yaml_line(text: str, needles: list[str | None]) -> int | None:
    """The 1-based line of the last needle, each searched after the one before (None skipped).

    Example:
        >>> find_yaml_line("- name: a\\n  tests: [unique]\\n- name: b\\n  tests: [unique]",
        ...                ["b", "unique"])
        4
    """
    pos = 0
    found = None
    for needle in needles:
        if not needle:
            continue
        match = re.compile(rf"\b{re.escape(needle)}\b", re.IGNORECASE).search(text, pos)
        if match is None:
            return found
        pos, found = match.end(), text.count("\n", 0, match.start()) + 1
    return found


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def compile_singular(renderer: Renderer, path: Path, text: str) -> DataTest | None:
    """Compile a `.sql` file of the test-paths; `{{ config(severity='warn') }}` is allowed."""
    rendered = renderer.render_snippet(text, path)
    config = rendered.config
    if config.get("enabled") is False:
        return None
    validate_name(path.stem, "test", Location(path), hint="rename the file: a singular test "
                  "is named after its file (letters, digits, _)")
    name = normalize_name(path.stem)
    return DataTest(
        name=name, kind="singular", path=path, sql=rendered.sql, refs=rendered.refs,
        sources=rendered.sources, severity=_severity(config.get("severity", "error"), path, name),
        tags=_tags(config.get("tags")), store_failures=config.get("store_failures"),
    )


def _render_arg(
    renderer: Renderer, value: Any, model: Model, refs: list[str],
    sources: list[tuple[str, str]],
) -> Any:
    """Render `ref('x')` / `source(..)` and `{{ }}` inside a string argument; keep the rest."""
    if isinstance(value, list):
        return [_render_arg(renderer, v, model, refs, sources) for v in value]
    if not isinstance(value, str) or not (_CALL.match(value) or "{{" in value):
        return value
    text = "{{ " + value + " }}" if _CALL.match(value) else value
    rendered = renderer.render_snippet(text, model.yaml_path or model.path, owner=model.name)
    refs += rendered.refs
    sources += rendered.sources
    return rendered.sql


def _macro_kwargs(
    macro: Any, relation: str, column: str | None, kwargs: dict[str, Any]
) -> dict[str, Any]:
    wanted = set(getattr(macro, "arguments", ()))
    out = {"model": relation, **kwargs}
    if column is not None or "column_name" in wanted:
        out["column_name"] = column
    return out


def _call_generic(
    fn: GenericTestFn, relation: str, column: str | None, kwargs: dict[str, Any], path: Path,
    what: str,
) -> str:
    params = inspect.signature(fn).parameters
    allowed = [p for p in params if p not in ("model", "column_name")]
    missing = [
        p for p, spec in params.items()
        if p in allowed and spec.default is inspect.Parameter.empty and p not in kwargs
    ]
    extra = [k for k in kwargs if k not in allowed]
    if missing or extra:
        problem = (
            f"missing argument '{missing[0]}'" if missing else f"unknown argument '{extra[0]}'"
        )
        raise _definition_error(
            path, f"test {what}: {problem}",
            hint=f"arguments of {what.split()[0]}: {', '.join(allowed) or 'none'}",
        )
    try:
        return fn(relation, column, **kwargs)
    except TypeError as exc:
        raise _definition_error(path, f"test {what}: {exc}") from None


def _severity(value: Any, path: Path, what: str) -> str:
    severity = str(value).lower()
    if severity not in SEVERITIES:
        raise _definition_error(
            path, f"test {what}: severity must be warn or error, not '{value}'",
            hint="set config: {severity: warn} or {severity: error}",
        )
    return severity


def _tags(value: Any) -> tuple[str, ...]:
    """A test's `tags` config: one tag or a list of them.

    Example:
        >>> _tags("nightly"), _tags(["a", "b"]), _tags(None)
        (('nightly',), ('a', 'b'), ())
    """
    if value is None:
        return ()
    return tuple(str(v) for v in (value if isinstance(value, list | tuple) else [value]))


def _definition_error(path: Path, message: str, hint: str | None = None) -> CompilationError:
    return CompilationError(
        message, location=Location(path),
        hint=hint or "see 'Writing tests' in the README for the test syntax",
    )


def build_test_name(kind: str, model: str, column: str | None, kwargs: Mapping[str, Any]) -> str:
    """dbt's naming: `<test>_<model>_<column>`, then the arguments; a slug, hashed when changed.

    The name becomes file names (`target/compiled/tests/<name>.sql`, `target/test_failures/
    <name>/`), so it is always letters, digits and `_`: a column such as `"a --/../../x"` is
    slugified and a short hash of the name as written keeps two such names apart, as is a name
    longer than 100 characters. An ordinary name is kept as it is.

    Example:
        >>> build_test_name("accepted_values", "users", "ab_group", {"values": ["a", "b"]})
        'accepted_values_users_ab_group__a__b'
        >>> build_test_name("not_null", "users", "false --/../../victim", {})
        'not_null_users_false_victim_823e95700e'
    """
    base = "_".join(p for p in (kind, model, column) if p)
    args = [_slug(v) for v in kwargs.values()]
    name = "__".join([base, *[a for a in args if a]])
    slug = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")
    if slug != name or len(name) > 100:
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        name = f"{slug[:89]}_{digest}".lstrip("_")
    return name


def _slug(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "__".join(_slug(v) for v in value)
    text = _REF.sub(r"\1", str(value).lower())
    for op, word in _OPERATORS:
        text = text.replace(op, f" {word} ")
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")
