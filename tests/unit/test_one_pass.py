"""The one query counting a model's generic tests (runner.datatests.one_pass), read by sqlglot."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from runner.datatests.collect import DataTest
from runner.datatests.failing_rows import FailingRows, run_test
from runner.datatests.generic import FAILURE_COUNTS, FailureCount
from runner.datatests.one_pass import build_count_query


def _count(kind: str, column: str | None = None, where: str | None = None, **kwargs):
    return FAILURE_COUNTS[kind](column, **kwargs).where(where)


def _same(got: str, expected: str) -> None:
    """Both parse as Spark SQL and say the same thing."""
    assert sqlglot.transpile(got, read="spark", write="spark") == sqlglot.transpile(
        expected, read="spark", write="spark")


# title, the tests of model `users` (kind, column, where, arguments), the query
QUERIES = [
    ("row conditions only: one scan, no subquery",
     [("not_null", "user_id", None, {}), ("expression", None, None, {"expression": "rate >= 0"})],
     "select count_if(`user_id` is null) as `f0`, count_if(not (rate >= 0)) as `f1` "
     "from `users`"),
    # accepted_values returns one row per bad value, so its count is of distinct values
    ("accepted_values counts distinct values",
     [("accepted_values", "ab_group", None, {"values": ["a", "b"]})],
     "select count(distinct case when `ab_group` is not null and `ab_group` not in ('a', 'b') "
     "then `ab_group` end) as `f0` from `users`"),
    # unique returns one row per duplicated value: a window count per value beside each row
    ("unique: a window count per value, groups of more than one",
     [("not_null", "user_id", None, {}), ("unique", "user_id", None, {})],
     "select count_if(`user_id` is null) as `f0`, count(distinct case when `__runner_n1` > 1 "
     "and (`user_id` is not null) then `user_id` end) as `f1` from (select *, "
     "count_if(`user_id` is not null) over (partition by `user_id`) as `__runner_n1` "
     "from `users`) as `users`"),
    # NULLs are a group of their own, as in the test's GROUP BY: a struct keeps them
    ("unique_combination_of_columns: a struct of the columns",
     [("unique_combination_of_columns", None, None, {"combination_of_columns": ["a", "b"]})],
     "select count(distinct case when `__runner_n0` > 1 and (true) then struct(`a`, `b`) end) "
     "as `f0` from (select *, count_if(true) over (partition by `a`, `b`) as `__runner_n0` "
     "from `users`) as `users`"),
    ("where restricts the group count and the rows counted",
     [("unique", "grp", "kind = 'a'", {})],
     "select count(distinct case when `__runner_n0` > 1 and ((kind = 'a') and (`grp` is not "
     "null)) then `grp` end) as `f0` from (select *, count_if((kind = 'a') and (`grp` is not "
     "null)) over (partition by `grp`) as `__runner_n0` from `users`) as `users`"),
]


@pytest.mark.parametrize("title, tests, expected", QUERIES, ids=[q[0] for q in QUERIES])
def test_build_count_query(title, tests, expected):
    counts = [_count(kind, column, where, **kwargs) for kind, column, where, kwargs in tests]
    _same(build_count_query("users", counts), expected)


def test_one_column_per_test_in_order():
    """Column f<i> is test i's count, whatever mix of tests the model has."""
    counts = [_count("unique", "a"), _count("not_null", "b"), _count("unique", "c"),
              _count("accepted_values", "d", values=[1])]
    tree = sqlglot.parse_one(build_count_query("m", counts), read="spark")
    assert [e.alias for e in tree.expressions] == ["f0", "f1", "f2", "f3"]
    windows = [w.args["partition_by"][0].name for w in tree.find_all(exp.Window)]
    assert windows == ["a", "c"]  # one per grouped test, none for the others
    assert {t.name for t in tree.find_all(exp.Table)} == {"m"}  # the model, read once


def test_where_of_a_row_condition():
    assert FailureCount("`x` is null").where("y > 0") == FailureCount("(y > 0) and (`x` is null)")
    assert FailureCount("`x` is null").where(None) == FailureCount("`x` is null")


def test_a_test_its_models_pass_found_passing_runs_no_query():
    test = DataTest(name="t", kind="not_null", path=Path("schema.yml"), sql="select 1",
                    refs=("m",), model="m", count=FailureCount("`x` is null"))
    assert run_test(None, test, None, failures=0) == FailingRows(0)  # type: ignore[arg-type]
