"""Lint models and macros with sqlfluff: Spark SQL, the rules in the project's `.sqlfluff`.

sqlfluff's own Jinja templater renders each file, so every violation points at the line and
column of the `.sql` file as written and `--fix` edits that file (rendering with the runner's
templater and mapping lines back could do neither for a line that mixes SQL and Jinja). The
templater is given the names `runner build` gives a model: the project's macros and macro-file
variables, loaded as the runner loads them, its vars with their declared defaults, env_var(),
and ref()/source()/config()/is_incremental()/`this` that need no compiled project.
"""

from __future__ import annotations

import configparser
import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jinja2
from sqlfluff.core import FluffConfig, Linter, SQLFluffUserError
from sqlfluff.core.templaters import JinjaTemplater

from runner.errors import CompilationError, ConfigError, Location, SelectionError
from runner.project import Project, load_project, normalize_name
from runner.templating import Renderer, source_view_name, this_relation

CONFIG_FILE = ".sqlfluff"
# What `runner lint` needs whatever `.sqlfluff` says: the rest (rules, line length) is the file's.
_REQUIRED = {"dialect": "sparksql", "templater": "jinja"}


@dataclass(frozen=True)
class Violation:
    """One rule broken at a place in a file (1-based line and column of the file as written)."""

    path: str  # relative to the project folder
    line: int
    col: int
    code: str  # a rule code (LT01), TMP (templating) or PRS (parsing), SKIP (not linted)
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.code} {self.message}"


@dataclass(frozen=True)
class LintResult:
    """What `lint_project` found: the files it linted and what is left to fix."""

    files: tuple[str, ...]
    violations: tuple[Violation, ...]
    fixed: tuple[str, ...] = field(default=())  # files that --fix rewrote

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        """One line: how many files, violations and (with --fix) files rewritten.

        Example:
            >>> LintResult(("a.sql", "b.sql"), (Violation("a.sql", 1, 1, "LT01", "x"),)).summary()
            'Linted 2 files: 1 violation in 1 file.'
        """
        fixed = f"fixed {_plural(len(self.fixed), 'file')}; " if self.fixed else ""
        linted = f"Linted {_plural(len(self.files), 'file')}: {fixed}"
        if self.ok:
            return f"{linted}no violations."
        files = len({v.path for v in self.violations})
        return (
            f"{linted}{_plural(len(self.violations), 'violation')} in {_plural(files, 'file')}."
        )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def lint_project(project_dir: Path, *, select: Sequence[str] = (), fix: bool = False) -> LintResult:
    """Lint the project's models and macros (or only the models named in `select`).

    Args:
        project_dir: the folder of runner_project.yml (and of `.sqlfluff`).
        select: model names; empty lints every model and every macro file.
        fix: apply sqlfluff's fixes to the files, then report what is left.

    Returns:
        The files linted, the violations left (in file and line order) and the files fixed.

    Raises:
        SelectionError: a name in `select` is not a model.
        ConfigError: `.sqlfluff` cannot be read or sets an unknown rule or value.
    """
    project = load_project(project_dir)
    files = select_files(project, select)
    linter = _make_linter(project)
    before = {path: (project.dir / path).read_text() for path in files} if fix else {}
    violations = _lint(linter, project.dir, files, fix=fix)
    fixed = tuple(p for p in files if fix and (project.dir / p).read_text() != before[p])
    if fixed:
        # What a fix leaves can only be known by linting the rewritten file again.
        violations = [v for v in violations if v.path not in fixed]
        violations += _lint(linter, project.dir, fixed, fix=False)
    ordered = sorted(violations, key=lambda v: (v.path, v.line, v.col, v.code))
    return LintResult(files=files, violations=tuple(ordered), fixed=fixed)


def select_files(project: Project, select: Sequence[str]) -> tuple[str, ...]:
    """The files to lint, relative to the project folder: the selected models, else all + macros.

    Example:
        >>> from runner.project import Model, Project
        >>> m = Model(name="a", path=Path("models/a.sql"), raw_sql="", fqn=("a",))
        >>> p = Project(Path("."), None, {"a": m}, {}, ())  # type: ignore[arg-type]
        >>> select_files(p, ["A"])
        ('models/a.sql',)
    """
    names = [normalize_name(n) for text in select for n in text.split()]
    if not names:
        paths = [m.path for m in project.models.values()] + [m.path for m in project.macros]
        return tuple(sorted(p.as_posix() for p in paths))
    for name in names:
        if name not in project.models:
            close = difflib.get_close_matches(name, list(project.models), n=1)
            raise SelectionError(
                f"-s/--select: no model named '{name}'",
                hint=f"did you mean {close[0]}?" if close else "`runner ls` lists the models",
            )
    return tuple(dict.fromkeys(project.models[n].path.as_posix() for n in names))


def lint_context(project: Project) -> dict[str, Any]:
    """The names a model's template sees when it is linted.

    The macros and variables come from a `Renderer`, so they load (in file order, top-level
    `{% set %}` included) and evaluate exactly as in a build. ref() and source() render the
    relation they compile to, config() nothing, and is_incremental() is true: the incremental
    branch adds to the query, so more of the file is linted.
    """
    renderer = Renderer(project)
    renderer.env.globals.update(
        ref=lambda name: f"`{normalize_name(name)}`",
        source=lambda source, table: f"`{source_view_name(source, table)}`",
        config=lambda *args, **kwargs: "",
        is_incremental=lambda: True,
        var=_jinja_errors(renderer.env.globals["var"]),
        env_var=_jinja_errors(renderer.env.globals["env_var"]),
    )
    return {**renderer.env.globals, "this": f"`{this_relation('this')}`"}


def _jinja_errors(fn: Any) -> Any:
    """`fn`, raising a Jinja error for a CompilationError: sqlfluff reports those as TMP."""

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CompilationError as exc:
            hint = f" ({exc.hint})" if exc.hint else ""
            raise jinja2.UndefinedError(f"{exc.message}{hint}") from exc

    return call


def _make_linter(project: Project) -> Linter:
    try:
        config = FluffConfig.from_path(str(project.dir), overrides=dict(_REQUIRED))
    except (SQLFluffUserError, configparser.Error) as exc:
        raise ConfigError(
            f"sqlfluff settings: {exc}",
            location=Location(CONFIG_FILE),
            hint=f"fix {CONFIG_FILE} (sqlfluff's rules and options)",
        ) from exc
    linter = Linter(config=config)
    # One templater for every file, carrying the project's names (sqlfluff would make its own).
    linter.templater = JinjaTemplater(override_context=lint_context(project))
    return linter


def _lint(linter: Linter, root: Path, files: Sequence[str], *, fix: bool) -> list[Violation]:
    """Lint `files` (relative to `root`); a file sqlfluff skipped is a SKIP violation."""
    if not files:
        return []
    try:
        result = linter.lint_paths(
            tuple(str(root / f) for f in files), fix=fix, apply_fixes=fix, retain_files=True
        )
    except SQLFluffUserError as exc:
        raise ConfigError(
            f"sqlfluff settings: {exc}", location=Location(CONFIG_FILE),
            hint=f"fix {CONFIG_FILE} (sqlfluff's rules and options)",
        ) from exc
    violations: list[Violation] = []
    seen: set[str] = set()
    for linted_dir in result.paths:
        for linted in linted_dir.files:
            rel = Path(linted.path).resolve().relative_to(root).as_posix()
            seen.add(rel)
            found = linted.get_violations()
            text = (root / rel).read_text() if any(v.rule_code() == "TMP" for v in found) else ""
            violations += [
                _locate_var_error(
                    Violation(rel, v.line_no or 1, v.line_pos or 1, v.rule_code(), v.desc()), text
                )
                for v in found
            ]
    violations += [
        Violation(f, 1, 1, "SKIP", "not linted: sqlfluff skipped it (too large, or it failed)")
        for f in files
        if f not in seen
    ]
    return violations


# sqlfluff's message around the runner's own for an undeclared var (raised by `_jinja_errors`).
_UNDEFINED_VAR = re.compile(
    r"Unrecoverable failure in Jinja templating: (variable '(\w+)' is not defined.*?)\. Have you"
)


def _locate_var_error(violation: Violation, text: str) -> Violation:
    """Point sqlfluff's line-1 error for an undeclared var() at the var() call in the file.

    Example:
        >>> v = Violation("m.sql", 1, 1, "TMP", "Unrecoverable failure in Jinja templating: "
        ...     "variable 'x' is not defined (did you mean var('y')?). Have you ...")
        >>> str(_locate_var_error(v, "select\\n  {{ var('x') }} as x"))
        "m.sql:2:6: TMP variable 'x' is not defined (did you mean var('y')?)"
    """
    match = _UNDEFINED_VAR.match(violation.message)
    if violation.code != "TMP" or match is None:
        return violation
    call = re.search(rf"var\(\s*['\"]{re.escape(match.group(2))}['\"]", text)
    if call is None:
        return replace(violation, message=match.group(1))
    line = text.count("\n", 0, call.start()) + 1
    col = call.start() - (text.rfind("\n", 0, call.start()) + 1) + 1
    return replace(violation, line=line, col=col, message=match.group(1))
