"""Render models with Jinja: ref(), source(), config(), var(), env_var(), is_incremental(),
this + macros.

Rendering a model records what it refers to, so the graph comes from the templates themselves.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import jinja2
from pydantic import ValidationError

from runner.config import ModelConfig, env_var
from runner.errors import CompilationError, Location
from runner.project import Model, Project, folder_config, normalize_name


@dataclass(frozen=True)
class CompiledModel:
    """A model after rendering."""

    name: str
    path: Path
    sql: str
    refs: tuple[str, ...]
    sources: tuple[tuple[str, str], ...]
    config: ModelConfig
    line_map: tuple[int, ...]  # compiled line i (0-based) -> source line (1-based)
    compiled_path: str = ""  # where `runner compile` writes the SQL, e.g. target/compiled/<path>
    vars: tuple[str, ...] = ()  # the vars its rendering read (macros' included), sorted

    def source_line(self, compiled_line: int) -> int:
        """Map a 1-based line of the compiled SQL to the line in the `.sql` file."""
        if not self.line_map:
            return compiled_line
        idx = min(max(compiled_line - 1, 0), len(self.line_map) - 1)
        return self.line_map[idx]


@dataclass(frozen=True)
class RenderedText:
    """A non-model template after rendering: its SQL and what it refers to."""

    sql: str
    refs: tuple[str, ...]
    sources: tuple[tuple[str, str], ...]
    config: dict[str, Any]


@dataclass
class _ModelState:
    model: Model
    refs: list[str] = field(default_factory=list)
    sources: list[tuple[str, str]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    relations: Mapping[str, str] = field(default_factory=dict)
    vars: Mapping[str, Any] | None = None  # instead of the renderer's
    vars_read: set[str] = field(default_factory=set)


class Renderer:
    """Owns one Jinja environment with every macro loaded; renders models one at a time."""

    def __init__(
        self,
        project: Project,
        vars: dict[str, Any] | None = None,
        *,
        existing_relations: set[str] | None = None,
        full_refresh: bool = False,
    ) -> None:
        self.project = project
        self.vars = {**project.config.vars, **(vars or {})}
        self.existing = existing_relations or set()
        self.full_refresh = full_refresh
        self._state: _ModelState | None = None
        self._vars_read_outside: set[str] = set()  # by macro files as they load
        sources = {str(m.path): m.raw_sql for m in project.models.values()}
        sources.update({str(m.path): m.text for m in project.macros})
        sources.update({str(t.path): t.text for t in project.singular_tests})
        self.env = jinja2.Environment(
            loader=jinja2.FunctionLoader(lambda name: sources.get(name)),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
        )
        self.env.globals.update(
            ref=self._ref,
            source=self._source,
            config=self._config,
            var=self._var,
            env_var=partial(env_var, error=CompilationError),
            is_incremental=self._is_incremental,
            run_started_at=None,
        )
        for macro in project.macros:
            module = self._load(macro.path).make_module()
            for name in dir(module):
                if not name.startswith("_"):
                    self.env.globals[name] = getattr(module, name)

    def _load(self, path: Path) -> jinja2.Template:
        try:
            return self.env.get_template(str(path))
        except jinja2.TemplateSyntaxError as exc:
            raise CompilationError(
                f"Jinja syntax error: {exc.message}",
                location=Location(path, exc.lineno),
                source=exc.source,
                hint="check the {% %} / {{ }} tags on that line",
            ) from exc

    def render(
        self,
        model: Model,
        *,
        relations: Mapping[str, str] | None = None,
        vars: Mapping[str, Any] | None = None,
    ) -> CompiledModel:
        """Render one model; raises CompilationError pointing at the model's file and line.

        A unit test renders its model with `relations`, which maps what a ref() or source()
        would render (a model name, or `source_view_name(...)`) to the view of its given rows,
        and with `vars` (every var, its overrides included) instead of the renderer's.
        """
        self._state = _ModelState(model, relations=relations or {}, vars=vars)
        try:
            sql = self._load(model.path).render(this=f"`{this_relation(model.name)}`")
        except CompilationError:
            raise
        except jinja2.TemplateError as exc:
            line = _template_line(exc, model)
            raise CompilationError(
                f"Jinja error in model {model.name}: {exc}",
                location=Location(model.path, line),
                source=model.raw_sql,
            ) from exc
        state, self._state = self._state, None
        merged = {**folder_config(self.project.config, model), **model.yaml_config, **state.config}
        try:
            config = ModelConfig.model_validate(merged)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise CompilationError(
                f"invalid config for model {model.name}: "
                f"{'.'.join(map(str, first['loc']))}: {first['msg']}",
                location=Location(model.path, _find_line(model.raw_sql, r"config\s*\(")),
                source=model.raw_sql,
            ) from exc
        return CompiledModel(
            name=model.name,
            path=model.path,
            sql=sql.strip() + "\n",
            refs=tuple(dict.fromkeys(state.refs)),
            sources=tuple(dict.fromkeys(state.sources)),
            config=config,
            line_map=map_lines(model.raw_sql, sql.strip() + "\n"),
            compiled_path=(self.project.config.target_layout.compiled / model.path).as_posix(),
            vars=tuple(sorted(state.vars_read | self._vars_read_outside)),
        )

    def render_text(self, path: Path) -> tuple[str, list[str], list[tuple[str, str]]]:
        """Render a non-model template (a singular test): SQL, refs and sources."""
        self._state = _ModelState(Model(name=path.stem, path=path, raw_sql="", fqn=(path.stem,)))
        try:
            sql = self._load(path).render()
        except jinja2.TemplateError as exc:
            raise CompilationError(f"Jinja error: {exc}", location=Location(path)) from exc
        state, self._state = self._state, None
        return sql, state.refs, state.sources

    def render_snippet(
        self, text: str, path: Path, *, owner: str | None = None, **context: Any
    ) -> RenderedText:
        """Render template text that belongs to `path` (a data test), recording refs and config.

        Args:
            text: the template; it sees every macro, ref/source/var/config and `context`.
            path: the file the text comes from, for error locations.
            owner: the name errors mention (default: the file's stem).
            context: extra template variables.
        """
        name = owner or path.stem
        self._state = _ModelState(Model(name=name, path=path, raw_sql=text, fqn=(name,)))
        try:
            sql = self.env.from_string(text).render(**context)
        except CompilationError:
            raise
        except jinja2.TemplateError as exc:
            raise CompilationError(
                f"Jinja error: {exc}",
                location=Location(path, getattr(exc, "lineno", None)),
                source=text if getattr(exc, "lineno", None) else None,
            ) from exc
        except TypeError as exc:  # a macro called with an argument it does not take
            raise CompilationError(f"Jinja error: {exc}", location=Location(path)) from exc
        finally:
            state, self._state = self._state, None
        return RenderedText(
            sql=sql.strip(),
            refs=tuple(dict.fromkeys(state.refs)),
            sources=tuple(dict.fromkeys(state.sources)),
            config=dict(state.config),
        )

    # -- functions available in templates ------------------------------------------------------

    def _current(self) -> _ModelState:
        assert self._state is not None, "ref()/source()/config() called outside a model render"
        return self._state

    def _ref(self, name: str) -> str:
        state = self._current()
        key = normalize_name(name)
        if key not in self.project.models:
            close = difflib.get_close_matches(key, list(self.project.models), n=1)
            raise _error_at(
                state,
                rf"ref\(\s*['\"]{re.escape(name)}['\"]",
                f"model '{name}' not found (in ref() of model {state.model.name})",
                hint=f"did you mean ref('{close[0]}')?" if close else "check the model name",
            )
        state.refs.append(key)
        return f"`{state.relations.get(key, key)}`"

    def _source(self, source_name: str, table: str) -> str:
        state = self._current()
        key = (normalize_name(source_name), normalize_name(table))
        if key not in self.project.sources:
            known = [f"{s}.{t}" for s, t in self.project.sources]
            close = difflib.get_close_matches(f"{key[0]}.{key[1]}", known, n=1)
            raise _error_at(
                state,
                rf"source\(\s*['\"]{re.escape(source_name)}",
                f"source '{source_name}.{table}' not found (in model {state.model.name})",
                hint=f"did you mean '{close[0]}'?" if close else "declare it in a sources: YAML",
            )
        state.sources.append(key)
        view = source_view_name(*key)
        return f"`{state.relations.get(view, view)}`"

    def _config(self, **kwargs: Any) -> str:
        self._current().config.update(kwargs)
        return ""

    def _var(self, name: str, default: Any = jinja2.Undefined) -> Any:
        values = self.vars if self._state is None or self._state.vars is None else self._state.vars
        (self._vars_read_outside if self._state is None else self._state.vars_read).add(name)
        if name in values:
            return values[name]
        if default is not jinja2.Undefined:
            return default
        close = difflib.get_close_matches(name, list(self.vars), n=1)
        hint = (
            f"did you mean var('{close[0]}')?"
            if close
            else f"set it under vars: in runner_project.yml or pass --vars '{{{name}: ...}}'"
        )
        message = f"variable '{name}' is not defined"
        if self._state is None:
            raise CompilationError(message, hint=hint)
        raise _error_at(self._state, rf"var\(\s*['\"]{re.escape(name)}", message, hint=hint)

    def _is_incremental(self) -> bool:
        state = self._current()
        materialized = {**folder_config(self.project.config, state.model), **state.config}.get(
            "materialized"
        )
        return (
            materialized == "incremental"
            and not self.full_refresh
            and state.model.name in self.existing
        )


def this_relation(name: str) -> str:
    """The view of an incremental model's stored rows, which `{{ this }}` renders to.

    Example:
        >>> this_relation("int_user_window_activity")
        'int_user_window_activity__existing'
    """
    return f"{name}__existing"


def source_view_name(source_name: str, table: str) -> str:
    """The temp view a source table is registered as.

    Example:
        >>> source_view_name("raw", "dim_users")
        'src__raw__dim_users'
    """
    return f"src__{source_name}__{table}"


def _error_at(state: _ModelState, pattern: str, message: str, *, hint: str) -> CompilationError:
    """An error at the first line of the model being rendered that matches regex `pattern`."""
    model = state.model
    return CompilationError(
        message,
        location=Location(model.path, _find_line(model.raw_sql, pattern)),
        source=model.raw_sql or None,
        hint=hint,
    )


def _find_line(text: str, pattern: str) -> int | None:
    match = re.search(pattern, text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _template_line(exc: BaseException, model: Model) -> int | None:
    lineno = getattr(exc, "lineno", None)
    if lineno:
        return int(lineno)
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(model.path):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def map_lines(source: str, rendered: str) -> tuple[int, ...]:
    """For each rendered line, the 1-based source line it most likely came from.

    Equal lines map one to one; lines produced by a Jinja block map to the block's first line.

    Example:
        >>> map_lines("{{ config(x=1) }}\\nselect 1\\nfrom t", "\\nselect 1\\nfrom t")
        (1, 2, 3)
    """
    src = source.splitlines()
    out = rendered.splitlines()
    result = [1] * len(out)
    matcher = difflib.SequenceMatcher(None, src, out, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        for k, j in enumerate(range(j1, j2)):
            if tag == "equal":
                result[j] = i1 + k + 1
            else:
                result[j] = min(i1 + min(k, max(i2 - i1 - 1, 0)), max(len(src) - 1, 0)) + 1
    return tuple(result)
