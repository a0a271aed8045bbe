"""Data tests: generic tests declared in the models' YAML, user `test_<name>` macros, singular SQL.

Every test compiles to one SELECT that returns the failing rows; it passes when that returns none.
Generic tests are functions in `GENERIC_TESTS` (name -> SQL); a Jinja macro `test_<name>(model,
column_name, ...)` in macros/ adds (or overrides) one. Singular tests are `.sql` files under the
project's test-paths. A test's `severity` says whether failing rows are an error (the default:
descendants of its model are skipped) or a warning.
"""

from __future__ import annotations

import fnmatch
import hashlib
import inspect
import json
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from runner.errors import CompilationError, ExecutionError, Location
from runner.project import Model, Project, UniqueId, normalize_name
from runner.selection import parse_atom

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from runner.templating import CompiledModel, Renderer

DIALECT = "spark"
SAMPLE_ROWS = 5
SEVERITIES = ("error", "warn")
CONFIG_KEYS = ("severity", "where", "store_failures", "enabled")
ALIASES = {
    "dbt_utils.expression_is_true": "expression",
    "expression_is_true": "expression",
    "dbt_utils.unique_combination_of_columns": "unique_combination_of_columns",
}
_PREDICATE = re.compile(
    r"^\s*(=|<|>|!|(is|in|between|like|rlike|ilike)\b|not\s+(in|between|like|rlike|ilike)\b)",
    re.IGNORECASE,
)
_OPERATORS = (("<>", "ne"), ("!=", "ne"), (">=", "gte"), ("<=", "lte"), (">", "gt"), ("<", "lt"),
              ("=", "eq"))
_CALL = re.compile(r"^\s*(ref|source)\s*\(.*\)\s*$", re.DOTALL)


# fn(model, column_name, **arguments) -> SQL selecting the failing rows of `model` (a relation or
# a parenthesized subquery when `where` is set); each declares its own keyword arguments.
GenericTestFn = Callable[..., str]


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
    where: str | None = None
    store_failures: bool | None = None
    macro: str | None = None  # the user macro that implements it

    @property
    def unique_id(self) -> UniqueId:
        return UniqueId(f"test.{self.name}")

    @property
    def attached(self) -> tuple[str, ...]:
        """Models whose descendants a failing test blocks."""
        return (self.model,) if self.model else self.refs


@dataclass(frozen=True)
class TestOutcome:
    """What a test returned: the failing-row count, a sample, and where all of them are stored."""

    failures: int
    columns: tuple[str, ...] = ()
    sample: tuple[tuple[Any, ...], ...] = ()
    stored: Path | None = None


# -- generic tests ---------------------------------------------------------------------------


def not_null(model: str, column_name: str | None) -> str:
    col = quote_column(_need_column(column_name))
    return f"select * from {model} where {col} is null"


def unique(model: str, column_name: str | None) -> str:
    col = quote_column(_need_column(column_name))
    return (
        f"select {col} as unique_field, count(*) as n_records from {model}\n"
        f"where {col} is not null group by {col} having count(*) > 1"
    )


def unique_combination_of_columns(
    model: str, column_name: str | None = None, *, combination_of_columns: list[str]
) -> str:
    cols = ", ".join(quote_column(c) for c in _need_list(combination_of_columns, "columns"))
    return f"select {cols}, count(*) as n_records from {model}\ngroup by {cols} having count(*) > 1"


def accepted_values(
    model: str, column_name: str | None, *, values: list[Any], quote: bool = True
) -> str:
    col = quote_column(_need_column(column_name))
    items = _need_list(values, "values")
    literals = ", ".join(to_literal(v) if quote else str(v) for v in items)
    return (
        f"select {col} as value_field, count(*) as n_records from {model}\n"
        f"where {col} is not null and {col} not in ({literals}) group by {col}"
    )


def relationships(model: str, column_name: str | None, *, to: str, field: str) -> str:
    col = quote_column(_need_column(column_name))
    return (
        f"select * from {model} as child\nwhere child.{col} is not null and not exists "
        f"(select 1 from {to} as parent where parent.{quote_column(field)} = child.{col})"
    )


def expression(model: str, column_name: str | None = None, *, expression: str) -> str:
    """Rows where `expression` is false; NULL passes, as in dbt_utils.expression_is_true.

    On a column, an expression that is not a whole condition (`>= 0`) is applied to the column.
    """
    condition = expression
    if column_name and not _is_condition(expression):
        condition = f"{quote_column(column_name)} {expression}"
    return f"select * from {model} where not ({condition})"


GENERIC_TESTS: dict[str, GenericTestFn] = {
    "not_null": not_null,
    "unique": unique,
    "unique_combination_of_columns": unique_combination_of_columns,
    "accepted_values": accepted_values,
    "relationships": relationships,
    "expression": expression,
}


def quote_column(name: str) -> str:
    """Backquote a plain column name; leave an expression (`lower(email)`) as written.

    Example:
        >>> quote_column("check"), quote_column("lower(email)")
        ('`check`', 'lower(email)')
    """
    return f"`{name}`" if re.fullmatch(r"\w+", name) else name


def to_literal(value: Any) -> str:
    """A Spark SQL literal for a YAML value.

    Example:
        >>> to_literal("it's"), to_literal(3), to_literal(True)
        ("'it\\\\'s'", '3', 'TRUE')
    """
    return exp.convert(value).sql(DIALECT)


def _is_condition(text: str) -> bool:
    """False for a column predicate that lacks its column (`>= 0`, `is not null`, `in (1, 2)`).

    Example:
        >>> [_is_condition(t) for t in ["rate between 0 and 1", ">= 0", "not in (1)", "not x"]]
        [True, False, False, True]
    """
    return not _PREDICATE.match(text)


def _need_column(column_name: str | None) -> str:
    if not column_name:
        raise TypeError("it must be declared under a column (or given column_name:)")
    return column_name


def _need_list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list | tuple) or not value:
        raise TypeError(f"{what} must be a non-empty list")
    return list(value)


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
    else:
        known = ", ".join(sorted(GENERIC_TESTS))
        raise _definition_error(
            path, f"unknown test '{kind}' on model {model.name}",
            hint=f"built-in tests: {known}; or define a macro {macro_name}(model, column_name) "
            "in macros/",
        )
    name = explicit_name or build_test_name(kind, model.name, column, kwargs)
    return DataTest(
        name=str(name), kind=kind, path=path, sql=sql.strip(), refs=tuple(dict.fromkeys(refs)),
        sources=tuple(dict.fromkeys(sources)), model=model.name, column=column, kwargs=args,
        severity=severity, where=where, store_failures=config.get("store_failures"), macro=macro,
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
    name = normalize_name(path.stem)
    return DataTest(
        name=name, kind="singular", path=path, sql=rendered.sql, refs=rendered.refs,
        sources=rendered.sources, severity=_severity(config.get("severity", "error"), path, name),
        store_failures=config.get("store_failures"),
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


def _definition_error(path: Path, message: str, hint: str | None = None) -> CompilationError:
    return CompilationError(
        message, location=Location(path),
        hint=hint or "see 'Writing tests' in the README for the test syntax",
    )


def build_test_name(kind: str, model: str, column: str | None, kwargs: Mapping[str, Any]) -> str:
    """dbt's naming: `<test>_<model>_<column>`, then the arguments; hashed when too long.

    Example:
        >>> build_test_name("accepted_values", "users", "ab_group", {"values": ["a", "b"]})
        'accepted_values_users_ab_group__a__b'
    """
    base = "_".join(p for p in (kind, model, column) if p)
    args = [_slug(v) for v in kwargs.values()]
    name = "__".join([base, *[a for a in args if a]])
    if len(name) > 100:
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        name = f"{name[:89]}_{digest}"
    return name


def _slug(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "__".join(_slug(v) for v in value)
    text = str(value).lower()
    for op, word in _OPERATORS:
        text = text.replace(op, f" {word} ")
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


# -- selecting -------------------------------------------------------------------------------


def select_tests(
    tests: Mapping[str, DataTest],
    selected_models: Iterable[str],
    select: Iterable[str] = (),
    exclude: Iterable[str] = (),
    *,
    modified: set[str] | None = None,
) -> list[str]:
    """Tests to run: those on a selected model, or named by --select; minus --exclude names.

    Args:
        tests: every test by name.
        selected_models: the models the selection resolved to.
        select: --select specs; a plain name (with * wildcards) also picks a test.
        exclude: --exclude specs; a plain name drops a test.
        modified: names of tests whose definition changed (state:modified).

    Returns:
        Selected test names, sorted.
    """
    chosen_models = set(selected_models)
    named = _test_atoms(select)
    dropped = _test_atoms(exclude)
    wants_state = any("state:" in term for spec in select for term in spec.split())
    out = []
    for name, test in tests.items():
        picked = any(r in chosen_models for r in test.refs) or (not select and not test.refs)
        picked = picked or any(fnmatch.fnmatchcase(name, a) for a in named)
        picked = picked or (wants_state and modified is not None and name in modified)
        if picked and not any(fnmatch.fnmatchcase(name, a) for a in dropped):
            out.append(name)
    return sorted(out)


def _test_atoms(specs: Iterable[str]) -> list[str]:
    atoms = []
    for spec in specs:
        for term in spec.split():
            for text in term.split(","):
                atom = parse_atom(text) if text else None
                if atom is not None and atom.method == "name":
                    atoms.append(atom.value.lower())
    return atoms


# -- running ---------------------------------------------------------------------------------


def run_test(spark: SparkSession, test: DataTest, failures_dir: Path | None = None) -> TestOutcome:
    """Run a test on Spark; with `failures_dir`, its failing rows go to `<dir>/<test name>/`.

    Raises:
        ExecutionError: Spark could not run the test's SQL.
    """
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    stored = None
    try:
        df = spark.sql(test.sql)
        if failures_dir is not None:
            stored = _store(df, failures_dir / test.name)
            df = spark.read.parquet(str(stored))
        failures = df.count()
        rows = df.limit(SAMPLE_ROWS).collect() if failures else []
    except (PySparkException, Py4JJavaError) as exc:
        raise to_test_error(exc, test) from exc
    if not failures:
        if stored is not None:
            shutil.rmtree(stored, ignore_errors=True)
        return TestOutcome(0)
    return TestOutcome(failures, tuple(df.columns), tuple(tuple(r) for r in rows), stored)


def _store(df: Any, final: Path) -> Path:
    """Write rows as Parquet beside `final`, then swap them in (a stale copy never lingers)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    staged = final.with_name(f".{final.name}.staged-{uuid.uuid4().hex[:8]}")
    try:
        df.toDF(*unique_columns(df.columns)).write.mode("overwrite").parquet(str(staged))
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    shutil.rmtree(final, ignore_errors=True)
    staged.rename(final)
    return final


def unique_columns(names: Iterable[str]) -> list[str]:
    """Column names made unique for Parquet, which refuses `select a.total, b.total`.

    Example:
        >>> unique_columns(["total", "total", "n"])
        ['total', 'total_2', 'n']
    """
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name.lower()] = seen.get(name.lower(), 0) + 1
        out.append(name if seen[name.lower()] == 1 else f"{name}_{seen[name.lower()]}")
    return out


def to_test_error(exc: BaseException, test: DataTest) -> ExecutionError:
    """Translate a Spark error raised by a test into an ExecutionError at its YAML/SQL file."""
    text = str(exc).strip()
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("\tat ")]
    first = next((ln for ln in lines if "Exception" in ln or "[" in ln), lines[0] if lines else "")
    first = re.sub(r"\s*SQLSTATE: \w+", "", first).lstrip(": ")
    return ExecutionError(
        f"Spark error in test {test.name}: {first or type(exc).__name__}",
        location=Location(test.path),
        hint=f"compiled SQL: {compiled_path(test)}",
    )


def compiled_path(test: DataTest) -> str:
    """Where the compiled SQL of a test is written, relative to the target folder's parent."""
    return f"target/compiled/tests/{test.name}.sql"


def describe_outcome(test: DataTest, outcome: TestOutcome) -> str:
    """The message of a test result: the failing-row count, where they are, the first rows."""
    if not outcome.failures:
        return "pass"
    plural = "s" if outcome.failures != 1 else ""
    text = f"{outcome.failures} failing row{plural} (severity {test.severity})"
    if outcome.stored is not None:
        text += f"; all stored in {outcome.stored}"
    table = format_rows(outcome.columns, outcome.sample, outcome.failures)
    return f"{text}\n{table}" if table else text


def format_rows(
    columns: Iterable[str], rows: Iterable[Iterable[Any]], total: int | None = None,
    width: int = 40,
) -> str:
    """A small text table of sample rows, values cut at `width`.

    Example:
        >>> print(format_rows(["id", "n"], [("a", 2), ("bb", 3)], total=3))
        id | n
        a  | 2
        bb | 3
        ... and 1 more
    """
    header = list(columns)
    body = [[_cell(v, width) for v in row] for row in rows]
    if not header:
        return ""
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(header)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    lines += [" | ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in body]
    if total is not None and total > len(body):
        lines.append(f"... and {total - len(body)} more")
    return "\n".join(lines)


def _cell(value: Any, width: int) -> str:
    text = "NULL" if value is None else str(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 3] + "..."


def checksum(test: DataTest) -> str:
    """Changes when the test's SQL or config changes (for state:modified)."""
    key = {"sql": test.sql, "severity": test.severity, "where": test.where}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
