"""Incremental models at compile time (no Spark): is_incremental() is true once a build left the
model's Parquet copy, false with --full-refresh; `{{ this }}` names its stored rows."""

from __future__ import annotations

from pathlib import Path

from runner.compile import compile_project
from runner.config import RunConfig

MODEL = (
    "{{ config(materialized='incremental', unique_key=['user_id', 'day']) }}\n"
    "select user_id, day from {{ ref('src') }}\n"
    "{% if is_incremental() %}where day > (select max(day) from {{ this }}){% endif %}\n"
)


def _project(make_project) -> Path:
    return make_project({
        "models/src.sql": "select 'u' as user_id, 1 as day",
        "models/inc.sql": MODEL,
    })


def test_first_build_is_not_incremental(make_project) -> None:
    cp = compile_project(RunConfig(project_dir=_project(make_project)))
    model = cp.models["inc"]
    assert model.config.materialized == "incremental"
    assert model.config.unique_key == ["user_id", "day"]
    assert "where" not in model.sql


def test_later_builds_read_this(make_project) -> None:
    project = _project(make_project)
    stored = project / "target" / "marts" / "inc"
    stored.mkdir(parents=True)
    (stored / "_SUCCESS").write_text("")
    sql = compile_project(RunConfig(project_dir=project)).models["inc"].sql
    assert "where day > (select max(day) from `inc__existing`)" in sql
    refresh = compile_project(RunConfig(project_dir=project, full_refresh=True))
    assert "where" not in refresh.models["inc"].sql


def test_a_half_written_copy_is_not_a_previous_build(make_project) -> None:
    project = _project(make_project)
    (project / "target" / "marts" / "inc").mkdir(parents=True)  # no _SUCCESS
    assert "where" not in compile_project(RunConfig(project_dir=project)).models["inc"].sql
