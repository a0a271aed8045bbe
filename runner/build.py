"""Walk the selected DAG of a compiled project on Spark: materialize, test, skip what follows a
failure, and always write `run_results.json`.

The build returns what it wrote (`BuildResult`); recording it and the dashboards are the
commands' next step (`runner.publish`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from runner import artifacts, reuse, reuse_record
from runner.compile import CompiledProject, write_manifest
from runner.config import RunConfig
from runner.datatests.collect import DataTest
from runner.datatests.failing_rows import ConditionBatch
from runner.datatests.unit_run import UnitRunner, run_unit_test
from runner.interrupts import InterruptWatch
from runner.prepare_cassandra import apply_runtime_conf, prepare_cassandra
from runner.results import (
    Callback,
    Info,
    NodeFinished,
    NodeResult,
    NodeStarted,
    NodeStatus,
    ResourceType,
    RunResult,
    ignore_event,
)
from runner.reuse_record import Recorded
from runner.scheduler import Schedule
from runner.spark.materializations import (
    MaterializeContext,
    materialize_view,
    register_existing,
)
from runner.spark.session import create_session, run_sql
from runner.spark.sources import input_bytes, register_source
from runner.steps import Step, run_model, run_test, skipped, unique_id

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class BuildResult:
    """What a build did, for the command to publish (`runner.publish`) and report.

    Args:
        run: one result per planned step, as written to `run_results.json`.
        written: the Cassandra marts the run wrote or began to write (`written_marts`).
        failure: what stopped the build before or between its nodes (a service died), also in
            `run.errors`; the command raises it once the run is published.
    """

    run: RunResult
    written: frozenset[str]
    failure: BaseException | None = None


def plan_steps(cp: CompiledProject, command: str) -> list[Step]:
    """Selected models in graph order, each test right after the last model it reads, each
    unit test right before the model it tests.

    `run` builds models only, `test` runs tests only, `build` does both.
    """
    models = set(cp.selected) if command != "test" else set()
    tests = cp.selected_tests if command in ("build", "test") else []
    units: dict[str, list[str]] = {}
    for name in cp.selected_unit_tests if command in ("build", "test") else []:
        units.setdefault(cp.unit_tests[name].model, []).append(name)
    position = {n: i for i, n in enumerate(cp.graph.order())}
    anchored: dict[str | None, list[str]] = {}
    for name in tests:
        refs = cp.tests[name].refs
        anchor = max(refs, key=position.__getitem__) if refs else None
        anchored.setdefault(anchor, []).append(name)
    steps = [Step(ResourceType.TEST, t) for t in anchored.get(None, [])]
    for model in cp.graph.order():
        steps += [Step(ResourceType.UNIT_TEST, u) for u in units.get(model, [])]
        if model in models:
            steps.append(Step(ResourceType.MODEL, model))
        steps += [Step(ResourceType.TEST, t) for t in anchored.get(model, [])]
    return steps


def run_build(
    cp: CompiledProject,
    cfg: RunConfig,
    callback: Callback = ignore_event,
    *,
    spark: SparkSession | None = None,
) -> BuildResult:
    """Build the selected models and run their tests in graph order; never raises for a node.

    A failed model, or a failed `error` test, skips its model's descendants; independent
    branches go on. SIGINT or SIGTERM finishes or cancels the running step and skips the rest.
    `run_results.json` is written whatever happens: a service that fails before or between the
    nodes is recorded in `errors`, the steps not run as skipped (so `runner retry` resumes), and
    the error is returned in `failure` for the command to raise.

    Args:
        cp: the compiled project (compiled once by the command).
        cfg: the run's options (`command` run / build / test says which steps run).
        callback: receives progress events (the CLI renders them).
        spark: an existing session to use (tests); by default one is created from the target.

    Returns:
        One result per planned step, in order, also written to `<target>/run_results.json`,
        and the marts the run wrote.
    """
    started_at = datetime.now(UTC)
    phases: dict[str, float] = {}
    steps = plan_steps(cp, cfg.command)
    built = [s.name for s in steps if s.resource_type == ResourceType.MODEL]
    results: list[NodeResult] = []
    failure: BaseException | None = None
    errors: list[str] = []
    record_path = cp.project.target_layout.reuse_record
    record = reuse_record.load_record(record_path)
    prints: dict[str, str] = {}
    with InterruptWatch() as watch:
        try:
            fingerprints = reuse.model_fingerprints(cp)
            prints = {reuse_record.model_id(n): f for n, f in fingerprints.items()}
            prints.update(reuse.fingerprint_tests(cp, fingerprints, cfg.store_failures))
            session, reused = _prepare(cp, spark, built, steps, phases, callback, watch,
                                       fingerprints, prints, record, full_refresh=cfg.full_refresh,
                                       store_failures=cfg.store_failures)
            t_nodes = time.perf_counter()
            _walk(cp, cfg, session, steps, results, callback, watch, fingerprints, reused)
            phases["models"] = time.perf_counter() - t_nodes
        except KeyboardInterrupt:
            watch.received = True
        except BaseException as exc:  # noqa: BLE001 - recorded below, then raised again
            if not watch.received:
                failure = exc
                errors.append(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        if watch.received or failure is not None:
            reason = f"interrupted ({watch.signal_name or 'SIGINT'})" if watch.received else (
                "not run: " + errors[0])
            if watch.received:
                callback(Info(
                    f"Interrupted ({watch.signal_name or 'SIGINT'}) after {len(results)} of "
                    f"{len(steps)} steps; the rest is marked skipped in run_results.json"
                ))
            results += [skipped(cp, s, reason) for s in steps[len(results):]]
        run = RunResult(
            cfg.command, started_at, datetime.now(UTC), results, cp.target.name, phases,
            interrupted=watch.received, signal=watch.signal_name if watch.received else "",
            errors=tuple(errors),
        )
        write_manifest(cp)
        artifacts.write_run_results(cp.project.target_dir, cfg, run)
        reuse_record.save_record(record_path,
                                 reuse_record.update_record(record, results, prints))
    return BuildResult(run, written_marts(cp, run), failure)


def written_marts(cp: CompiledProject, run: RunResult) -> frozenset[str]:
    """The Cassandra marts a run wrote or began to write (a failed write may have changed rows);
    a reused mart was not written."""
    if cp.target.cassandra is None:
        return frozenset()
    return frozenset(
        r.name for r in run.results
        if r.resource_type == ResourceType.MODEL and r.status != NodeStatus.SKIPPED
        and not r.reused and cp.models[r.name].config.materialized == "cassandra"
    )


def _prepare(
    cp: CompiledProject,
    spark: SparkSession | None,
    built: list[str],
    steps: list[Step],
    phases: dict[str, float],
    callback: Callback,
    watch: InterruptWatch,
    fingerprints: Mapping[str, str],
    prints: Mapping[str, str],
    record: Mapping[str, Recorded],
    *,
    full_refresh: bool,
    store_failures: bool = False,
) -> tuple[SparkSession | None, dict[str, Recorded]]:
    """Start what the steps need: Cassandra, then (unless every step is reused) the Spark
    session, sources and upstream inputs. Returns the session and the steps reused."""

    project, target = cp.project, cp.target
    t0 = time.perf_counter()
    extra_conf: dict[str, str] = {}
    if target.cassandra is not None and any(
        cp.models[n].config.materialized == "cassandra" for n in built
    ):
        extra_conf = prepare_cassandra(project.dir, target, callback)
    phases["services"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    nodes = [(s.resource_type, s.name) for s in steps]
    reused = {} if full_refresh else reuse.reused_nodes(cp, nodes, fingerprints, prints, record,
                                                        callback, store_failures)
    summary = reuse.reuse_summary(nodes, reused)
    if summary:
        callback(Info(summary))
    phases["reuse"] = time.perf_counter() - t0
    computed = [s for s in steps if unique_id(s) not in reused]
    if not computed:
        return spark, reused

    t0 = time.perf_counter()
    if spark is None:
        spark = create_session(target.spark, project.target_layout.spark_warehouse, extra_conf,
                               input_bytes=input_bytes(project, cp.vars), project_dir=project.dir)
    elif extra_conf:
        apply_runtime_conf(spark, extra_conf)
    watch.attach(spark)
    phases["spark_start"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    names = [s.name for s in computed if s.resource_type == ResourceType.MODEL]
    tests = [cp.tests[s.name] for s in computed if s.resource_type == ResourceType.TEST]
    read = {r for t in tests for r in t.refs}
    register_inputs(cp, spark, names, expose=read - set(names),
                    sources={src for t in tests for src in t.sources},
                    fingerprints=fingerprints, reuse_previous=not full_refresh,
                    callback=callback, quiet=built)
    phases["sources"] = time.perf_counter() - t0
    return spark, reused


def _walk(
    cp: CompiledProject,
    cfg: RunConfig,
    spark: SparkSession | None,
    steps: list[Step],
    results: list[NodeResult],
    callback: Callback,
    watch: InterruptWatch,
    fingerprints: Mapping[str, str],
    reused: Mapping[str, Recorded],
) -> None:
    """Run the steps, independent ones at once; append and report results in plan order.

    A model starts once its upstream models and the earlier tests on them are done, a test once
    the models it reads are; with --fail-fast, one step at a time. A step in `reused` that is
    not skipped reports its last result instead of running. Stops early on SIGINT.
    """
    total = len(steps)
    if spark is None:  # every step is reused: nothing to run
        for i, step in enumerate(steps):
            result = reuse_record.reused_result(skipped(cp, step, ""), reused[unique_id(step)])
            results.append(result)
            callback(NodeFinished(i + 1, total, result))
        return

    ctx = MaterializeContext(spark, cp.target, cp.project.target_layout, cfg.full_refresh,
                             fingerprints=fingerprints)
    failures_dir = cp.project.target_layout.test_failures
    position = {(s.resource_type, s.name): i for i, s in enumerate(steps)}
    inputs = [set(range(i)) if cfg.fail_fast else _step_inputs(cp, steps, i, position)
              for i in range(total)]

    def stores(test: DataTest) -> bool:
        return reuse.stores_failures(test, cfg.store_failures)

    tests = [cp.tests[s.name] for s in steps
             if s.resource_type == ResourceType.TEST and unique_id(s) not in reused]
    batch = ConditionBatch(spark, [t for t in tests if not stores(t)])
    units = UnitRunner(spark, cp.project, cp.models, cp.graph)

    def decide(i: int, done: dict[int, NodeResult]) -> NodeResult | None:
        if cfg.fail_fast and any(r.status == NodeStatus.ERROR for r in done.values()):
            return skipped(cp, steps[i], "skipped after the first error (--fail-fast)")
        reason = _skip_reason(cp, steps, i, done, inputs[i])
        if reason:
            return skipped(cp, steps[i], reason)
        last = reused.get(unique_id(steps[i]))
        return None if last is None else reuse_record.reused_result(skipped(cp, steps[i], ""), last)

    def execute(i: int) -> NodeResult:
        step = steps[i]
        # a cancelled job (Ctrl-C, SIGTERM) stops its running tasks at once, freeing the cores
        spark.sparkContext.setInterruptOnCancel(True)
        if step.resource_type == ResourceType.MODEL:
            result = run_model(ctx, cp, step.name)
        elif step.resource_type == ResourceType.UNIT_TEST:
            result = run_unit_test(units, cp.unit_tests[step.name])
        else:
            test = cp.tests[step.name]
            result = run_test(spark, test, failures_dir if stores(test) else None, batch)
        if watch.received and result.status == NodeStatus.ERROR:
            result = replace(result, status=NodeStatus.SKIPPED,
                             message=f"interrupted ({watch.signal_name}) while running")
        return result

    def on_start(i: int) -> None:
        step = steps[i]
        kind = (cp.models[step.name].config.materialized
                if step.resource_type == ResourceType.MODEL else step.resource_type.value)
        callback(NodeStarted(i + 1, total, step.name, kind, step.resource_type))

    def on_finish(i: int, result: NodeResult) -> None:
        results.append(result)
        callback(NodeFinished(i + 1, total, result))

    schedule = Schedule(inputs, execute, decide, on_start, on_finish, lambda: watch.received)
    schedule.run(1 if cfg.fail_fast else cp.target.threads)


def _step_inputs(
    cp: CompiledProject,
    steps: list[Step],
    index: int,
    position: dict[tuple[ResourceType, str], int],
) -> set[int]:
    """The earlier steps whose results decide whether step `index` runs, and what it reads."""
    step = steps[index]
    if step.resource_type == ResourceType.UNIT_TEST:
        return set()  # given rows only
    if step.resource_type == ResourceType.TEST:
        return {position[(ResourceType.MODEL, r)] for r in cp.tests[step.name].refs
                if (ResourceType.MODEL, r) in position}
    upstream = cp.graph.ancestors(step.name)
    models = {position[(ResourceType.MODEL, m)] for m in upstream
              if (ResourceType.MODEL, m) in position}
    tests = {
        j for j, s in enumerate(steps[:index])
        if s.resource_type == ResourceType.TEST and upstream.intersection(cp.tests[s.name].attached)
    }
    units = {
        j for j, s in enumerate(steps[:index])
        if s.resource_type == ResourceType.UNIT_TEST
        and cp.unit_tests[s.name].model in upstream | {step.name}
    }
    return models | tests | units


def _skip_reason(
    cp: CompiledProject,
    steps: list[Step],
    index: int,
    done: dict[int, NodeResult],
    inputs: set[int],
) -> str | None:
    """Why step `index` is skipped, from the results of its inputs; None when it runs.

    A test is skipped when a model it reads failed or was skipped. A model is skipped when an
    upstream model failed or an earlier test on one did, or a unit test of it or of an upstream
    model failed: the first such model in graph order. A unit test is never skipped for these.
    """
    step = steps[index]
    if step.resource_type == ResourceType.UNIT_TEST:
        return None
    results = {(steps[j].resource_type, steps[j].name): done[j] for j in inputs}
    if step.resource_type == ResourceType.TEST:
        for ref in cp.tests[step.name].refs:
            result = results.get((ResourceType.MODEL, ref))
            if result is not None and result.status == NodeStatus.ERROR:
                return f"model {ref} failed"
            if result is not None and result.status == NodeStatus.SKIPPED:
                return result.message
        return None
    failed_tests = [steps[j].name for j in sorted(inputs)
                    if steps[j].resource_type == ResourceType.TEST
                    and done[j].status == NodeStatus.ERROR]
    failed_units = [steps[j].name for j in sorted(inputs)
                    if steps[j].resource_type == ResourceType.UNIT_TEST
                    and done[j].status == NodeStatus.ERROR]
    for model in cp.graph.order(cp.graph.ancestors(step.name) | {step.name}):
        result = results.get((ResourceType.MODEL, model))
        if result is not None and result.status == NodeStatus.ERROR:
            return f"upstream {model} failed"
        failed = next((t for t in failed_tests if model in cp.tests[t].attached), None)
        if failed is not None:
            return f"test {failed} failed"
        unit = next((u for u in failed_units if cp.unit_tests[u].model == model), None)
        if unit is not None:
            return f"unit test {unit} failed"
    return None


def register_inputs(
    cp: CompiledProject,
    spark: SparkSession,
    names: list[str],
    expose: Iterable[str] = (),
    sources: Iterable[tuple[str, str]] = (),
    *,
    fingerprints: Mapping[str, str] | None = None,
    reuse_previous: bool = True,
    callback: Callback = ignore_event,
    quiet: Iterable[str] = (),
) -> None:
    """Register the sources and unselected upstream models that `names` read.

    The inputs are planned from `names` upwards (`runner.reuse.plan_inputs`): an upstream
    table-like model built by an earlier run is read from its Parquet copy and, in a build
    (`fingerprints`), a persisted model whose stored rows are still current is reused; what is
    above them is not read at all. Anything else becomes a (lazy) temp view, so selecting one
    model always works; in a build, a persisted one is computed into Parquet again, for the
    next builds. Models in `expose` and `sources` (read by tests, not built now) are
    registered the same way. The models in `quiet` (reused steps of the build, which report
    themselves) are left out of the line that names the reused ones.
    """

    project = cp.project
    plan = reuse.plan_inputs(cp, names, expose, fingerprints=fingerprints, reuse=reuse_previous)
    for key in sorted(plan.sources | set(sources)):
        register_source(spark, project, project.sources[key], cp.vars)
    marts_dir = project.target_layout.marts
    ctx = MaterializeContext(spark, cp.target, project.target_layout,
                             fingerprints=fingerprints or {})
    for name, kind in plan.models:
        model = cp.models[name]
        if kind == reuse.InputKind.REUSED:
            register_existing(spark, name, reuse.persisted_dir(cp))
        elif kind == reuse.InputKind.PARQUET:
            register_existing(spark, name, marts_dir)
        elif kind == reuse.InputKind.PERSIST:
            materialize_view(ctx, model, run_sql(spark, model, project.models[name].raw_sql))
        else:
            run_sql(spark, model, project.models[name].raw_sql).createOrReplaceTempView(name)
    for kind, what in ((reuse.InputKind.REUSED, "Reused from the previous build (unchanged)"),
                       (reuse.InputKind.PERSIST, "Persisted upstream for the next builds")):
        shown = [n for n in plan.names(kind) if n not in set(quiet)]
        if shown:
            callback(Info(f"{what}: {', '.join(shown)}"))
