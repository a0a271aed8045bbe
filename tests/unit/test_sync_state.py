"""The record of the last dashboard sync that lets a build skip a sync with nothing to do."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

from runner.build import written_marts
from runner.compile import compile_project
from runner.config import RunConfig
from runner.local.superset_cache import dataset_of
from runner.publish import tables_written
from runner.results import NodeResult, NodeStatus, ResourceType, RunResult
from runner.superset import sync_state

ROOT = Path(__file__).resolve().parents[2]


def _state(**changes: object) -> sync_state.SyncState:
    base = dict(
        fingerprint="f", dashboard_url="u", database_id=1,
        dashboard_id=7, dashboard_ids=[7], chart_ids={"users": 11},
        datasets={"metrics": (3, "user_onboarding_metrics"), "summary": (4, "segment_summary"),
                  "summary_again": (5, "segment_summary"), "builds": (6, "build_info")},
        seen=sync_state.Seen(dashboards={7: "a"}, charts={11: "b"}, datasets={3: "c"}),
    )
    return sync_state.SyncState.model_validate(base | changes)


def _dashboards(tmp_path: Path) -> Path:
    folder = tmp_path / "dashboards"
    folder.mkdir()
    (folder / "datasets.yml").write_text("datasets: []\n")
    (folder / "main.yml").write_text("title: Main\n")
    return folder


def test_the_fingerprint_changes_with_each_thing_a_full_sync_sends(tmp_path: Path) -> None:
    folder = _dashboards(tmp_path)
    settings = {"url": "http://127.0.0.1:8088", "keyspace": "ks"}
    docs = {"segment_summary": {"users": "Users"}}
    first = sync_state.fingerprint(folder, settings, docs, ("runner", "pw"))
    assert sync_state.fingerprint(folder, settings, docs, ("runner", "pw")) == first
    (folder / "main.yml").write_text("title: Main!\n")
    edited = sync_state.fingerprint(folder, settings, docs, ("runner", "pw"))
    assert edited != first
    (folder / "other.yml").write_text("title: Other\n")
    added = sync_state.fingerprint(folder, settings, docs, ("runner", "pw"))
    assert added != edited
    others = [
        sync_state.fingerprint(folder, settings | {"keyspace": "ks2"}, docs, ("runner", "pw")),
        sync_state.fingerprint(folder, settings, {"segment_summary": {"users": "All users"}},
                               ("runner", "pw")),
        sync_state.fingerprint(folder, settings, docs, ("runner", "new password")),
    ]
    assert len({added, *others}) == 4


def test_a_state_round_trips_privately_and_a_broken_one_means_a_full_sync(tmp_path: Path) -> None:
    path = sync_state.state_path(tmp_path, "dev")
    assert sync_state.load(path) is None  # never synced
    state = _state(touched=[3])
    sync_state.save(path, state)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sync_state.load(path) == state
    path.write_text('{"fingerprint": "f"}')  # missing fields
    assert sync_state.load(path) is None
    path.write_text("not json")
    assert sync_state.load(path) is None
    sync_state.forget(path)
    assert not path.exists()


def test_the_datasets_of_written_marts() -> None:
    state = _state()
    assert state.dataset_ids(frozenset({"segment_summary"})) == [4, 5]
    assert state.dataset_ids(frozenset({"segment_summary", "build_info"})) == [4, 5, 6]
    assert state.dataset_ids(frozenset({"weekly_cohorts"})) == []


def test_the_dataset_a_remembered_chart_request_reads() -> None:
    assert dataset_of({"datasource": {"id": 12, "type": "table"}}) == 12
    assert dataset_of({"form_data": {"datasource": "9__table"}}) == 9
    assert dataset_of({"queries": []}) is None
    assert dataset_of({"datasource": "x__table"}) is None


def test_written_marts_are_the_cassandra_models_a_run_reached() -> None:
    cp = compile_project(RunConfig(project_dir=ROOT, profiles_dir=ROOT, command="run"))
    now = datetime.now(UTC)

    def result(name: str, status: NodeStatus) -> NodeResult:
        return NodeResult(name, status, "", resource_type=ResourceType.MODEL)

    run = RunResult("run", now, now, [
        result("segment_summary", NodeStatus.SUCCESS),
        result("weekly_cohorts", NodeStatus.ERROR),  # a failed write may have changed rows
        result("ab_test_results", NodeStatus.SKIPPED),
        result("int_user_metrics", NodeStatus.SUCCESS),  # a view, not in Cassandra
    ], "dev")
    assert written_marts(cp, run) == {"segment_summary", "weekly_cohorts"}
    assert tables_written(written_marts(cp, run)) == {
        "segment_summary", "weekly_cohorts", "build_info"}  # the run's row in build_info
    nothing = RunResult("run", now, now, [result("ab_test_results", NodeStatus.SKIPPED)], "dev")
    assert written_marts(cp, nothing) == frozenset()
    assert tables_written(written_marts(cp, nothing)) == frozenset()


def test_a_quick_sync_returns_what_the_full_sync_left() -> None:
    from runner.superset.sync import SyncResult

    full = SyncResult("http://x/superset/dashboard/d/", 1, {"metrics": 3}, {"users": 11}, 7,
                      20, 0, 0, (), (7,), {"metrics": "user_onboarding_metrics"})
    state = sync_state.SyncState.after_full_sync("f", full)
    assert state.flushed and state.dataset_ids(frozenset({"user_onboarding_metrics"})) == [3]
    assert state.result() == SyncResult(full.dashboard_url, 1, {"metrics": 3}, {"users": 11}, 7,
                                         0, 0, 0, (), (7,), full.dataset_marts)
