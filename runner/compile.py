"""Compile a project once per command: render every model, build the graph, select the nodes,
collect the data tests, check the SQL with sqlglot and write it under `<target>/compiled/`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from runner import manifest
from runner.chart_check import check_dashboards
from runner.config import RunConfig, Target, load_target
from runner.datatests.collect import DataTest, collect_tests
from runner.datatests.unit import UnitTest, collect_unit_tests
from runner.errors import CompilationError, CycleError, Location
from runner.graph import CycleFound, Graph
from runner.paths import prepare_write
from runner.project import Project, load_project
from runner.selection import NodeInfo, select
from runner.sql import check_all, concat_errors
from runner.templating import CompiledModel, Renderer
from runner.variables import validate_vars


@dataclass(frozen=True)
class CompiledProject:
    project: Project
    target: Target
    vars: dict[str, object]
    models: dict[str, CompiledModel]
    graph: Graph
    selected: list[str]
    tests: dict[str, DataTest] = field(default_factory=dict)
    selected_tests: list[str] = field(default_factory=list)
    unit_tests: dict[str, UnitTest] = field(default_factory=dict)
    selected_unit_tests: list[str] = field(default_factory=list)


def compile_project(cfg: RunConfig, *, check_sql: bool = True) -> CompiledProject:
    """Render every model, build the graph, select nodes, sqlglot-check them, write compiled SQL."""
    project = load_project(cfg.project_dir)
    typed_vars = validate_vars(project, cfg.vars)
    target = load_target(
        project.dir, project.config.profile or project.config.name, cfg.target_name,
        cfg.profiles_dir,
    )
    renderer = Renderer(project, typed_vars, full_refresh=cfg.full_refresh,
                        existing_relations=_built_tables(project))
    compiled = {name: renderer.render(m) for name, m in sorted(project.models.items())}
    compiled = {n: c for n, c in compiled.items() if c.config.enabled}
    _check_enabled_refs(compiled)
    graph = _build_graph(compiled)
    tests = collect_tests(project, renderer, compiled)
    units = collect_unit_tests(project, renderer, compiled)
    nodes = selector_nodes(compiled, tests, units)
    state = None
    if cfg.state_path is not None:
        state = manifest.state_predicate(cfg.state_path, project, compiled, tests, units)
    keys = select(graph, nodes, cfg.select, cfg.exclude, state=state,
                  indirect_selection=cfg.indirect_selection)
    selected = [k for k in keys if nodes[k].test_type is None]
    selected_tests = [nodes[k].name for k in keys if nodes[k].test_type in ("generic", "singular")]
    selected_units = [nodes[k].name for k in keys if nodes[k].test_type == "unit"]
    if check_sql:
        errors = check_all([(compiled[n], project.models[n].raw_sql) for n in selected])
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise concat_errors(errors)
        check_dashboards(project, compiled, target)
    _write_compiled(project, compiled, selected, tests, selected_tests)
    for name in selected_units:
        path = prepare_write(project.dir / units[name].compiled.compiled_path, project.target_dir)
        path.write_text(units[name].compiled.sql)
    return CompiledProject(
        project, target, typed_vars, compiled, graph, selected, tests, selected_tests, units,
        selected_units,
    )


def selector_nodes(
    models: dict[str, CompiledModel], tests: dict[str, DataTest], units: dict[str, UnitTest]
) -> dict[str, NodeInfo]:
    """What the selector sees: each model by name, each test by unique id under its models."""
    nodes = {
        n: NodeInfo(n, m.path.as_posix(), tuple(m.config.tags), m.config.model_dump())
        for n, m in models.items()
    }
    for t in tests.values():
        config = {"severity": t.severity, "where": t.where, "store_failures": t.store_failures}
        nodes[t.unique_id] = NodeInfo(
            t.name, t.path.as_posix(), t.tags, config,
            test_type="singular" if t.kind == "singular" else "generic", depends_on=t.refs,
        )
    for u in units.values():
        nodes[u.unique_id] = NodeInfo(u.name, u.path.as_posix(), u.tags, test_type="unit",
                                      depends_on=(u.model,))
    return nodes


def _built_tables(project: Project) -> set[str]:
    """Models whose Parquet copy an earlier build left: is_incremental() is true for them."""
    marts = project.target_layout.marts
    return {name for name in project.models if (marts / name / "_SUCCESS").exists()}


def _check_enabled_refs(compiled: dict[str, CompiledModel]) -> None:
    for model in compiled.values():
        for ref in model.refs:
            if ref not in compiled:
                raise CompilationError(
                    f"model {model.name} refers to disabled model '{ref}'",
                    location=Location(model.path),
                    hint=f"enable {ref} or remove the ref()",
                )


def _build_graph(compiled: dict[str, CompiledModel]) -> Graph:
    try:
        return Graph({n: m.refs for n, m in compiled.items()})
    except CycleFound as cyc:
        first = compiled[cyc.path[0]]
        raise CycleError(
            f"dependency cycle: {' -> '.join(cyc.path)}",
            location=Location(first.path),
            hint="a model cannot depend on itself through ref(); break one of these refs",
        ) from None


def _write_compiled(
    project: Project,
    compiled: dict[str, CompiledModel],
    selected: list[str],
    tests: dict[str, DataTest],
    selected_tests: list[str],
) -> None:
    out = project.target_layout.compiled
    for name in selected:
        prepare_write(out / compiled[name].path, out).write_text(compiled[name].sql)
    for name in selected_tests:
        prepare_write(out / "tests" / f"{name}.sql", out).write_text(tests[name].sql + "\n")


def write_manifest(cp: CompiledProject) -> Path:
    """Write `<target>/manifest.json` of a compiled project; returns its path."""
    return manifest.write_manifest(cp.project, cp.models, cp.tests, cp.unit_tests)
