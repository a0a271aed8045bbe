"""runner.reuse_record without Spark: which nodes a build reuses, and the record it keeps."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.artifacts import run_results
from runner.config import RunConfig
from runner.console import _finished_line
from runner.results import NodeResult, NodeStatus, ResourceType, RunResult
from runner.reuse_record import (
    Candidate,
    Recorded,
    choose_reused,
    load_record,
    reused_result,
    save_record,
    update_record,
)

RECORD = {
    "model.a": Recorded("fa", "success", "table (3 rows)", rows=3),
    "model.b": Recorded("fb", "success", "created view"),
    "model.c": Recorded("fc", "success", "table (1 rows)", rows=1),
    "test.t_b": Recorded("ftb", "warn", "1 failing row", failures=1),
    "unit_test.u": Recorded("fu", "success"),
}
PLAN = [
    Candidate("model.a", "fa"),
    Candidate("model.b", "fb", upstream=("model.a",)),
    Candidate("test.t_b", "ftb", upstream=("model.a", "model.b")),
    Candidate("unit_test.u", "fu"),
    Candidate("model.c", "fc", upstream=("model.a", "model.b")),
]


def _changed(uid: str, **kwargs: object) -> list[Candidate]:
    from dataclasses import replace

    return [replace(c, **kwargs) if c.unique_id == uid else c for c in PLAN]


@pytest.mark.parametrize(
    ("plan", "record", "full_refresh", "expected"),
    [
        # nothing changed: everything reused
        (PLAN, RECORD, False, {"model.a", "model.b", "test.t_b", "unit_test.u", "model.c"}),
        # --full-refresh: nothing
        (PLAN, RECORD, True, set()),
        # a changed fingerprint recomputes the node and every node below it (not the unit test)
        (_changed("model.a", fingerprint="new"), RECORD, False, {"unit_test.u"}),
        # a missing stored result recomputes it and what reads it
        (_changed("model.b", stored=False), RECORD, False, {"model.a", "unit_test.u"}),
        # a changed test alone: only the test runs
        (_changed("test.t_b", fingerprint="new"), RECORD, False,
         {"model.a", "model.b", "unit_test.u", "model.c"}),
        # no record: nothing
        (PLAN, {}, False, set()),
        # an upstream model not in this build does not block
        ([Candidate("model.c", "fc", upstream=("model.x",))], RECORD, False, {"model.c"}),
    ],
)
def test_choose_reused(plan, record, full_refresh, expected):
    assert set(choose_reused(plan, record, full_refresh=full_refresh)) == expected


def test_a_recorded_failure_is_never_reused():
    record = {"test.t": Recorded("f", "error", "1 failing row", failures=1)}
    assert choose_reused([Candidate("test.t", "f")], record, full_refresh=False) == {}


def test_update_record_keeps_successes_and_drops_failures_and_skips():
    ran = [
        NodeResult("a", NodeStatus.SUCCESS, "table (3 rows)", rows=3),
        NodeResult("b", NodeStatus.SKIPPED, "upstream a failed"),
        NodeResult("t", NodeStatus.WARN, "2 failing rows", failures=2,
                   resource_type=ResourceType.TEST),
        NodeResult("f", NodeStatus.ERROR, "1 failing row", failures=1,
                   resource_type=ResourceType.TEST),
        reused_result(NodeResult("c", NodeStatus.SKIPPED, ""), RECORD["model.c"]),
    ]
    old = {"model.b": RECORD["model.b"], "test.f": Recorded("ff", "success"),
           "model.c": RECORD["model.c"], "model.gone": Recorded("g", "success")}
    prints = {"model.a": "fa2", "model.b": "fb", "test.t": "ft", "test.f": "ff", "model.c": "x"}
    new = update_record(old, ran, prints)
    assert sorted(new) == ["model.a", "model.c", "model.gone", "test.t"]
    assert new["model.a"] == Recorded("fa2", "success", "table (3 rows)", rows=3)
    assert new["test.t"].status == "warn" and new["test.t"].failures == 2
    assert new["model.c"] == RECORD["model.c"]  # reused: kept as it was


def test_record_round_trip_and_unreadable(tmp_path: Path):
    path = tmp_path / "reuse_record.json"
    assert load_record(path) == {}
    save_record(path, RECORD)
    assert load_record(path) == RECORD
    path.write_text("{not json")
    assert load_record(path) == {}
    path.write_text('{"version": 0, "nodes": {}}')
    assert load_record(path) == {}


def test_reused_results_in_run_results_and_on_screen():
    model = reused_result(NodeResult("a", NodeStatus.SKIPPED, "", materialized="table"),
                          RECORD["model.a"])
    test = reused_result(NodeResult("t_b", NodeStatus.SKIPPED, "", materialized="test",
                                    resource_type=ResourceType.TEST), RECORD["test.t_b"])
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    data = run_results(RunConfig(project_dir=Path(".")),
                       RunResult("build", now, now, [model, test], "local"))
    a, t = data["results"]
    assert (a["status"], a["reused"], a["rows_affected"]) == ("success", True, 3)
    assert a["message"] == "reused (unchanged): table (3 rows)"
    assert (t["status"], t["failures"], t["reused"]) == ("warn", 1, True)
    assert _finished_line(1, 2, model) == ("1 of 2 REUSED table model a (3 rows)",
                                           "[cyan]REUSED[/cyan]")
    assert _finished_line(2, 2, test)[0] == "2 of 2 REUSED WARN 1 t_b"
