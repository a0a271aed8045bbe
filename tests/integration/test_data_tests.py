"""Every test type on real Spark: passes on good data, fails on data built to break it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "quality"
BAD = "--vars={raw_dir: data_bad}"

# test name -> (status in run_results, failing rows as {column: value} records, sorted)
EXPECTED_FAILURES = {
    "not_null_stg_users_user_id": ("fail", [{"user_id": None, "segment": 2, "score": 3}]),
    "unique_stg_users_user_id": ("fail", [{"unique_field": "u2", "n_records": 2}]),
    "accepted_values_stg_users_segment__1__2": ("fail", [{"value_field": 3, "n_records": 1}]),
    "accepted_values_stg_users_ab_group__control__treatment": (
        "fail", [{"value_field": "ctrl", "n_records": 1}]
    ),
    # a user macro test_at_least(model, column_name, min_value)
    "at_least_stg_users_score__1": ("fail", [{"user_id": "u5", "score": 0}]),
    "expression_stg_users__score_lte_100": ("fail", [{"user_id": "u6", "score": 250}]),
    "not_null_stg_events_event_id": ("fail", [{"event_id": None, "user_id": "u3"}]),
    "unique_stg_events_event_id": ("fail", [{"unique_field": 2, "n_records": 2}]),
    "relationships_stg_events_user_id__stg_users__user_id": (
        "fail", [{"event_id": 4, "user_id": "u9"}]
    ),
    "unique_combination_of_columns_stg_events__user_id__kind": (
        "fail", [{"user_id": "u5", "kind": "login", "n_records": 2}]
    ),
    # severity warn: reported, not an error
    "accepted_values_stg_events_kind__login__payment": (
        "warn", [{"value_field": "refund", "n_records": 1}]
    ),
    # where: segment = 1 keeps u8 (segment 2, no events) out
    "expression_user_stats_n_events__gte_1": ("fail", [{"user_id": "u7", "n_events": 0}]),
}
PASSING_ON_BAD_DATA = {
    "expression_user_stats__payment_rate_between_0_and_1",  # NULL rates pass
    "assert_every_user_counted",
    "assert_raw_users_not_empty",  # reads a source, no model
}


def _copy(tmp_path: Path) -> Path:
    project = tmp_path / "quality"
    shutil.copytree(FIXTURE, project, ignore=shutil.ignore_patterns("target"))
    return project


def _results(project: Path) -> dict[str, dict]:
    data = json.loads((project / "target" / "run_results.json").read_text())
    return {r["unique_id"]: r for r in data["results"]}


@pytest.fixture(scope="module")
def bad_run(run_runner, tmp_path_factory):
    """`runner test --store-failures` on data_bad (nothing built: models are read as views)."""
    project = _copy(tmp_path_factory.mktemp("bad"))
    result = run_runner(["test", BAD, "--store-failures"], project_dir=project)
    return project, result


def test_all_pass_on_good_data(run_runner, tmp_path, mart_reader):
    project = _copy(tmp_path)
    result = run_runner(["build"], project_dir=project)
    assert result.exit_code == 0, result.output
    assert "Done. OK=20 WARN=0 ERROR=0 SKIP=0 TOTAL=20" in result.output
    statuses = {uid: r["status"] for uid, r in _results(project).items()}
    assert {s for uid, s in statuses.items() if uid.startswith("test.")} == {"pass"}
    assert len(statuses) == 20
    assert len(mart_reader(project, "user_stats")) == 4


def test_bad_data_exit_code_and_summary(bad_run):
    _, result = bad_run
    assert result.exit_code == 1
    assert "Done. OK=3 WARN=1 ERROR=11 SKIP=0 TOTAL=15" in result.output
    assert "FAIL 1 unique_stg_users_user_id" in result.output
    assert "WARN 1 accepted_values_stg_events_kind__login__payment" in result.output
    assert "Failure in test unique_stg_users_user_id (models/schema.yml):" in result.output


@pytest.mark.parametrize("name", sorted(EXPECTED_FAILURES))
def test_each_test_type_catches_its_defect(bad_run, name):
    project, _ = bad_run
    status, rows = EXPECTED_FAILURES[name]
    result = _results(project)[f"test.{name}"]
    assert result["status"] == status
    assert result["failures"] == len(rows)
    # the message shows the failing rows and where all of them are stored
    stored = project / "target" / "test_failures" / name
    assert f"stored in {stored}" in result["message"]
    for row in rows:
        for value in row.values():
            assert ("NULL" if value is None else str(value)) in result["message"]
    frame = pd.read_parquet(stored)
    got = frame[list(rows[0])].astype(object).where(frame.notna(), None).to_dict("records")
    assert got == rows


@pytest.mark.parametrize("name", sorted(PASSING_ON_BAD_DATA))
def test_tests_without_a_defect_pass(bad_run, name):
    project, _ = bad_run
    assert _results(project)[f"test.{name}"]["status"] == "pass"
    assert not (project / "target" / "test_failures" / name).exists()


def test_singular_test_failing_rows_and_severity(run_runner, tmp_path):
    project = _copy(tmp_path)
    (project / "tests" / "data" / "assert_small_scores.sql").write_text(
        "{{ config(severity='warn') }}\n"
        "select user_id, score from {{ ref('stg_users') }} where score > {{ var('max_score', 6) }}"
    )
    result = run_runner(["test", "--select", "assert_small_scores"], project_dir=project)
    assert result.exit_code == 0, result.output  # severity warn
    assert "1 of 1 WARN 2 assert_small_scores" in result.output
    r = _results(project)["test.assert_small_scores"]
    assert (r["status"], r["failures"]) == ("warn", 2)
    assert "u1" in r["message"] and "10" in r["message"] and "u3" in r["message"]


def test_select_by_model_runs_only_its_tests(run_runner, tmp_path):
    project = _copy(tmp_path)
    result = run_runner(["test", "--select", "stg_events"], project_dir=project)
    assert result.exit_code == 0, result.output
    ran = set(_results(project))
    assert ran == {
        "test.accepted_values_stg_events_kind__login__payment",
        "test.not_null_stg_events_event_id",
        "test.unique_stg_events_event_id",
        "test.relationships_stg_events_user_id__stg_users__user_id",
        "test.unique_combination_of_columns_stg_events__user_id__kind",
    }


def test_a_broken_test_is_an_error_not_a_crash(run_runner, tmp_path):
    project = _copy(tmp_path)
    schema = project / "models" / "schema.yml"
    schema.write_text(schema.read_text().replace("score <= 100", "no_such_column <= 100"))
    result = run_runner(["test", "--select", "stg_users"], project_dir=project)
    assert result.exit_code == 1
    assert "ERROR test expression_stg_users__no_such_column_lte_100" in result.output
    r = _results(project)["test.expression_stg_users__no_such_column_lte_100"]
    assert r["status"] == "error" and r["failures"] is None
    assert "no_such_column" in r["message"]
    assert "compiled SQL: target/compiled/tests/" in r["message"]


def test_a_test_reading_only_a_source(run_runner, spark, tmp_path):
    project = _copy(tmp_path)
    spark.catalog.dropTempView("src__raw__users")  # left by earlier runs in this session
    result = run_runner(["test", "--select", "assert_raw_users_not_empty"], project_dir=project)
    assert result.exit_code == 0, result.output
    assert "1 of 1 PASS assert_raw_users_not_empty" in result.output


def test_condition_batch_counts_a_model_once(spark):
    """Batched tests of a model need no count of their own; a test alone on its model, and any
    batch that cannot run, fall back to running the test alone."""
    from runner.datatests.collect import DataTest
    from runner.datatests.failing_rows import ConditionBatch
    from runner.datatests.generic import FailureCount

    spark.createDataFrame([("a", 1), ("b", 2), (None, 3)], "user_id string, n int") \
        .createOrReplaceTempView("batch_users")

    def make(name: str, condition: str, model: str = "batch_users") -> DataTest:
        return DataTest(name=name, kind="expression", path=Path("schema.yml"), sql="select 1",
                        refs=(model,), model=model, count=FailureCount(condition))

    ok, bad, alone = make("ok", "n > 5"), make("bad", "user_id is null"), make("x", "n < 0", "m")
    batch = ConditionBatch(spark, [ok, bad, alone])
    assert batch.passes(ok) and not batch.passes(bad)
    assert (batch.failures(ok), batch.failures(bad)) == (0, 1)
    assert batch.failures(alone) is None  # the only test of its model: not batched
    assert batch.counts == {"batch_users": {"ok": 0, "bad": 1}}

    broken = ConditionBatch(spark, [ok, make("broken", "no_such_column > 0")])
    assert broken.failures(ok) is None
    assert broken.counts == {"batch_users": {}}


# -- the generic tests of one model counted in one query ------------------------------------

WIDE_SQL = """select * from values
  (1, 'x', 'a', 1), (1, 'x', 'a', -1), (1, 'y', 'b', 2), (2, 'y', 'c', -5), (2, null, 'a', 3),
  (null, null, 'a', 4), (null, 'x', 'c', -2), (3, 'z', 'd', 5)
  as t(id, grp, kind, score)
"""
WIDE_YML = """version: 2
models:
  - name: wide
    tests:
      - unique_combination_of_columns: {combination_of_columns: [grp, kind]}
      - expression: {expression: "score >= 0", config: {where: "grp = 'x'", severity: warn}}
    columns:
      - name: id
        tests: [not_null, unique]
      - name: kind
        tests:
          - accepted_values: {values: [a, b], severity: warn}
      - name: score
        tests: [not_null]
      - name: grp
        tests:
          - unique: {config: {where: "kind = 'a'"}}
"""
# test name -> (status, failures): the counts each test's own query returns (rows, distinct
# values, duplicated groups), NULL groups and `where` included
WIDE_EXPECTED = {
    "not_null_wide_id": ("fail", 2),
    "unique_wide_id": ("fail", 2),  # ids 1 (3 rows) and 2 (2 rows)
    "accepted_values_wide_kind__a__b": ("warn", 2),  # c (2 rows) and d
    "unique_combination_of_columns_wide__grp__kind": ("fail", 2),  # (x, a) and (NULL, a)
    "expression_wide__score_gte_0": ("warn", 2),  # grp x: -1 and -2
    "not_null_wide_score": ("pass", 0),
    "unique_wide_grp": ("fail", 1),  # kind a: grp x twice (NULL not a duplicate)
}


@pytest.fixture(scope="module")
def wide_project(tmp_path_factory):
    project = _copy(tmp_path_factory.mktemp("wide"))
    (project / "models" / "wide.sql").write_text(WIDE_SQL)
    (project / "models" / "wide.yml").write_text(WIDE_YML)
    return project


@pytest.mark.parametrize("store", [False, True], ids=["counted in one pass", "store failures"])
def test_tests_of_one_model_counted_once(run_runner, wide_project, store):
    """Statuses, counts and sample rows are those of each test's own query, batched or not;
    with --store-failures, every failing test's rows are stored."""
    args = ["test", "--select", "wide"] + (["--store-failures"] if store else [])
    result = run_runner(args, project_dir=wide_project)
    assert result.exit_code == 1
    assert "Done. OK=1 WARN=2 ERROR=4 SKIP=0 TOTAL=7" in result.output
    assert "WARN 2 accepted_values_wide_kind__a__b" in result.output
    assert "value_field | n_records\nc           | 2\nd           | 1" in result.output
    assert "unique_field | n_records\nx            | 2" in result.output
    results = _results(wide_project)
    got = {uid.removeprefix("test."): (r["status"], r["failures"]) for uid, r in results.items()}
    assert got == WIDE_EXPECTED
    for name, (status, failures) in WIDE_EXPECTED.items():
        stored = wide_project / "target" / "test_failures" / name
        assert stored.exists() == (store and status != "pass"), name
        if stored.exists():
            assert len(pd.read_parquet(stored)) == failures
            assert f"stored in {stored}" in results[f"test.{name}"]["message"]
        if store:
            shutil.rmtree(stored, ignore_errors=True)


def test_one_pass_counts_equal_each_tests_own_query(run_runner, wide_project, spark):
    """One query counts the model's batched tests, each as its own query would."""
    from runner.compile import compile_project
    from runner.config import RunConfig
    from runner.datatests.failing_rows import ConditionBatch

    spark.sql(WIDE_SQL).createOrReplaceTempView("wide")
    cp = compile_project(RunConfig(project_dir=wide_project, command="compile"), check_sql=False)
    tests = [t for t in cp.tests.values() if t.model == "wide"]
    batch = ConditionBatch(spark, tests)
    assert sorted(t.name for t in batch.groups["wide"]) == sorted(WIDE_EXPECTED)
    for test in tests:
        assert batch.failures(test) == spark.sql(test.sql).count(), test.name
    assert set(batch.counts) == {"wide"}


def test_a_column_named_like_a_path_stores_and_deletes_nothing_outside_target(
    run_runner, tmp_path
):
    # Once, this test's failing-rows folder was target/test_failures/<its name>, and its name
    # `not_null_users_false --/../../../../victim` led to <tmp>/victim, which a passing test's
    # (empty) stored rows then deleted.
    from tests.conftest import write_project

    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("precious")
    column = "false --/../../../../victim"
    project = write_project(tmp_path / "p", {
        "runner_project.yml": "name: t\nprofile: t\n",
        "profiles.yml": "t:\n  target: local\n  outputs:\n    local:\n"
                        "      spark: {master: 'local[2]'}\n",
        "models/users.sql": f"select 1 as user_id, 2 as `{column}`",
        "models/schema.yml": "models:\n  - name: users\n    columns:\n"
                             f"      - name: \"{column}\"\n        tests: [not_null]\n",
    })
    before = {p for p in tmp_path.rglob("*") if project not in p.parents}
    result = run_runner(["build", "--store-failures"], project_dir=project)
    assert result.exit_code == 0, result.output
    assert "PASS not_null_users_false_victim_" in result.output  # a slug with a hash
    assert (victim / "precious.txt").read_text() == "precious"
    assert {p for p in tmp_path.rglob("*") if project not in p.parents} == before
    outside_target = [p for p in project.rglob("*victim*") if project / "target" not in p.parents]
    assert outside_target == []
