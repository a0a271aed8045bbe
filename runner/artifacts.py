"""`target/manifest.json` and `target/run_results.json`, dbt's artifacts in a small stable form.

Both carry `metadata.schema_version`; fields are only ever added within a version.

manifest.json:
  {metadata: {schema_version, runner_version, project_name},
   nodes: {unique_id: node}, sources: {unique_id: {source_name, name, file, description,
   columns}}, macros: {name: {path, checksum}}}
  A model node, unique_id `model.<name>`: {name, resource_type: "model", path,
    original_file_path, compiled_path, fqn, depends_on: {nodes, sources, macros}, config, tags,
    description, columns: {name: {name, description, data_type}}, checksum: {name, checksum},
    config_checksum}
  A test node, unique_id `test.<name>`: {name, resource_type: "test", path, original_file_path,
    compiled_path, depends_on: {nodes, sources, macros}, attached_node (the model a generic test
    is declared on, else null), column_name, test_metadata: {name, kwargs} (generic tests; null
    for singular ones), config: {severity: "error"|"warn", where, store_failures}, checksum,
    config_checksum}
  depends_on.macros lists the macros a node's template calls, directly or through other macros.

run_results.json:
  {metadata: {schema_version, runner_version, target}, args: {command, select, exclude, vars,
   full_refresh, fail_fast, store_failures, target, ...}, started_at, finished_at, elapsed_time,
   success, interrupted, phases: {name: seconds}, results: [result]}
  One result per node the command planned, in run order:
  {unique_id, resource_type, status, message, execution_time, rows_affected, materialized,
   timing, failures}
  status of a model: success | error | skipped; of a test: pass | fail (failing rows, severity
  error) | warn (failing rows, severity warn) | error (the test could not run) | skipped.
  failures: the failing-row count of a test that ran, else null. A skipped node's message says
  why: "upstream <model> failed", "test <name> failed", "model <name> failed",
  "skipped after the first error (--fail-fast)", "interrupted" (SIGINT; the step that was
  running says "interrupted (SIGINT) while running"). `runner retry` re-runs the nodes whose
  status is error, fail or skipped.
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
from runner.errors import ConfigError
from runner.project import Project

if TYPE_CHECKING:
    from runner.build import CompiledProject, NodeResult, RunConfig, RunResult
    from runner.datatests.collect import DataTest
    from runner.templating import CompiledModel

MANIFEST_SCHEMA = "runner/manifest/v1"
RUN_RESULTS_SCHEMA = "runner/run-results/v1"
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
            "compiled_path": f"{project.config.target_path}/compiled/{cm.path.as_posix()}",
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
    for name, test in sorted((tests or {}).items()):
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
    }


def _test_node(project: Project, test: DataTest, calls: dict[str, set[str]]) -> dict[str, Any]:
    config = {"severity": test.severity, "where": test.where, "store_failures": test.store_failures}
    if test.kind == "singular":
        macros = macros_used(next(t.text for t in project.singular_tests if t.path == test.path),
                             calls)
    else:
        macros = macros_used(f"{{{{ {test.macro}() }}}}", calls) if test.macro else []
    return {
        "name": test.name,
        "resource_type": "test",
        "path": test.path.as_posix(),
        "original_file_path": test.path.as_posix(),
        "compiled_path": f"{project.config.target_path}/compiled/tests/{test.name}.sql",
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
        "config_checksum": checksum(json.dumps(config, sort_keys=True, default=str)),
    }


def write_manifest(cp: CompiledProject) -> Path:
    """Write `target/manifest.json` for a compiled project; returns its path."""
    out = cp.project.target_dir
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "manifest.json", build_manifest(cp.project, cp.models, cp.tests))
    return out / "manifest.json"


def write_run_artifacts(cp: CompiledProject, cfg: RunConfig, run: RunResult) -> None:
    write_manifest(cp)
    write_json(cp.project.target_dir / "run_results.json", run_results(cfg, run))


def run_results(cfg: RunConfig, run: RunResult) -> dict[str, Any]:
    return {
        "metadata": {"schema_version": RUN_RESULTS_SCHEMA, "runner_version": __version__,
                     "target": run.target},
        "args": {"command": cfg.command, "select": list(cfg.select), "exclude": list(cfg.exclude),
                 "vars": cfg.vars, "full_refresh": cfg.full_refresh, "fail_fast": cfg.fail_fast,
                 "store_failures": cfg.store_failures, "target": cfg.target_name, **cfg.args},
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat(),
        "elapsed_time": (run.finished_at - run.started_at).total_seconds(),
        "success": run.success,
        "interrupted": run.interrupted,
        "phases": run.phases,
        "results": [
            {"unique_id": r.unique_id, "resource_type": r.resource_type,
             "status": result_status(r), "message": r.message,
             "execution_time": round(r.seconds, 3), "rows_affected": r.rows,
             "materialized": r.materialized, "timing": r.timing, "failures": r.failures}
            for r in run.results
        ],
    }


def result_status(result: NodeResult) -> str:
    """The run_results status: a model's as is; a test's as pass / fail / warn / error / skipped."""
    if result.resource_type != "test":
        return result.status
    if result.status == "success":
        return "pass"
    if result.status == "error" and result.failures:
        return "fail"
    return result.status


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    tmp.replace(path)


def load_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{path} not found", hint="run a build first, or point --state at a saved target/"
        ) from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from exc


def state_predicate(
    state_path: Path,
    project: Project,
    models: dict[str, CompiledModel],
    tests: dict[str, DataTest] | None = None,
) -> Callable[[str, str], bool]:
    """Compare the project with a saved manifest: `state:modified` / `state:new`.

    A node is modified when its file (SQL), its merged config (config(), YAML or project file)
    or a macro it calls (directly or through other macros) differs from the saved manifest, or
    when the saved manifest does not have it. The predicate takes a model name or a unique id.
    """
    path = state_path / "manifest.json" if state_path.is_dir() else state_path
    old = load_json(path)
    old_nodes = old.get("nodes", {})
    old_macros = {n: m["checksum"] for n, m in old.get("macros", {}).items()}
    current = build_manifest(project, models, tests)
    cur_macros = {n: m["checksum"] for n, m in current["macros"].items()}

    def predicate(name: str, kind: str) -> bool:
        uid = name if "." in name else f"model.{name}"
        node = current["nodes"].get(uid)
        before = old_nodes.get(uid)
        if kind == "new":
            return before is None
        if before is None or node is None:
            return True
        if node["checksum"] != before.get("checksum"):
            return True
        if node["config_checksum"] != before.get("config_checksum"):
            return True
        return any(cur_macros.get(m) != old_macros.get(m) for m in node["depends_on"]["macros"])

    return predicate
