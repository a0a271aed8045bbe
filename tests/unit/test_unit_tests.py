"""Unit tests (`unit_tests:`) without Spark: definitions, errors at file:line, selection, plan,
fixture values and the diff text."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from click.testing import CliRunner
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from runner.build import plan_steps
from runner.cli import main
from runner.compile import compile_project
from runner.config import RunConfig
from runner.datatests.row_diff import RowDiff, compare_rows, render_diff
from runner.datatests.unit_values import relation_sql, sql_literal, to_value
from runner.errors import SelectionError

MODELS = {
    "models/sources.yml": (
        "sources:\n  - name: raw\n    tables:\n"
        "      - {name: users, columns: [{name: user_id}, {name: segment}]}\n"
    ),
    "models/stg_users.sql": "select user_id, cast(segment as int) as segment "
                            "from {{ source('raw', 'users') }}",
    "models/counts.sql": "select segment, count(1) as users from {{ ref('stg_users') }} "
                         "where segment <= {{ var('max_segment', 9) }} group by segment",
    "models/report.sql": "select * from {{ ref('counts') }}",
}

GOOD = """\
unit_tests:
  - name: counts_per_segment
    model: counts
    given:
      - input: ref('stg_users')
        rows: [{user_id: a, segment: 1}, {user_id: b, segment: 1}]
    expect:
      rows: [{segment: 1, users: 2}]
  - name: staging_casts
    model: stg_users
    overrides: {vars: {max_segment: 1}}
    given:
      - input: source('raw', 'users')
        format: csv
        rows: |
          user_id,segment
          a,1
    expect:
      rows: [{user_id: a, segment: 1}]
"""


def _compile(make_project, units: str = GOOD, **cfg):
    project = make_project({**MODELS, "models/_unit_tests.yml": units})
    return compile_project(RunConfig(project_dir=project, command="compile", **cfg),
                           check_sql=False)


def _error(make_project, units: str) -> str:
    project = make_project({**MODELS, "models/_unit_tests.yml": units})
    result = CliRunner().invoke(main, ["compile", "--project-dir", str(project)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "Unexpected error" not in result.output
    return result.output


def test_unit_tests_compile_with_inputs_renamed(make_project):
    cp = _compile(make_project)
    assert sorted(cp.unit_tests) == ["counts_per_segment", "staging_casts"]
    test = cp.unit_tests["counts_per_segment"]
    assert test.model == "counts" and test.site.line == 2
    assert test.given[0].relation == "__unit__counts_per_segment__stg_users"
    assert "from `__unit__counts_per_segment__stg_users`" in test.compiled.sql
    assert test.expect_columns == ("segment", "users")
    assert [r.line for r in test.given[0].rows] == [6, 6]
    staging = cp.unit_tests["staging_casts"]
    assert "`__unit__staging_casts__src__raw__users`" in staging.compiled.sql
    assert [(r.values, r.line) for r in staging.given[0].rows] == [
        ({"user_id": "a", "segment": "1"}, 17)]
    written = cp.project.target_dir / "compiled" / "unit_tests" / "counts_per_segment.sql"
    assert written.read_text() == test.compiled.sql


def test_overrides_vars_render_the_model_with_them(make_project):
    units = GOOD.replace("model: stg_users", "model: counts").replace(
        "source('raw', 'users')\n        format: csv\n        rows: |\n          user_id,segment\n"
        "          a,1", "ref('stg_users')\n        rows: []").replace(
        "rows: [{user_id: a, segment: 1}]", "rows: []")
    cp = _compile(make_project, units)
    assert "segment <= 1" in cp.unit_tests["staging_casts"].compiled.sql
    assert "segment <= 9" in cp.unit_tests["counts_per_segment"].compiled.sql


# (unit_tests YAML, the exact first line of the error, its hint or None)
ERRORS = [
    ("unit_tests:\n  - name: t\n    model: counts\n    given: []\n",
     "models/_unit_tests.yml:2: unit test 't' has no 'expect'", "add `expect:` to it"),
    ("unit_tests:\n  - name: t\n    model: counts\n    expect: {rows: []}\n    descripton: x\n",
     "models/_unit_tests.yml:5: unit test 't': unknown key 'descripton'",
     "allowed keys: name, config, description, expect, given, model, overrides"),
    ("unit_tests:\n  - name: t\n    model: count\n    expect: {rows: []}\n",
     "models/_unit_tests.yml:3: unit test t: model 'count' not found",
     "did you mean 'counts'?"),
    ("unit_tests:\n  - name: t\n    model: counts\n    given:\n      - input: stg_users\n"
     "        rows: []\n    expect: {rows: []}\n",
     "models/_unit_tests.yml:5: unit test t: input 'stg_users' is not a ref() or source()",
     "write input: ref('model') or input: source('source', 'table')"),
    ("unit_tests:\n  - name: t\n    model: counts\n    given:\n      - input: ref('report')\n"
     "        rows: []\n    expect: {rows: []}\n",
     "models/_unit_tests.yml:5: unit test t: model counts does not read ref('report')",
     "it reads: ref('stg_users')"),
    # dbt needs every input of the model given; the error names the missing one
    ("unit_tests:\n  - name: t\n    model: counts\n    given: []\n    expect: {rows: []}\n",
     "models/_unit_tests.yml:4: unit test t: input ref('stg_users') of model counts is not "
     "given", "add `- input: ref('stg_users')` under given: (`rows: []` for no rows)"),
    ("unit_tests:\n  - name: t\n    model: stg_users\n    given:\n"
     "      - input: source('raw', 'users')\n        format: csv\n        rows: |\n"
     "          user_id,segment\n          a,1,extra\n    expect: {rows: []}\n",
     "models/_unit_tests.yml:9: unit test t: CSV record 1 has 3 fields, the header 2 "
     "(user_id, segment)", None),
    ("unit_tests:\n  - name: t\n    model: stg_users\n    given:\n"
     "      - input: source('raw', 'users')\n        rows: |\n          user_id\n          a\n"
     "    expect: {rows: []}\n",
     "models/_unit_tests.yml:5: given entry of unit test 't': rows is text: add `format: csv`, "
     "or write a list of mappings", None),
    ("unit_tests:\n  - name: t\n    model: counts\n    overrides: {macros: {x: 1}}\n"
     "    expect: {rows: []}\n",
     "models/_unit_tests.yml:4: unit test 't': 'overrides': unknown key 'macros'",
     "allowed keys: vars"),
    ("unit_tests:\n  - name: t\n    model: report\n    given: [{input: \"ref('counts')\", "
     "rows: []}]\n    expect: {rows: []}\n  - name: t\n    model: counts\n"
     "    given: [{input: \"ref('stg_users')\", rows: []}]\n    expect: {rows: []}\n",
     "models/_unit_tests.yml:6: unit test t: the name is used twice "
     "(also at models/_unit_tests.yml:2)", "give each unit test its own name"),
    ("unit_tests:\n  - name: ../t\n    model: counts\n    expect: {rows: []}\n",
     "models/_unit_tests.yml:2: unit test name '../t' is not allowed: use only letters, "
     "digits and _", None),
]


@pytest.mark.parametrize(("units", "message", "hint"), ERRORS)
def test_definition_errors_name_file_and_line(make_project, units, message, hint):
    output = _error(make_project, units)
    assert f"Error: {message}\n" in output
    if hint is not None:
        assert f"hint: {hint}\n" in output


@pytest.mark.parametrize(("select", "exclude", "models", "units"), [
    # test_type:unit selects every unit test and no model
    (("test_type:unit",), (), [], ["counts_per_segment", "staging_casts"]),
    # a model brings its unit tests
    (("counts",), (), ["counts"], ["counts_per_segment"]),
    (("stg_users+",), (), ["stg_users", "counts", "report"],
     ["counts_per_segment", "staging_casts"]),
    # by name, with wildcards
    (("staging_*",), (), [], ["staging_casts"]),
    # intersection: unit tests of one model
    (("test_type:unit,counts",), (), [], ["counts_per_segment"]),
    ((), ("test_type:unit",), ["stg_users", "counts", "report"], []),
    ((), ("counts",), ["stg_users", "report"], ["staging_casts"]),
])
def test_selection(make_project, select, exclude, models, units):
    cp = _compile(make_project, select=select, exclude=exclude)
    assert cp.selected == models
    assert cp.selected_unit_tests == units


def test_unknown_test_type_is_an_error(make_project):
    with pytest.raises(SelectionError, match="unknown test type 'test_type:data'"):
        _compile(make_project, select=("test_type:data",))


def test_plan_puts_unit_tests_before_their_model(make_project):
    cp = _compile(make_project)
    plan = [f"{s.resource_type}:{s.name}" for s in plan_steps(cp, "build")]
    assert plan == ["unit_test:staging_casts", "model:stg_users", "unit_test:counts_per_segment",
                    "model:counts", "model:report"]
    assert [s.name for s in plan_steps(cp, "test")] == ["staging_casts", "counts_per_segment"]
    assert [s.name for s in plan_steps(cp, "run")] == ["stg_users", "counts", "report"]


def test_ls_and_compile_do_not_need_spark_or_data(make_project):
    project = make_project({**MODELS, "models/_unit_tests.yml": GOOD})
    result = CliRunner().invoke(main, ["compile", "--project-dir", str(project)])
    assert result.exit_code == 0, result.output


# -- values and literals ---------------------------------------------------------------------

SCHEMA = StructType([
    StructField("user_id", StringType()), StructField("n", IntegerType()),
    StructField("rate", DoubleType()), StructField("d", DateType()),
    StructField("ts", TimestampType()), StructField("ok", BooleanType()),
    StructField("days", ArrayType(DateType())), StructField("m", MapType(StringType(), DateType())),
])


@pytest.mark.parametrize(("value", "dtype", "expected"), [
    ("8.0", IntegerType(), 8),
    (2.0, IntegerType(), 2),
    ("2022-01-05", DateType(), date(2022, 1, 5)),
    (datetime(2022, 1, 5), DateType(), date(2022, 1, 5)),
    ("2022-01-05 10:11:12.123456789", TimestampType(), datetime(2022, 1, 5, 10, 11, 12, 123456)),
    (date(2022, 1, 5), StringType(), "2022-01-05"),
    (1.0, StringType(), "1.0"),
    (True, StringType(), "true"),
    ("false", BooleanType(), False),
    ({"habit": "2022-01-09"}, MapType(StringType(), DateType()), {"habit": date(2022, 1, 9)}),
    (None, DateType(), None),
])
def test_to_value(value, dtype, expected):
    assert to_value(value, dtype) == expected


@pytest.mark.parametrize(("value", "dtype", "problem"), [
    ("x", IntegerType(), "must be a whole number"),
    (1.5, IntegerType(), "must be a whole number"),
    (True, IntegerType(), "must be a whole number, not true/false"),
    ("2022-02-30", DateType(), "must be a date YYYY-MM-DD"),
    ("maybe", BooleanType(), "must be true or false"),
    ("a", ArrayType(IntegerType()), "must be a list for array<int>"),
    (2**40, IntegerType(), "is out of range for a 32-bit integer"),
])
def test_to_value_errors(value, dtype, problem):
    with pytest.raises(ValueError, match=problem):
        to_value(value, dtype)


def test_relation_sql_types_every_column():
    row = {"user_id": "it's", "n": 1, "rate": 0.1, "d": date(2022, 1, 1),
           "ts": datetime(2022, 1, 1, 10, 0, 0, 5), "ok": True, "days": [], "m": {"a": None}}
    sql = relation_sql(SCHEMA, [row, {"user_id": "b"}])
    assert sql.startswith("SELECT * FROM VALUES ('it\\'s', CAST(1 AS int), "
                          "CAST('0.1' AS double), DATE'2022-01-01', "
                          "TIMESTAMP'2022-01-01 10:00:00.000005', TRUE, "
                          "CAST(array() AS array<date>), "
                          "CAST(map('a', CAST(NULL AS date)) AS map<string,date>)), ")
    assert sql.endswith("AS t(`user_id`, `n`, `rate`, `d`, `ts`, `ok`, `days`, `m`)")
    assert sql_literal(float("nan"), DoubleType()) == "CAST('NaN' AS double)"


# -- the diff --------------------------------------------------------------------------------


def test_compare_rows_is_a_multiset_comparison():
    diff = compare_rows([("a", 1), ("a", 1)], [("a", 1)])
    assert diff.missing == (("a", 1),) and diff.unexpected == () and diff.matched == 1
    assert compare_rows([(0.3333333,)], [(1 / 3,)]).failures == 0
    assert compare_rows([(None,)], [(0,)]).failures == 2


def test_diff_text_lists_missing_and_unexpected_rows():
    diff = RowDiff(missing=(("MLB1", 1, None),), unexpected=(("MLB1", 2, [date(2022, 1, 31)]),),
                   matched=3)
    assert render_diff(["user_id", "n", "days"], diff, 4) == (
        "1 of 4 expected rows missing, 1 unexpected row (compared: user_id, n, days)\n"
        "    user_id  n  days\n"
        "  - MLB1     1  null\n"
        "  + MLB1     2  [2022-01-31]\n"
        "- expected, not produced   + produced, not expected"
    )


def test_diff_text_is_cut_after_twenty_rows_a_side():
    diff = RowDiff(missing=tuple((i,) for i in range(25)), unexpected=(), matched=0)
    text = render_diff(["n"], diff, 25)
    assert text.count("\n  - ") == 20
    assert "  ... and 5 more rows\n" in text
