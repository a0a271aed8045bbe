"""Unit tests (`unit_tests:`) on real Spark: pass, fail with a row diff, errors at file:line,
no data needed by `runner test`, and a failing one skips its model and what follows in a build."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import write_project

FILES = {
    "runner_project.yml": "name: t\nprofile: t\nvars: {raw_dir: data}\n",
    "profiles.yml": "t:\n  target: local\n  outputs:\n    local:\n"
                    "      spark: {master: 'local[2]'}\n",
    "models/sources.yml": (
        "sources:\n  - name: raw\n    path: \"{{ var('raw_dir') }}\"\n    tables:\n"
        "      - {name: users, columns: [{name: user_id}, {name: segment}, {name: signup_dt}]}\n"
    ),
    "models/stg_users.sql": (
        "select user_id, cast(segment as int) as segment, cast(signup_dt as date) as signup_dt\n"
        "from {{ source('raw', 'users') }}\nwhere user_id is not null\n"
    ),
    "models/counts.sql": (
        "{{ config(materialized='table') }}\n"
        "select segment, count(1) as users, min(signup_dt) as first_signup\n"
        "from {{ ref('stg_users') }}\ngroup by segment\n"
    ),
    "models/report.sql": "{{ config(materialized='table') }}\nselect * from {{ ref('counts') }}\n",
    "data/users.csv": (
        "user_id,segment,signup_dt\nu1,1,2022-01-01\nu2,1,2022-01-03\nu3,2,2022-01-02\n"
    ),
}

UNIT_TESTS = """\
unit_tests:
  - name: staging_drops_rows_without_id
    model: stg_users
    given:
      - input: source('raw', 'users')
        format: csv
        rows: |
          user_id,segment,signup_dt
          u1,1,2022-01-01
          ,2,2022-01-02
    expect:
      rows: [{user_id: u1, segment: 1, signup_dt: 2022-01-01}]
  - name: counts_per_segment
    model: counts
    given:
      - input: ref('stg_users')
        rows:
          - {user_id: a, segment: 1, signup_dt: 2022-01-05}
          - {user_id: b, segment: 1, signup_dt: 2022-01-02}
    expect:
      rows: [{segment: 1, users: 2, first_signup: 2022-01-02}]
"""

WRONG = """\
  - name: counts_expected_wrong
    model: counts
    given:
      - input: ref('stg_users')
        rows: [{user_id: a, segment: 1}, {user_id: b, segment: 1}]
    expect:
      rows: [{segment: 1, users: 3}]
"""

BAD_VALUE = """\
  - name: counts_given_bad_value
    model: counts
    given:
      - input: ref('stg_users')
        rows:
          - {user_id: a, segment: one}
    expect:
      rows: []
"""


def _results(project: Path) -> dict[str, dict]:
    data = json.loads((project / "target" / "run_results.json").read_text())
    return {r["unique_id"]: r for r in data["results"]}


def _project(root: Path, units: str) -> Path:
    files = {**FILES, "models/_unit_tests.yml": units}
    return write_project(root, files)


def test_unit_tests_pass_without_data(run_runner, tmp_path):
    project = _project(tmp_path, UNIT_TESTS)
    (project / "data" / "users.csv").unlink()  # a unit test reads no data file
    result = run_runner(["test", "-s", "test_type:unit"], project_dir=project)
    assert result.exit_code == 0, result.output
    assert "PASS counts_per_segment" in result.output
    results = _results(project)
    assert {u: r["status"] for u, r in results.items()} == {
        "unit_test.staging_drops_rows_without_id": "pass",
        "unit_test.counts_per_segment": "pass",
    }
    assert results["unit_test.counts_per_segment"]["resource_type"] == "unit_test"


@pytest.fixture(scope="module")
def failing(run_runner, tmp_path_factory):
    project = _project(tmp_path_factory.mktemp("unit"), UNIT_TESTS + WRONG + BAD_VALUE)
    return project, run_runner(["test", "-s", "test_type:unit"], project_dir=project)


def test_a_failing_unit_test_prints_the_row_diff(failing):
    project, result = failing
    assert result.exit_code == 1
    assert "FAIL 2 counts_expected_wrong" in result.output
    assert (
        "unit test counts_expected_wrong of model counts: the output differs from expect:\n"
        "1 of 1 expected row missing, 1 unexpected row (compared: segment, users)\n"
        "    segment  users\n"
        "  - 1        3\n"
        "  + 1        2\n"
        "- expected, not produced   + produced, not expected\n"
    ) in result.output
    wrong = _results(project)["unit_test.counts_expected_wrong"]
    assert (wrong["status"], wrong["failures"]) == ("fail", 2)


def test_a_value_that_does_not_fit_its_column_is_an_error_at_its_line(failing):
    project, result = failing
    assert (
        "models/_unit_tests.yml:34: unit test counts_given_bad_value: input ref('stg_users'): "
        "segment = one must be a whole number\n"
    ) in result.output
    assert "hint: the column is int\n" in result.output
    bad = _results(project)["unit_test.counts_given_bad_value"]
    assert (bad["status"], bad["failures"]) == ("error", None)
    assert _results(project)["unit_test.counts_per_segment"]["status"] == "pass"


def test_build_runs_unit_tests_first_and_a_failure_skips_the_model(run_runner, tmp_path):
    project = _project(tmp_path, UNIT_TESTS + WRONG)
    result = run_runner(["build"], project_dir=project)
    assert result.exit_code == 1, result.output
    results = _results(project)
    assert list(results) == [
        "unit_test.staging_drops_rows_without_id", "model.stg_users",
        "unit_test.counts_expected_wrong", "unit_test.counts_per_segment", "model.counts",
        "model.report",
    ]
    assert results["model.stg_users"]["status"] == "success"
    assert results["model.counts"]["status"] == "skipped"
    assert results["model.counts"]["message"] == "unit test counts_expected_wrong failed"
    assert results["model.report"]["message"] == "unit test counts_expected_wrong failed"
    assert not (project / "target" / "marts" / "counts").exists()
