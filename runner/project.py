"""Discover a project on disk: models, their YAML docs, sources and macros, as frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NewType

import yaml

from runner.config import ProjectConfig, load_project_config
from runner.errors import ConfigError, Location

UniqueId = NewType("UniqueId", str)


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

    @property
    def target_dir(self) -> Path:
        return self.dir / self.config.target_path


def load_project(project_dir: Path) -> Project:
    """Read the project file and every model, YAML doc, source and macro under it."""
    project_dir = project_dir.resolve()
    config = load_project_config(project_dir)
    models: dict[str, Model] = {}
    docs: dict[str, tuple[dict[str, Any], Path]] = {}
    sources: dict[tuple[str, str], SourceTable] = {}
    for model_path in config.model_paths:
        root = project_dir / model_path
        for yml in sorted([*root.rglob("*.yml"), *root.rglob("*.yaml")]):
            _read_schema_yaml(project_dir, yml, docs, sources)
        for sql_file in sorted(root.rglob("*.sql")):
            rel = sql_file.relative_to(project_dir)
            name = normalize_name(sql_file.stem)
            if name in models:
                raise ConfigError(
                    f"two models are named '{name}': {models[name].path} and {rel}",
                    hint="rename one of the files: model names must be unique",
                )
            fqn = (*sql_file.relative_to(root).parent.parts, name)
            models[name] = Model(name=name, path=rel, raw_sql=sql_file.read_text(), fqn=fqn)
    for name, (doc, yml) in docs.items():
        if name not in models:
            raise ConfigError(
                f"YAML documents model '{name}' but there is no {name}.sql",
                location=Location(yml.relative_to(project_dir)),
                hint="fix the name in the YAML or remove the entry",
            )
        models[name] = _with_docs(models[name], doc, yml.relative_to(project_dir))
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
    return Project(project_dir, config, models, sources, macros, tests)


def _read_schema_yaml(
    project_dir: Path,
    yml: Path,
    docs: dict[str, tuple[dict[str, Any], Path]],
    sources: dict[tuple[str, str], SourceTable],
) -> None:
    rel = yml.relative_to(project_dir)
    try:
        data = yaml.safe_load(yml.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(
            f"invalid YAML: {getattr(exc, 'problem', exc)}",
            location=Location(rel, mark.line + 1 if mark else None, mark.column + 1 if mark else None),
            source=yml.read_text(),
        ) from exc
    for entry in data.get("models") or []:
        docs[normalize_name(entry["name"])] = (entry, yml)
    for src in data.get("sources") or []:
        for table in src.get("tables") or []:
            key = (normalize_name(src["name"]), normalize_name(table["name"]))
            sources[key] = SourceTable(
                source_name=key[0],
                name=key[1],
                file=table.get("file", f"{table['name']}.csv"),
                path_template=str(src.get("path", ".")),
                format=src.get("format", "csv"),
                columns=tuple(_to_column(c) for c in table.get("columns") or []),
                description=table.get("description", ""),
                yaml_path=rel,
            )


def _to_column(entry: dict[str, Any]) -> Column:
    return Column(
        name=normalize_name(entry["name"]),
        description=entry.get("description", "") or "",
        data_type=entry.get("data_type"),
        tests=tuple(entry.get("tests") or entry.get("data_tests") or ()),
    )


def _with_docs(model: Model, doc: dict[str, Any], yml: Path) -> Model:
    return Model(
        name=model.name,
        path=model.path,
        raw_sql=model.raw_sql,
        fqn=model.fqn,
        description=doc.get("description", "") or "",
        columns=tuple(_to_column(c) for c in doc.get("columns") or []),
        yaml_config=dict(doc.get("config") or {}),
        tests=tuple(doc.get("tests") or doc.get("data_tests") or ()),
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
