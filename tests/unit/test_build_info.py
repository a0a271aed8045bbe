"""The build record's one definition (runner.cassandra.build_info): table, columns, row."""

from __future__ import annotations

from datetime import UTC, datetime

from runner.cassandra import build_info
from runner.chart_check import RUNNER_TABLES
from runner.results import NodeResult, NodeStatus, ResourceType, RunResult


def test_row_follows_the_columns_and_counts_models_by_status() -> None:
    started = datetime(2024, 5, 1, 12, 30, 5, tzinfo=UTC)
    finished = datetime(2024, 5, 1, 12, 31, tzinfo=UTC)
    run = RunResult("build", started, finished, [
        NodeResult("a", NodeStatus.SUCCESS, ""),
        NodeResult("b", NodeStatus.ERROR, ""),
        NodeResult("c", NodeStatus.SKIPPED, ""),
        NodeResult("not_null_a_id", NodeStatus.SUCCESS, "", resource_type=ResourceType.TEST),
    ], "dev")
    row = dict(zip(build_info.COLUMNS, build_info.build_info_row(run), strict=True))
    assert row == {
        "build_id": "20240501T123005-build", "finished_at": finished, "started_at": started,
        "target": "dev", "command": "build", "models": 3, "ok": 1, "errors": 1, "skipped": 1,
    }


def test_table_and_chart_check_share_the_columns() -> None:
    create = build_info.create_table_cql("ks")
    assert create.startswith('CREATE TABLE IF NOT EXISTS "ks".build_info (build_id text PRIMARY')
    assert all(f"{c} {t}" in create for c, t in build_info.COLUMNS.items())
    assert build_info.insert_cql("ks").count("%s") == len(build_info.COLUMNS)
    assert RUNNER_TABLES == {"build_info": tuple(build_info.COLUMNS)}
