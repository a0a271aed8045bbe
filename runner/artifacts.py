"""`target/manifest.json` and `target/run_results.json`, dbt's artifacts in a small stable form.

Both carry `metadata.schema_version`; fields are only ever added within a version.
manifest.json: {metadata, nodes: {unique_id: {name, resource_type, path, original_file_path,
  compiled_path, depends_on: {nodes, sources, macros}, config, tags, description, columns,
  checksum}}, sources: {...}, macros: {name: {path, checksum}}}
run_results.json: {metadata, args, started_at, finished_at, elapsed_time, success,
  results: [{unique_id, status, message, execution_time, rows_affected, timing}]}
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner import __version__
from runner.errors import ConfigError
from runner.project import Project

if TYPE_CHECKING:
    from runner.build import CompiledProject, RunConfig, RunResult
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


def macros_used(text: str, index: dict[str, tuple[str, str]], bodies: dict[str, str]) -> list[str]:
    """Macros a template calls, directly or through other macros."""
    seen: set[str] = set()
    todo = [text]
    while todo:
        chunk = todo.pop()
        for name in index:
            if name not in seen and re.search(rf"\b{re.escape(name)}\s*\(", chunk):
                seen.add(name)
                todo.append(bodies.get(name, ""))
    return sorted(seen)


def _macro_bodies(project: Project) -> dict[str, str]:
    bodies: dict[str, str] = {}
    for mf in project.macros:
        parts = _MACRO_DEF.split(mf.text)
        for i in range(1, len(parts) - 1, 2):
            bodies[parts[i]] = parts[i + 1]
    return bodies


def build_manifest(project: Project, models: dict[str, CompiledModel]) -> dict[str, Any]:
    index = macro_index(project)
    bodies = _macro_bodies(project)
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
                "macros": macros_used(model.raw_sql, index, bodies),
            },
            "config": config,
            "tags": list(cm.config.tags),
            "description": model.description,
            "columns": {c.name: {"name": c.name, "description": c.description}
                        for c in model.columns},
            "checksum": {"name": "sha256", "checksum": checksum(model.raw_sql)},
            "config_checksum": checksum(json.dumps(config, sort_keys=True, default=str)),
        }
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


def write_run_artifacts(cp: CompiledProject, cfg: RunConfig, run: RunResult) -> None:
    out = cp.project.target_dir
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "manifest.json", build_manifest(cp.project, cp.models))
    write_json(out / "run_results.json", run_results(cfg, run))


def run_results(cfg: RunConfig, run: RunResult) -> dict[str, Any]:
    return {
        "metadata": {"schema_version": RUN_RESULTS_SCHEMA, "runner_version": __version__,
                     "target": run.target},
        "args": {"command": cfg.command, "select": list(cfg.select), "exclude": list(cfg.exclude),
                 "vars": cfg.vars, "full_refresh": cfg.full_refresh, "fail_fast": cfg.fail_fast,
                 "target": cfg.target_name, **cfg.args},
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat(),
        "elapsed_time": (run.finished_at - run.started_at).total_seconds(),
        "success": run.success,
        "phases": run.phases,
        "results": [
            {"unique_id": f"model.{r.name}" if "." not in r.name else r.name,
             "status": r.status, "message": r.message,
             "execution_time": round(r.seconds, 3), "rows_affected": r.rows,
             "materialized": r.materialized, "timing": r.timing}
            for r in run.results
        ],
    }


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
    state_path: Path, project: Project, models: dict[str, CompiledModel]
) -> Callable[[str, str], bool]:
    """Compare the project with a saved manifest: `state:modified` / `state:new`."""
    path = state_path / "manifest.json" if state_path.is_dir() else state_path
    old = load_json(path)
    old_nodes = old.get("nodes", {})
    old_macros = {n: m["checksum"] for n, m in old.get("macros", {}).items()}
    current = build_manifest(project, models)
    cur_macros = {n: m["checksum"] for n, m in current["macros"].items()}

    def predicate(name: str, kind: str) -> bool:
        node = current["nodes"].get(f"model.{name}")
        before = old_nodes.get(f"model.{name}")
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
