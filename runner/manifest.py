"""`target/manifest.json`: every node, its dependencies and checksums; and `state:` comparison.

Carries `metadata.schema_version`; fields are only ever added within a version.

  {metadata: {schema_version, runner_version, project_name},
   nodes: {unique_id: node}, sources: {unique_id: {source_name, name, file, description,
   columns}}, macros: {name: {path, checksum}}, unit_tests: {unique_id: unit test}}
  A model node, unique_id `model.<name>`: {name, resource_type: "model", path,
    original_file_path, compiled_path, fqn, depends_on: {nodes, sources, macros}, config, tags,
    description, columns: {name: {name, description, data_type}}, checksum: {name, checksum},
    config_checksum}
  A test node, unique_id `test.<name>`: {name, resource_type: "test", path, original_file_path,
    compiled_path, depends_on: {nodes, sources, macros}, attached_node (the model a generic test
    is declared on, else null), column_name, test_metadata: {name, kwargs} (generic tests; null
    for singular ones), config: {severity: "error"|"warn", where, store_failures}, checksum,
    config_checksum, tags}
  A unit test (in `unit_tests`, as in dbt), unique_id `unit_test.<name>`: {name,
    resource_type: "unit_test", path, original_file_path, compiled_path, model, depends_on:
    {nodes}, tags, checksum (of the model's SQL on the given rows, the given and expected rows)}
  depends_on.macros lists the macros a node's template calls, directly or through other macros.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from jinja2 import nodes as jnodes

from runner import __version__
from runner.artifacts import load_json, write_json
from runner.paths import TargetLayout
from runner.project import Project

if TYPE_CHECKING:
    from runner.datatests.collect import DataTest
    from runner.datatests.unit import UnitTest
    from runner.templating import CompiledModel

MANIFEST_SCHEMA = "runner/manifest/v1"
_MACRO_DEF = re.compile(r"{%-?\s*macro\s+(\w+)\s*\(")


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def macro_index(project: Project) -> dict[str, tuple[str, str]]:
    """Macro name -> (file, checksum of its definition text)."""
    out: dict[str, tuple[str, str]] = {}
    for mf in project.macros:
        parts = _MACRO_DEF.split(mf.text)
        # parts: [prefix, name1, body1, name2, body2, ...]
        for i in range(1, len(parts) - 1, 2):
            out[parts[i]] = (mf.path.as_posix(), checksum(parts[i + 1]))
    return out


def macros_used(text: str, calls: dict[str, set[str]]) -> list[str]:
    """Macros a template calls, directly or through other macros.

    Calls are read from the Jinja syntax tree, so SQL that looks like a call (`count(*)` next to
    a macro named `count`) does not count.

    Example:
        >>> macros_used("select {{ a(x) }}, b(y)", {"a": {"c"}, "b": set(), "c": set()})
        ['a', 'c']
    """
    seen: set[str] = set()
    todo = [n for n in _called_names(text) if n in calls]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += [n for n in calls[name] if n in calls]
    return sorted(seen)


def macro_calls(project: Project) -> dict[str, set[str]]:
    """Macro name -> names its body calls."""
    out: dict[str, set[str]] = {}
    for mf in project.macros:
        tree = _parse(mf.text)
        for macro in tree.find_all(jnodes.Macro) if tree else ():
            out[macro.name] = {
                c.node.name for c in macro.find_all(jnodes.Call) if isinstance(c.node, jnodes.Name)
            }
    return out


def _called_names(text: str) -> set[str]:
    tree = _parse(text)
    if tree is None:
        return set()
    return {c.node.name for c in tree.find_all(jnodes.Call) if isinstance(c.node, jnodes.Name)}


def _parse(text: str) -> jnodes.Template | None:
    try:
        return jinja2.Environment().parse(text)
    except jinja2.TemplateSyntaxError:  # rendering reports it with the file and line
        return None


def build_manifest(
    project: Project,
    models: dict[str, CompiledModel],
    tests: dict[str, DataTest] | None = None,
    unit_tests: dict[str, UnitTest] | None = None,
) -> dict[str, Any]:
    index = macro_index(project)
    calls = macro_calls(project)
    nodes: dict[str, Any] = {}
    for name, cm in sorted(models.items()):
        model = project.models[name]
        config = cm.config.model_dump()
        nodes[model.unique_id] = {
            "name": name,
            "resource_type": "model",
            "path": cm.path.as_posix(),
            "original_file_path": cm.path.as_posix(),
            "compiled_path": (project.config.target_layout.compiled / cm.path).as_posix(),
            "fqn": list(model.fqn),
            "depends_on": {
                "nodes": [f"model.{r}" for r in cm.refs],
                "sources": [f"source.{s}.{t}" for s, t in cm.sources],
                "macros": macros_used(model.raw_sql, calls),
            },
            "config": config,
            "tags": list(cm.config.tags),
            "description": model.description,
            "columns": {c.name: {"name": c.name, "description": c.description,
                                 "data_type": c.data_type} for c in model.columns},
            "checksum": {"name": "sha256", "checksum": checksum(model.raw_sql)},
            "config_checksum": checksum(json.dumps(config, sort_keys=True, default=str)),
        }
    for _, test in sorted((tests or {}).items()):
        nodes[test.unique_id] = _test_node(project, test, calls)
    sources = {
        t.unique_id: {
            "source_name": t.source_name, "name": t.name, "file": t.file,
            "description": t.description,
            "columns": {c.name: {"name": c.name, "data_type": c.data_type,
                                 "description": c.description} for c in t.columns},
        }
        for t in project.sources.values()
    }
    return {
        "metadata": {"schema_version": MANIFEST_SCHEMA, "runner_version": __version__,
                     "project_name": project.config.name},
        "nodes": nodes,
        "sources": sources,
        "macros": {n: {"path": p, "checksum": c} for n, (p, c) in sorted(index.items())},
        "unit_tests": {u.unique_id: _unit_test_node(u)
                       for _, u in sorted((unit_tests or {}).items())},
    }


def _test_node(project: Project, test: DataTest, calls: dict[str, set[str]]) -> dict[str, Any]:
    config = {"severity": test.severity, "where": test.where, "store_failures": test.store_failures}
    if test.kind == "singular":
        macros = macros_used(next(t.text for t in project.singular_tests if t.path == test.path),
                             calls)
    else:
        macros = macros_used(f"{{{{ {test.macro}() }}}}", calls) if test.macro else []
    compiled = project.config.target_layout.compiled / "tests" / f"{test.name}.sql"
    return {
        "name": test.name,
        "resource_type": "test",
        "path": test.path.as_posix(),
        "original_file_path": test.path.as_posix(),
        "compiled_path": compiled.as_posix(),
        "depends_on": {
            "nodes": [f"model.{r}" for r in test.refs],
            "sources": [f"source.{s}.{t}" for s, t in test.sources],
            "macros": macros,
        },
        "attached_node": f"model.{test.model}" if test.model else None,
        "column_name": test.column,
        "test_metadata": None if test.kind == "singular" else {
            "name": test.kind, "kwargs": test.kwargs,
        },
        "config": config,
        "checksum": {"name": "sha256", "checksum": checksum(test.sql)},
        # tags count only when set, so a manifest from before tests had tags still compares
        "config_checksum": checksum(json.dumps(
            {**config, "tags": list(test.tags)} if test.tags else config, sort_keys=True,
            default=str,
        )),
        "tags": list(test.tags),
    }


def _unit_test_node(test: UnitTest) -> dict[str, Any]:
    definition = {
        "sql": test.compiled.sql,
        "given": [[g.input, [dict(r.values) for r in g.rows]] for g in test.given],
        "expect": [dict(r.values) for r in test.expect],
    }
    return {
        "name": test.name,
        "resource_type": "unit_test",
        "path": test.path.as_posix(),
        "original_file_path": test.path.as_posix(),
        "compiled_path": test.compiled.compiled_path,
        "model": test.model,
        "depends_on": {"nodes": [f"model.{test.model}"]},
        "tags": list(test.tags),
        "checksum": {"name": "sha256",
                     "checksum": checksum(json.dumps(definition, sort_keys=True, default=str))},
    }

def write_manifest(
    project: Project,
    models: dict[str, CompiledModel],
    tests: dict[str, DataTest],
    unit_tests: dict[str, UnitTest] | None = None,
) -> Path:
    """Write `<target>/manifest.json`; returns its path."""
    out = project.target_dir
    out.mkdir(parents=True, exist_ok=True)
    write_json(project.target_layout.manifest, build_manifest(project, models, tests, unit_tests))
    return project.target_layout.manifest


def state_predicate(
    state_path: Path,
    project: Project,
    models: dict[str, CompiledModel],
    tests: dict[str, DataTest] | None = None,
    unit_tests: dict[str, UnitTest] | None = None,
) -> Callable[[str, str], bool]:
    """Compare the project with a saved manifest: `state:modified` / `state:new`.

    A node is modified when its file (SQL), its merged config (config(), YAML or project file)
    or a macro it calls (directly or through other macros) differs from the saved manifest, or
    when the saved manifest does not have it. A test is also modified when its model is (the
    model a generic test is declared on, the models a singular test reads, the model a unit test
    runs). The predicate takes a model name or a unique id (`test.<name>`,
    `unit_test.<name>`). A saved manifest from before unit tests were recorded has no
    `unit_tests`: then a unit test follows its model only.
    """
    path = TargetLayout(state_path).manifest if state_path.is_dir() else state_path
    old = load_json(path)
    old_nodes = {**old.get("nodes", {}), **(old.get("unit_tests") or {})}
    old_macros = {n: m["checksum"] for n, m in old.get("macros", {}).items()}
    current = build_manifest(project, models, tests, unit_tests)
    nodes = {**current["nodes"], **current["unit_tests"]}
    cur_macros = {n: m["checksum"] for n, m in current["macros"].items()}
    units_recorded = "unit_tests" in old

    def changed(uid: str, kind: str) -> bool:
        if uid.startswith("unit_test.") and not units_recorded:
            return False
        node = nodes.get(uid)
        before = old_nodes.get(uid)
        if kind == "new":
            return before is None
        if before is None or node is None:
            return True
        if node["checksum"] != before.get("checksum"):
            return True
        if node.get("config_checksum") != before.get("config_checksum"):
            return True
        macros = node["depends_on"].get("macros", [])
        return any(cur_macros.get(m) != old_macros.get(m) for m in macros)

    def predicate(name: str, kind: str) -> bool:
        uid = name if "." in name else f"model.{name}"
        if changed(uid, kind):
            return True
        node = nodes.get(uid) or {}
        if kind != "modified" or node.get("resource_type") not in ("test", "unit_test"):
            return False
        models = [node["attached_node"]] if node.get("attached_node") else (
            node["depends_on"]["nodes"])
        return any(changed(m, "modified") for m in models)

    return predicate
