"""What follows a build (`runner.publish.publish_run`): whether the run is recorded in Cassandra
and whether what it wrote is marked in Superset, with the two replaced by recorders."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from runner import publish
from runner.build import BuildResult
from runner.compile import CompiledProject, compile_project
from runner.config import RunConfig, Target
from runner.errors import ServiceError
from runner.results import Callback, Event, Info, RunResult

ROOT = Path(__file__).resolve().parents[2]
MARTS = frozenset({"segment_summary"})


@pytest.fixture(scope="module")
def cp() -> CompiledProject:
    return compile_project(RunConfig(project_dir=ROOT, profiles_dir=ROOT, command="build"))


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace the Cassandra record and the Superset mark; returns what was called, in order."""
    done: list[str] = []

    def record(target: Target, run: RunResult, callback: Callback) -> None:
        done.append(f"record {run.command}")

    def mark(project_dir: Path, target: Target, callback: Callback,
             written: frozenset[str]) -> None:
        done.append(f"mark {','.join(sorted(written))}")

    monkeypatch.setattr(publish, "record_build", record)
    monkeypatch.setattr(publish, "mark_written", mark)
    return done


def _built(written: frozenset[str] = MARTS, *, failure: BaseException | None = None,
           interrupted: bool = False) -> BuildResult:
    now = datetime.now(UTC)
    return BuildResult(RunResult("build", now, now, [], "dev", interrupted=interrupted),
                       written, failure)


@pytest.mark.parametrize(("built", "sync_follows", "expected"), [
    # the everyday build: recorded; the dashboard sync that follows marks the datasets
    (_built(), True, ["record build"]),
    # run, test, retry, build --no-superset: recorded and marked here
    (_built(), False, ["record build", "mark segment_summary"]),
    # a service died between the nodes: not recorded, what was written is still marked
    (_built(failure=ServiceError("Cassandra went away")), False, ["mark segment_summary"]),
    # Ctrl-C: the same
    (_built(interrupted=True), False, ["mark segment_summary"]),
    # no mart written (a view, `runner test`): nothing at all
    (_built(frozenset()), False, []),
])
def test_a_run_is_recorded_and_marked_once(cp: CompiledProject, calls: list[str],
                                           built: BuildResult, sync_follows: bool,
                                           expected: list[str]) -> None:
    publish.publish_run(cp, built, lambda event: None, sync_follows=sync_follows)
    assert calls == expected


def test_a_build_that_could_not_be_recorded_warns(
    cp: CompiledProject, calls: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(target: Target, run: RunResult, callback: Callback) -> None:
        raise ServiceError("Cassandra at 127.0.0.1:9042 is unreachable")

    monkeypatch.setattr(publish, "record_build", refuse)
    events: list[Event] = []
    publish.publish_run(cp, _built(), events.append, sync_follows=False)
    assert events == [Info("Warning: the build was not recorded in Cassandra: "
                           "Cassandra at 127.0.0.1:9042 is unreachable")]
    assert calls == ["mark segment_summary"]


def test_a_failed_sync_still_marks_what_the_build_wrote(
    cp: CompiledProject, calls: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise ServiceError("Superset at http://127.0.0.1:8088 did not answer")

    monkeypatch.setattr(publish, "sync_dashboards", fail)
    with pytest.raises(ServiceError, match="did not answer"):
        publish.sync_after_build(cp, lambda event: None, written=MARTS)
    assert calls == ["mark segment_summary"]


def test_reused_marts_are_not_written(cp: CompiledProject) -> None:
    """A no-op build reuses its marts: `written` is empty, so nothing is recorded or marked."""
    from runner.build import written_marts
    from runner.results import NodeResult, NodeStatus
    from runner.reuse_record import Recorded, reused_result

    now = datetime.now(UTC)
    computed = NodeResult("segment_summary", NodeStatus.SUCCESS, "cassandra",
                          materialized="cassandra")
    reused = reused_result(
        NodeResult("weekly_cohorts", NodeStatus.SKIPPED, "", materialized="cassandra"),
        Recorded("f", "success", "cassandra fintech_analytics.weekly_cohorts (52 rows)", rows=52))
    run = RunResult("build", now, now, [computed, reused], "dev")
    assert written_marts(cp, run) == frozenset({"segment_summary"})
    assert written_marts(cp, RunResult("build", now, now, [reused], "dev")) == frozenset()
