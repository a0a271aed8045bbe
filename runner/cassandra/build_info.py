"""The build record: one row per build in `<keyspace>.build_info` (the dashboard shows the last).

Its columns are defined here once: `runner.local.services.record_build` creates the table and
writes the row, and `runner.chart_check` checks the charts of its dataset against them.
"""

from __future__ import annotations

from typing import Any

from runner.results import NodeStatus, ResourceType, RunResult

BUILD_INFO = "build_info"
# Column -> CQL type, in the order of the table and of `build_info_row`; build_id is the key.
COLUMNS: dict[str, str] = {
    "build_id": "text", "finished_at": "timestamp", "started_at": "timestamp", "target": "text",
    "command": "text", "models": "int", "ok": "int", "errors": "int", "skipped": "int",
}


def create_table_cql(keyspace: str) -> str:
    """The CQL that creates the table when it is missing.

    Example:
        >>> create_table_cql("ks")  # doctest: +ELLIPSIS
        'CREATE TABLE IF NOT EXISTS "ks".build_info (build_id text PRIMARY KEY, finished_at ...)'
    """
    key, *rest = COLUMNS
    columns = ", ".join([f"{key} {COLUMNS[key]} PRIMARY KEY"] + [f"{c} {COLUMNS[c]}" for c in rest])
    return f'CREATE TABLE IF NOT EXISTS "{keyspace}".{BUILD_INFO} ({columns})'


def insert_cql(keyspace: str) -> str:
    """The CQL that upserts one row, with a placeholder per column.

    Example:
        >>> insert_cql("ks")  # doctest: +ELLIPSIS
        'INSERT INTO "ks".build_info (build_id, finished_at, ..., skipped) VALUES (%s, ..., %s)'
    """
    return (
        f'INSERT INTO "{keyspace}".{BUILD_INFO} ({", ".join(COLUMNS)}) '
        f"VALUES ({', '.join(['%s'] * len(COLUMNS))})"
    )


def build_info_row(run: RunResult) -> tuple[Any, ...]:
    """The values of a build's row, in the order of `COLUMNS`: model counts by status."""
    models = [r for r in run.results if r.resource_type == ResourceType.MODEL]
    return (
        run.started_at.strftime("%Y%m%dT%H%M%S") + "-" + run.command,
        run.finished_at,
        run.started_at,
        run.target,
        run.command,
        len(models),
        sum(1 for r in models if r.status == NodeStatus.SUCCESS),
        sum(1 for r in models if r.status == NodeStatus.ERROR),
        sum(1 for r in models if r.status == NodeStatus.SKIPPED),
    )
