"""Compile the project and walk the selected DAG on Spark: materialize, test, skip what follows a
failure."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner import artifacts
from runner.config import Target, load_target
from runner.datatests.collect import DataTest, collect_tests, select_tests
from runner.errors import CompilationError, CycleError, ExecutionError, Location, RunnerError
from runner.graph import CycleFound, Graph
from runner.project import Project, load_project
from runner.selection import NodeInfo, select
from runner.sql import check_all, concat_errors
from runner.templating import CompiledModel, Renderer

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from runner.datatests.failing_rows import ConditionBatch
    from runner.interrupts import InterruptWatch
    from runner.spark.materializations import MaterializeContext


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
    store_failures: bool = False
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
    tests: dict[str, DataTest] = field(default_factory=dict)
    selected_tests: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NodeResult:
    name: str
    status: str  # success | error | skipped | warn (a test: success = pass, error = fail/error)
    message: str
    seconds: float = 0.0
    rows: int | None = None
    materialized: str = ""  # a test: "test"
    path: str = ""
    timing: dict[str, float] = field(default_factory=dict)
    resource_type: str = "model"  # model | test
    failures: int | None = None  # a test that ran: its failing rows

    @property
    def unique_id(self) -> str:
        return f"{self.resource_type}.{self.name}"


@dataclass(frozen=True)
class RunResult:
    command: str
    started_at: datetime
    finished_at: datetime
    results: list[NodeResult]
    target: str
    phases: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False  # SIGINT stopped the run; the rest is skipped

    @property
    def success(self) -> bool:
        return not self.interrupted and not any(r.status == "error" for r in self.results)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)


@dataclass(frozen=True)
class NodeStarted:
    index: int
    total: int
    name: str
    materialized: str
    resource_type: str = "model"


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
    tests = collect_tests(project, renderer, compiled)
    state = None
    modified_tests = None
    if cfg.state_path is not None:
        state = artifacts.state_predicate(cfg.state_path, project, compiled, tests)
        modified_tests = {n for n, t in tests.items() if state(t.unique_id, "modified")}
    selected = select(graph, infos, cfg.select, cfg.exclude, state=state)
    selected_tests = select_tests(
        tests, selected, cfg.select, cfg.exclude, modified=modified_tests
    )
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
    for name in selected_tests:
        path = out / "tests" / f"{name}.sql"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(tests[name].sql + "\n")
    merged_vars = {**project.config.vars, **cfg.vars}
    return CompiledProject(
        project, target, merged_vars, compiled, graph, selected, tests, selected_tests
    )


@dataclass(frozen=True)
class Step:
    """One line of a run: build a model or run a test."""

    resource_type: str  # model | test
    name: str


def plan_steps(cp: CompiledProject, command: str) -> list[Step]:
    """Selected models in graph order, each test right after the last model it reads.

    `run` builds models only, `test` runs tests only, `build` does both.
    """
    models = set(cp.selected) if command != "test" else set()
    tests = cp.selected_tests if command in ("build", "test") else []
    position = {n: i for i, n in enumerate(cp.graph.order())}
    anchored: dict[str | None, list[str]] = {}
    for name in tests:
        refs = cp.tests[name].refs
        anchor = max(refs, key=position.__getitem__) if refs else None
        anchored.setdefault(anchor, []).append(name)
    steps = [Step("test", t) for t in anchored.get(None, [])]
    for model in cp.graph.order():
        if model in models:
            steps.append(Step("model", model))
        steps += [Step("test", t) for t in anchored.get(model, [])]
    return steps


def run_build(
    cfg: RunConfig,
    callback: Callback = _noop,
    *,
    spark: SparkSession | None = None,
) -> RunResult:
    """Build the selected models and run their tests in graph order; never raises for a node.

    A failed model, or a failed `error` test, skips its model's descendants; independent
    branches go on. SIGINT finishes or cancels the running step and skips the rest.

    Args:
        cfg: the run's options (`command` run / build / test says which steps run).
        callback: receives progress events (the CLI renders them).
        spark: an existing session to use (tests); by default one is created from the target.

    Returns:
        One result per planned step, in order, also written to `target/run_results.json`.
    """
    from runner.local import services
    from runner.interrupts import InterruptWatch

    started_at = datetime.now(UTC)
    phases: dict[str, float] = {}
    t0 = time.perf_counter()
    cp = compile_project(cfg)
    phases["compile"] = time.perf_counter() - t0
    steps = plan_steps(cp, cfg.command)
    built = [s.name for s in steps if s.resource_type == "model"]
    uses_cassandra = any(cp.models[n].config.materialized == "cassandra" for n in built)
    results: list[NodeResult] = []
    with InterruptWatch() as watch:
        try:
            session = _prepare(cp, spark, built, steps, phases, callback, watch)
            t_nodes = time.perf_counter()
            _walk(cp, cfg, session, steps, results, callback, watch)
            phases["models"] = time.perf_counter() - t_nodes
        except KeyboardInterrupt:
            watch.received = True
        except Exception:
            if not watch.received:
                raise
        if watch.received:
            callback(Info(
                f"Interrupted (SIGINT) after {len(results)} of {len(steps)} steps; "
                "the rest is marked skipped in run_results.json"
            ))
            results += [_skipped(cp, s, "interrupted") for s in steps[len(results):]]
        run = RunResult(
            cfg.command, started_at, datetime.now(UTC), results, cp.target.name, phases,
            interrupted=watch.received,
        )
        if uses_cassandra and cp.target.cassandra is not None and not run.interrupted:
            services.record_build(cp.target, run, callback)
        artifacts.write_run_artifacts(cp, cfg, run)
    return run


def _prepare(
    cp: CompiledProject,
    spark: SparkSession | None,
    built: list[str],
    steps: list[Step],
    phases: dict[str, float],
    callback: Callback,
    watch: InterruptWatch,
) -> SparkSession:
    """Start what the steps need: Cassandra, the Spark session, sources and upstream inputs."""
    from runner.local import services
    from runner.spark.sources import input_bytes
    from runner.spark.session import create_session

    project, target = cp.project, cp.target
    t0 = time.perf_counter()
    extra_conf: dict[str, str] = {}
    if target.cassandra is not None and any(
        cp.models[n].config.materialized == "cassandra" for n in built
    ):
        extra_conf = services.prepare_cassandra(project.dir, target, callback)
    phases["services"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if spark is None:
        spark = create_session(target.spark, project.target_dir / "spark-warehouse", extra_conf,
                               input_bytes=input_bytes(project, cp.vars), project_dir=project.dir)
    elif extra_conf:
        services.apply_runtime_conf(spark, extra_conf)
    watch.attach(spark)
    phases["spark_start"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    tests = [cp.tests[s.name] for s in steps if s.resource_type == "test"]
    read = {r for t in tests for r in t.refs}
    register_inputs(cp, spark, built, expose=read - set(built),
                    sources={src for t in tests for src in t.sources})
    phases["sources"] = time.perf_counter() - t0
    return spark


def _walk(
    cp: CompiledProject,
    cfg: RunConfig,
    spark: SparkSession,
    steps: list[Step],
    results: list[NodeResult],
    callback: Callback,
    watch: InterruptWatch,
) -> None:
    """Run the steps, independent ones at once; append and report results in plan order.

    A model starts once its upstream models and the earlier tests on them are done, a test once
    the models it reads are; with --fail-fast, one step at a time. Stops early on SIGINT.
    """
    from runner.datatests.failing_rows import ConditionBatch
    from runner.spark.materializations import MaterializeContext
    from runner.scheduler import Schedule

    ctx = MaterializeContext(spark, cp.target, cp.project.target_dir / "marts", cfg.full_refresh)
    failures_dir = cp.project.target_dir / "test_failures"
    total = len(steps)
    position = {(s.resource_type, s.name): i for i, s in enumerate(steps)}
    inputs = [set(range(i)) if cfg.fail_fast else _step_inputs(cp, steps, i, position)
              for i in range(total)]

    def stores(test: DataTest) -> bool:
        return cfg.store_failures if test.store_failures is None else test.store_failures

    tests = [cp.tests[s.name] for s in steps if s.resource_type == "test"]
    batch = ConditionBatch(spark, [t for t in tests if not stores(t)])

    def decide(i: int, done: dict[int, NodeResult]) -> NodeResult | None:
        if cfg.fail_fast and any(r.status == "error" for r in done.values()):
            return _skipped(cp, steps[i], "skipped after the first error (--fail-fast)")
        reason = _skip_reason(cp, steps, i, done, inputs[i])
        return _skipped(cp, steps[i], reason) if reason else None

    def execute(i: int) -> NodeResult:
        step = steps[i]
        if step.resource_type == "model":
            result = _run_model(ctx, cp, step.name)
        else:
            test = cp.tests[step.name]
            result = _run_test(spark, test, failures_dir if stores(test) else None, batch)
        if watch.received and result.status == "error":
            result = replace(result, status="skipped", message="interrupted (SIGINT) while running")
        return result

    def on_start(i: int) -> None:
        step = steps[i]
        kind = cp.models[step.name].config.materialized if step.resource_type == "model" else "test"
        callback(NodeStarted(i + 1, total, step.name, kind, step.resource_type))

    def on_finish(i: int, result: NodeResult) -> None:
        results.append(result)
        callback(NodeFinished(i + 1, total, result))

    schedule = Schedule(inputs, execute, decide, on_start, on_finish, lambda: watch.received)
    schedule.run(1 if cfg.fail_fast else cp.target.threads)


def _step_inputs(
    cp: CompiledProject, steps: list[Step], index: int, position: dict[tuple[str, str], int]
) -> set[int]:
    """The earlier steps whose results decide whether step `index` runs, and what it reads."""
    step = steps[index]
    if step.resource_type == "test":
        return {position[("model", r)] for r in cp.tests[step.name].refs if ("model", r) in position}
    upstream = cp.graph.ancestors(step.name)
    models = {position[("model", m)] for m in upstream if ("model", m) in position}
    tests = {
        j for j, s in enumerate(steps[:index])
        if s.resource_type == "test" and upstream.intersection(cp.tests[s.name].attached)
    }
    return models | tests


def _skip_reason(
    cp: CompiledProject,
    steps: list[Step],
    index: int,
    done: dict[int, NodeResult],
    inputs: set[int],
) -> str | None:
    """Why step `index` is skipped, from the results of its inputs; None when it runs.

    A test is skipped when a model it reads failed or was skipped. A model is skipped when an
    upstream model failed or an earlier test on one did: the first such model in graph order.
    """
    step = steps[index]
    results = {(steps[j].resource_type, steps[j].name): done[j] for j in inputs}
    if step.resource_type == "test":
        for ref in cp.tests[step.name].refs:
            result = results.get(("model", ref))
            if result is not None and result.status == "error":
                return f"model {ref} failed"
            if result is not None and result.status == "skipped":
                return result.message
        return None
    failed_tests = [steps[j].name for j in sorted(inputs)
                    if steps[j].resource_type == "test" and done[j].status == "error"]
    for model in cp.graph.order(cp.graph.ancestors(step.name)):
        result = results.get(("model", model))
        if result is not None and result.status == "error":
            return f"upstream {model} failed"
        failed = next((t for t in failed_tests if model in cp.tests[t].attached), None)
        if failed is not None:
            return f"test {failed} failed"
    return None


def _run_model(ctx: MaterializeContext, cp: CompiledProject, name: str) -> NodeResult:
    from runner.spark.materializations import materialize
    from runner.spark.session import run_sql, to_execution_error

    model = cp.models[name]
    raw = cp.project.models[name].raw_sql
    started = time.perf_counter()
    try:
        df = run_sql(ctx.spark, model, raw)
        outcome = materialize(ctx, model, df)
    except RunnerError as err:
        return _error(model, started, str(err))
    except Exception as exc:  # noqa: BLE001 - Spark raises Py4J and runtime errors from actions
        return _error(model, started, str(to_execution_error(exc, model, raw)))
    timing = {"total": time.perf_counter() - started}
    if outcome.cassandra_seconds is not None:
        timing["cassandra"] = outcome.cassandra_seconds
    return NodeResult(
        name, "success", outcome.message, timing["total"], outcome.rows,
        model.config.materialized, model.path.as_posix(), timing,
    )


def _run_test(
    spark: SparkSession, test: DataTest, failures_dir: Path | None, batch: ConditionBatch
) -> NodeResult:
    from runner.datatests import failing_rows

    started = time.perf_counter()
    try:
        outcome = failing_rows.FailingRows(0) if batch.passes(test) else failing_rows.run_test(
            spark, test, failures_dir
        )
    except RunnerError as err:
        message, failures, status = str(err), None, "error"
    except Exception as exc:  # noqa: BLE001 - Py4J errors outside the translated ones
        message, failures, status = str(failing_rows.to_test_error(exc, test)), None, "error"
    else:
        message = failing_rows.describe_failing_rows(test, outcome)
        failures = outcome.failures
        status = "success" if not failures else ("warn" if test.severity == "warn" else "error")
    seconds = time.perf_counter() - started
    return NodeResult(
        test.name, status, message, seconds, None, "test", test.path.as_posix(),
        {"total": seconds}, resource_type="test", failures=failures,
    )


def register_inputs(
    cp: CompiledProject,
    spark: SparkSession,
    names: list[str],
    expose: Iterable[str] = (),
    sources: Iterable[tuple[str, str]] = (),
) -> None:
    """Register the sources and unselected upstream models that `names` read.

    An upstream table-like model built by an earlier run is read from its Parquet copy;
    anything else becomes a (lazy) temp view, so selecting one model always works. Models in
    `expose` and `sources` (read by tests, not built now) are registered the same way.
    """
    from runner.spark.materializations import register_existing
    from runner.spark.sources import register_source
    from runner.spark.session import run_sql

    project = cp.project
    needed = set(names) | set(expose)
    for name in list(needed):
        needed |= cp.graph.ancestors(name)
    for key in sorted({s for n in needed for s in cp.models[n].sources} | set(sources)):
        register_source(spark, project, project.sources[key], cp.vars)
    marts_dir = project.target_dir / "marts"
    for name in cp.graph.order(needed - set(names)):
        model = cp.models[name]
        if model.config.materialized in ("table", "cassandra") and register_existing(
            spark, name, marts_dir
        ):
            continue
        run_sql(spark, model, project.models[name].raw_sql).createOrReplaceTempView(name)


def _skipped(cp: CompiledProject, step: Step, reason: str) -> NodeResult:
    if step.resource_type == "test":
        test = cp.tests[step.name]
        return NodeResult(
            test.name, "skipped", reason, 0.0, None, "test", test.path.as_posix(),
            resource_type="test",
        )
    model = cp.models[step.name]
    return NodeResult(
        model.name, "skipped", reason, 0.0, None, model.config.materialized,
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
