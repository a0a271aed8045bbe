"""`runner show` (any model, --where, --inline) and `runner explain-user` on real Spark, on the
project's seeds after one `runner run`; expected rows come from the CSVs and Parquet copies."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.integration.test_diff import copy_project

CLEAN_AND_MALFORMED = "MLB4652806390"  # in the seeds: a clean id, and a `-1` copy of it


@pytest.fixture(scope="module")
def built(tmp_path_factory, run_runner):
    project = copy_project(tmp_path_factory.mktemp("preview"))
    result = run_runner(["run"], project_dir=project)
    assert result.exit_code == 0, result.output
    return project


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_show_a_staging_model_filtered(built, run_runner):
    doc = _json(run_runner(["show", "stg_users", "--where", f"user_id = '{CLEAN_AND_MALFORMED}'",
                            "-n", "20", "--output", "json"], project_dir=built))
    raw = pd.read_csv(built / "seeds" / "dim_users.csv", dtype=str)
    expected = raw[raw["user_id"].str.strip() == CLEAN_AND_MALFORMED]
    assert [r["user_id"] for r in doc["rows"]] == [CLEAN_AND_MALFORMED] * len(expected)
    assert {r["name"] for r in doc["rows"]} == set(expected["name"])
    assert {"name": "quarantine_reason", "type": "string"} in doc["columns"]
    assert doc["more"] is False


def test_show_limits_rows_and_says_more_match(built, run_runner):
    doc = _json(run_runner(["show", "int_user_metrics", "-n", "3", "--output", "json"],
                           project_dir=built))
    assert len(doc["rows"]) == 3 and doc["more"] is True
    result = run_runner(["show", "int_user_metrics", "-n", "3"], project_dir=built)
    assert "int_user_metrics (3 rows; more rows match" in result.output


def test_show_inline_reads_the_built_mart(built, run_runner):
    query = ("select segment_name, users from {{ ref('segment_summary') }} "
             "where users > {{ var('habit_min_days') }} order by segment_name")
    doc = _json(run_runner(["show", "--inline", query, "--output", "json"], project_dir=built))
    mart = pd.read_parquet(built / "target" / "marts" / "segment_summary")
    mart = mart[mart["users"] > 5].sort_values("segment_name")
    assert doc["rows"] == [{"segment_name": s, "users": int(u)}
                           for s, u in zip(mart["segment_name"], mart["users"], strict=True)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show"], "Error: give a MODEL (optionally with --where) or an --inline query"),
        (["show", "stg_user"], "Error: model 'stg_user' not found\nhint: did you mean stg_users?"),
        (["show", "stg_users", "--where", "nope = 1"],
         "Error: --where 'nope = 1' does not apply to stg_users:"),
        (["show", "--inline", "select * from {{ ref('segment_sumary') }}"],
         "hint: did you mean ref('segment_summary')?"),
        (["show", "--inline", "select * from where"], "Error: <inline>:1"),
    ],
)
def test_show_errors_name_what_to_fix(built, run_runner, args, message):
    result = run_runner(args, project_dir=built)
    assert result.exit_code == 1, result.output
    assert message in result.output


def test_explain_a_user_in_the_mart(built, run_runner):
    mart = pd.read_parquet(built / "target" / "marts" / "user_onboarding_metrics")
    row = mart.sort_values("user_id").iloc[0]
    doc = _json(run_runner(["explain-user", row["user_id"], "--output", "json"],
                           project_dir=built))
    assert doc["key"] == "user_id"
    assert doc["verdict"].startswith(
        f"in user_onboarding_metrics: segment_name {row['segment_name']}, "
        f"ab_group {row['ab_group']}, drop {'true' if row['drop'] else 'false'}")
    nodes = {n["name"]: n for n in doc["nodes"]}
    assert nodes["raw.lk_onboarding"]["rows_found"] >= 1
    assert nodes["user_onboarding_metrics"]["rows"][0]["habit"] == row["habit"]
    assert "segment_summary" in doc["models_without_key"]


def test_explain_a_malformed_id_quarantined_everywhere(built, run_runner):
    doc = _json(run_runner(["explain-user", f"{CLEAN_AND_MALFORMED}-1", "--output", "json"],
                           project_dir=built))
    assert doc["verdict"] == ("excluded: every stg_onboarding row quarantined (malformed_user_id); "
                              "every stg_users row quarantined (malformed_user_id)")
    nodes = {n["name"]: n for n in doc["nodes"]}
    assert nodes["quarantined_rows"]["matched_on"] == "raw['user_id']"
    assert {r["reason"] for r in nodes["quarantined_rows"]["rows"]} == {"malformed_user_id"}


def test_explain_shows_malformed_copies_next_to_the_clean_id(built, run_runner):
    result = run_runner(["explain-user", CLEAN_AND_MALFORMED], project_dir=built)
    assert result.exit_code == 0, result.output
    assert f"{CLEAN_AND_MALFORMED}-1" in result.output  # the quarantined copy, by token match
    assert "1 quarantined (malformed_user_id)" in result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith(f"user_id {CLEAN_AND_MALFORMED}: ")


def test_explain_an_unknown_id(built, run_runner):
    doc = _json(run_runner(["explain-user", "MLB0", "--output", "json"], project_dir=built))
    assert doc["verdict"] == "not found: no source or model has a row with user_id MLB0"
