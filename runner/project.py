"""Discover a project on disk: models, their YAML docs, sources and macros (frozen dataclasses)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NewType

from runner.config import ProjectConfig, load_project_config
from runner.errors import ConfigError, Location
from runner.paths import TargetLayout
from runner.yaml_files import ModelSpec, SchemaFile, find_line, load_schema_file

UniqueId = NewType("UniqueId", str)
_NAME = re.compile(r"[A-Za-z0-9_]+")


def normalize_name(name: str) -> str:
    """The one spelling of a model or relation name used for keys and comparisons.

    Example:
        >>> normalize_name("  Stg_Onboarding ")
        'stg_onboarding'
    """
    return name.strip().lower()


@dataclass(frozen=True)
class Column:
    name: str
    description: str = ""
    data_type: str | None = None
    tests: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Model:
    """A `.sql` file under a model path."""

    name: str
    path: Path  # relative to the project folder
    raw_sql: str
    fqn: tuple[str, ...]  # folders under the model path, then the name
    description: str = ""
    columns: tuple[Column, ...] = ()
    yaml_config: dict[str, Any] = field(default_factory=dict)
    tests: tuple[Any, ...] = ()
    yaml_path: Path | None = None

    @property
    def unique_id(self) -> UniqueId:
        return UniqueId(f"model.{self.name}")


@dataclass(frozen=True)
class SourceTable:
    """One raw table of a `sources:` entry."""

    source_name: str
    name: str
    file: str
    path_template: str  # folder, may contain {{ var('raw_dir') }}
    format: str
    columns: tuple[Column, ...]
    description: str = ""
    yaml_path: Path | None = None

    @property
    def unique_id(self) -> UniqueId:
        return UniqueId(f"source.{self.source_name}.{self.name}")


@dataclass(frozen=True)
class MacroFile:
    path: Path  # relative to the project folder
    text: str


@dataclass(frozen=True)
class Project:
    dir: Path
    config: ProjectConfig
    models: dict[str, Model]
    sources: dict[tuple[str, str], SourceTable]
    macros: tuple[MacroFile, ...]
    singular_tests: tuple[MacroFile, ...] = ()
    unit_tests: tuple[UnitTestDef, ...] = ()

    @property
    def target_dir(self) -> Path:
        return self.dir / self.config.target_path

    @property
    def target_layout(self) -> TargetLayout:
        return TargetLayout(self.target_dir)


@dataclass(frozen=True)
class UnitTestDef:
    """A `unit_tests:` entry of a YAML file, kept as written (not run yet)."""

    path: Path  # the YAML file, relative to the project folder
    line: int | None
    definition: dict[str, Any]


def validate_name(name: str, what: str, location: Location, *, hint: str | None = None) -> str:
    """Check that a model, test, seed, source or dashboard name is letters, digits and `_`.

    Names become view, table and file names (`target/compiled/<name>.sql`), so one that is a
    path, such as `..` or `/tmp/x`, would write outside the project.

    Raises:
        ConfigError: at `location`, naming the bad name.

    Example:
        >>> validate_name("stg_users", "model", Location("models/stg_users.sql"))
        'stg_users'
    """
    if _NAME.fullmatch(name):
        return name
    suggestion = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")
    raise ConfigError(
        f"{what} name '{name}' is not allowed: use only letters, digits and _",
        location=location,
        hint=hint or (f"rename it, e.g. '{suggestion}'" if suggestion else "give it a name"),
    )


def load_project(project_dir: Path) -> Project:
    """Read the project file and every model, YAML doc, source and macro under it."""
    project_dir = project_dir.resolve()
    config = load_project_config(project_dir)
    models: dict[str, Model] = {}
    docs: dict[str, tuple[ModelSpec, Path]] = {}
    sources: dict[tuple[str, str], SourceTable] = {}
    unit_tests: list[UnitTestDef] = []
    for model_path in config.model_paths:
        root = project_dir / model_path
        for yml in sorted([*root.rglob("*.yml"), *root.rglob("*.yaml")]):
            rel = yml.relative_to(project_dir)
            schema = load_schema_file(yml, rel)
            _add_docs(schema, rel, docs)
            _add_sources(schema, rel, sources)
            unit_tests += [UnitTestDef(rel, find_line(u), dict(u)) for u in schema.unit_tests]
        for sql_file in sorted(root.rglob("*.sql")):
            rel = sql_file.relative_to(project_dir)
            validate_name(
                sql_file.stem, "model", Location(rel),
                hint="rename the file: a model is named after its file (letters, digits, _)",
            )
            name = normalize_name(sql_file.stem)
            if name in models:
                raise ConfigError(
                    f"two models are named '{name}': {models[name].path} and {rel}",
                    hint="rename one of the files: model names must be unique",
                )
            fqn = (*sql_file.relative_to(root).parent.parts, name)
            models[name] = Model(name=name, path=rel, raw_sql=sql_file.read_text(), fqn=fqn)
    for name, (spec, rel) in docs.items():
        if name not in models:
            raise ConfigError(
                f"YAML documents model '{name}' but there is no {name}.sql",
                location=Location(rel, spec.line),
                hint="fix the name in the YAML or remove the entry",
            )
        models[name] = _with_docs(models[name], spec, rel)
    macros = tuple(
        MacroFile(p.relative_to(project_dir), p.read_text())
        for mp in config.macro_paths
        for p in sorted((project_dir / mp).rglob("*.sql"))
    )
    tests = tuple(
        MacroFile(p.relative_to(project_dir), p.read_text())
        for tp in config.test_paths
        for p in sorted((project_dir / tp).rglob("*.sql"))
    )
    return Project(project_dir, config, models, sources, macros, tests, tuple(unit_tests))


def _add_docs(schema: SchemaFile, rel: Path, docs: dict[str, tuple[ModelSpec, Path]]) -> None:
    for spec in schema.models:
        validate_name(spec.name, "model", Location(rel, spec.line))
        name = normalize_name(spec.name)
        if name in docs:
            other, other_rel = docs[name]
            raise ConfigError(
                f"model '{name}' is documented twice: here and at {other_rel}:{other.line}",
                location=Location(rel, spec.line),
                hint="merge the two entries into one",
            )
        docs[name] = (spec, rel)


def _add_sources(
    schema: SchemaFile, rel: Path, sources: dict[tuple[str, str], SourceTable]
) -> None:
    for src in schema.sources:
        validate_name(src.name, "source", Location(rel, src.line))
        for table in src.tables:
            validate_name(table.name, "source table", Location(rel, table.line))
            key = (normalize_name(src.name), normalize_name(table.name))
            if key in sources:
                raise ConfigError(
                    f"source table {key[0]}.{key[1]} is declared twice "
                    f"(also in {sources[key].yaml_path})",
                    location=Location(rel, table.line),
                    hint="keep one declaration of each table",
                )
            sources[key] = SourceTable(
                source_name=key[0],
                name=key[1],
                file=table.file or f"{table.name}.csv",
                path_template=table.path or src.path,
                format=table.format or src.format,
                columns=tuple(
                    Column(normalize_name(c.name), c.description, c.data_type)
                    for c in table.columns
                ),
                description=table.description,
                yaml_path=rel,
            )


def _with_docs(model: Model, spec: ModelSpec, yml: Path) -> Model:
    return Model(
        name=model.name,
        path=model.path,
        raw_sql=model.raw_sql,
        fqn=model.fqn,
        description=spec.description,
        columns=tuple(
            Column(normalize_name(c.name), c.description, c.data_type, tuple(c.all_tests))
            for c in spec.columns
        ),
        yaml_config=dict(spec.config),
        tests=tuple(spec.all_tests),
        yaml_path=yml,
    )


def folder_config(config: ProjectConfig, model: Model) -> dict[str, Any]:
    """Merge the `models:` configs of the project file along the model's folders.

    Keys at each level that are not sub-folders apply to everything below; deeper wins.
    """
    merged: dict[str, Any] = {}
    level: Any = config.models
    for part in model.fqn[:-1]:
        if not isinstance(level, dict):
            break
        merged.update({k: v for k, v in level.items() if not isinstance(v, dict)})
        level = level.get(part, {})
    if isinstance(level, dict):
        merged.update({k: v for k, v in level.items() if not isinstance(v, dict)})
    return merged
