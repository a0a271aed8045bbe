"""Compile the project and walk the selected DAG on Spark: materialize, skip what follows a failure."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner import artifacts
from runner.config import Target, load_target
from runner.errors import CompilationError, CycleError, ExecutionError, Location, RunnerError
from runner.graph import Graph, CycleFound
from runner.project import Project, load_project
from runner.selection import NodeInfo, select
from runner.sql import check_all, concat_errors
from runner.templating import CompiledModel, Renderer

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class RunConfig:
    """Everything a command needs, parsed from the CLI (or given by a test)."""

    project_dir: Path = Path(".")
    profiles_dir: Path | None = None
    target_name: str | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    full_refresh: bool = False
    fail_fast: bool = False
    state_path: Path | None = None
    command: str = "build"
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CompiledProject:
    project: Project
    target: Target
    vars: dict[str, Any]
    models: dict[str, CompiledModel]
    graph: Graph
    selected: list[str]


@dataclass(frozen=True)
class NodeResult:
    name: str
    status: str  # success | error | skipped | warn
    message: str
    seconds: float = 0.0
    rows: int | None = None
    materialized: str = ""
    path: str = ""
    timing: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RunResult:
    command: str
    started_at: datetime
    finished_at: datetime
    results: list[NodeResult]
    target: str
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return not any(r.status == "error" for r in self.results)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)


@dataclass(frozen=True)
class NodeStarted:
    index: int
    total: int
    name: str
    materialized: str


@dataclass(frozen=True)
class NodeFinished:
    index: int
    total: int
    result: NodeResult


@dataclass(frozen=True)
class Info:
    message: str


Event = NodeStarted | NodeFinished | Info
Callback = Callable[[Event], None]


def _noop(_: Event) -> None:
    pass


def compile_project(cfg: RunConfig, *, check_sql: bool = True) -> CompiledProject:
    """Render every model, build the graph, select nodes, sqlglot-check them, write compiled SQL."""
    project = load_project(cfg.project_dir)
    target = load_target(
        project.dir, project.config.profile or project.config.name, cfg.target_name, cfg.profiles_dir
    )
    renderer = Renderer(project, cfg.vars, full_refresh=cfg.full_refresh)
    compiled = {name: renderer.render(m) for name, m in sorted(project.models.items())}
    compiled = {n: c for n, c in compiled.items() if c.config.enabled}
    for model in compiled.values():
        for ref in model.refs:
            if ref not in compiled:
                raise CompilationError(
                    f"model {model.name} refers to disabled model '{ref}'",
                    location=Location(model.path),
                    hint=f"enable {ref} or remove the ref()",
                )
    try:
        graph = Graph({n: m.refs for n, m in compiled.items()})
    except CycleFound as cyc:
        first = compiled[cyc.path[0]]
        raise CycleError(
            f"dependency cycle: {' -> '.join(cyc.path)}",
            location=Location(first.path),
            hint="a model cannot depend on itself through ref(); break one of these refs",
        ) from None
    infos = {
        n: NodeInfo(n, m.path.as_posix(), tuple(m.config.tags), m.config.model_dump())
        for n, m in compiled.items()
    }
    state = None
    if cfg.state_path is not None:
        state = artifacts.state_predicate(cfg.state_path, project, compiled)
    selected = select(graph, infos, cfg.select, cfg.exclude, state=state)
    if check_sql:
        errors = check_all([(compiled[n], project.models[n].raw_sql) for n in selected])
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise concat_errors(errors)
    out = project.target_dir / "compiled"
    for name in selected:
        path = out / compiled[name].path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(compiled[name].sql)
    merged_vars = {**project.config.vars, **cfg.vars}
    return CompiledProject(project, target, merged_vars, compiled, graph, selected)


def run_build(
    cfg: RunConfig,
    callback: Callback = _noop,
    *,
    spark: SparkSession | None = None,
) -> RunResult:
    """Build the selected models in graph order. Returns results; never raises for a model error.

    Args:
        cfg: the run's options.
        callback: receives progress events (the CLI renders them).
        spark: an existing session to use (tests); by default one is created from the target.
    """
    from runner import services
    from runner.materializations import MaterializeContext, materialize
    from runner.spark import create_session, run_sql, to_execution_error

    started_at = datetime.now(timezone.utc)
    phases: dict[str, float] = {}
    t0 = time.perf_counter()
    cp = compile_project(cfg)
    phases["compile"] = time.perf_counter() - t0
    project, target = cp.project, cp.target
    uses_cassandra = any(cp.models[n].config.materialized == "cassandra" for n in cp.selected)

    t0 = time.perf_counter()
    extra_conf: dict[str, str] = {}
    if uses_cassandra and target.cassandra is not None:
        extra_conf = services.prepare_cassandra(project.dir, target, callback)
    phases["services"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if spark is None:
        spark = create_session(target.spark, project.target_dir / "spark-warehouse", extra_conf)
    elif extra_conf:
        services.apply_runtime_conf(spark, extra_conf)
    phases["spark_start"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    marts_dir = project.target_dir / "marts"
    register_inputs(cp, spark, cp.selected)
    phases["sources"] = time.perf_counter() - t0

    ctx = MaterializeContext(spark, target, marts_dir, cfg.full_refresh)
    results: list[NodeResult] = []
    failed: dict[str, str] = {}
    total = len(cp.selected)
    t_models = time.perf_counter()
    interrupted = False
    for index, name in enumerate(cp.selected, start=1):
        model = cp.models[name]
        raw = project.models[name].raw_sql
        blocked = sorted(cp.graph.ancestors(name) & set(failed))
        if interrupted or (cfg.fail_fast and failed):
            reason = "interrupted" if interrupted else "skipped after the first error (--fail-fast)"
            results.append(_skip(model, reason))
            callback(NodeFinished(index, total, results[-1]))
            continue
        if blocked:
            results.append(_skip(model, f"upstream {blocked[0]} failed"))
            failed[name] = "skipped"
            callback(NodeFinished(index, total, results[-1]))
            continue
        callback(NodeStarted(index, total, name, model.config.materialized))
        started = time.perf_counter()
        try:
            df = run_sql(spark, model, raw)
            outcome = materialize(ctx, model, df)
            timing = {"total": time.perf_counter() - started}
            if outcome.cassandra_seconds is not None:
                timing["cassandra"] = outcome.cassandra_seconds
            result = NodeResult(
                name, "success", outcome.message, timing["total"], outcome.rows,
                model.config.materialized, model.path.as_posix(), timing,
            )
        except KeyboardInterrupt:
            interrupted = True
            result = _skip(model, "interrupted (SIGINT)", started)
            failed[name] = "interrupted"
        except RunnerError as err:
            result = _error(model, started, str(err))
            failed[name] = "error"
        except Exception as exc:  # Spark raises Py4J and runtime errors from actions
            err = to_execution_error(exc, model, raw)
            result = _error(model, started, str(err))
            failed[name] = "error"
        results.append(result)
        callback(NodeFinished(index, total, result))
    phases["models"] = time.perf_counter() - t_models

    finished_at = datetime.now(timezone.utc)
    run = RunResult(cfg.command, started_at, finished_at, results, target.name, phases)
    if uses_cassandra and target.cassandra is not None and not interrupted:
        services.record_build(target, run, callback)
    artifacts.write_run_artifacts(cp, cfg, run)
    if interrupted:
        raise KeyboardInterrupt
    return run


def register_inputs(cp: CompiledProject, spark: SparkSession, names: list[str]) -> None:
    """Register the sources and unselected upstream models that `names` read.

    An upstream table-like model built by an earlier run is read from its Parquet copy;
    anything else becomes a (lazy) temp view, so selecting one model always works.
    """
    from runner.materializations import register_existing
    from runner.sources import register_source
    from runner.spark import run_sql

    project = cp.project
    needed = set(names)
    for name in names:
        needed |= cp.graph.ancestors(name)
    for key in sorted({s for n in needed for s in cp.models[n].sources}):
        register_source(spark, project, project.sources[key], cp.vars)
    marts_dir = project.target_dir / "marts"
    for name in cp.graph.order(needed - set(names)):
        model = cp.models[name]
        if model.config.materialized in ("table", "cassandra") and register_existing(
            spark, name, marts_dir
        ):
            continue
        run_sql(spark, model, project.models[name].raw_sql).createOrReplaceTempView(name)


def _skip(model: CompiledModel, reason: str, started: float | None = None) -> NodeResult:
    seconds = time.perf_counter() - started if started else 0.0
    return NodeResult(
        model.name, "skipped", reason, seconds, None, model.config.materialized,
        model.path.as_posix(),
    )


def _error(model: CompiledModel, started: float, message: str) -> NodeResult:
    return NodeResult(
        model.name, "error", message, time.perf_counter() - started, None,
        model.config.materialized, model.path.as_posix(),
    )


def new_build_id() -> str:
    return uuid.uuid4().hex[:12]


__all__ = [
    "CompiledProject",
    "ExecutionError",
    "NodeResult",
    "RunConfig",
    "RunResult",
    "compile_project",
    "run_build",
]
