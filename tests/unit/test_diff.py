"""explore.diff on small frames: pairing by key, schema changes, equal shares, analyst wording."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest

from runner.explore.arrow_equal import arrays_equal
from runner.explore.diff import (
    DiffState,
    MartDiff,
    SchemaChange,
    diff_tables,
    summary_line,
    to_json,
)
from runner.explore.words import format_change

SUMMARY = pd.DataFrame({
    "segment_name": ["individuals", "sellers", "all"],
    "users": [900, 100, 1000],
    "activation_rate": [0.50, 0.484, 0.4984],
    "habit_rate": [0.2, 0.3, 0.21],
})


def test_unchanged_copies():
    d = diff_tables("segment_summary", SUMMARY, SUMMARY.copy(), ["segment_name"])
    assert d.state == DiffState.UNCHANGED
    assert (d.rows_added, d.rows_removed, d.rows_changed) == (0, 0, 0)
    assert d.equal_share == {"users": 1.0, "activation_rate": 1.0, "habit_rate": 1.0}
    assert summary_line(d) == "segment_summary: unchanged (3 rows)"


def test_changed_values_are_listed_in_key_order_with_analyst_wording():
    after = SUMMARY.copy()
    after.loc[1, "activation_rate"] = 0.479
    after.loc[2, "activation_rate"] = 0.4979
    after = after.iloc[::-1].reset_index(drop=True)  # row order does not matter, keys do
    d = diff_tables("segment_summary", SUMMARY, after, ["segment_name"])
    assert d.state == DiffState.CHANGED
    assert d.rows_changed == 2 and d.changed_columns == ("activation_rate",)
    assert [c.text for c in d.changes] == [
        "activation_rate, all: 49.84% → 49.79%",  # one decimal would read 49.8% → 49.8%
        "activation_rate, sellers: 48.4% → 47.9%",
    ]
    assert d.equal_share["activation_rate"] == pytest.approx(1 / 3)
    assert d.equal_share["users"] == 1.0
    assert summary_line(d) == "segment_summary: 2 rows changed (activation_rate)"


def test_rows_added_and_removed_by_composite_key():
    before = pd.DataFrame({"segment_name": ["a", "a", "b"], "metric": ["x", "y", "x"],
                           "significant": [False, True, False]})
    after = pd.DataFrame({"segment_name": ["a", "b", "c"], "metric": ["x", "x", "x"],
                          "significant": [True, False, False]})
    d = diff_tables("ab", before, after, ["segment_name", "metric"])
    assert (d.rows_added, d.rows_removed, d.rows_changed) == (1, 1, 1)
    assert d.added_keys == (("c", "x"),) and d.removed_keys == (("a", "y"),)
    assert d.changes[0].text == "significant, a, x: false → true"
    assert summary_line(d) == "ab: 1 row changed (significant), 1 row added, 1 row removed"


def test_schema_changes_are_reported_and_retyped_columns_not_compared():
    after = SUMMARY.drop(columns=["habit_rate"]).assign(
        users=SUMMARY["users"].astype("float64"), setup_rate=0.1)
    d = diff_tables("segment_summary", SUMMARY, after, ["segment_name"])
    assert d.schema == SchemaChange(added=(("setup_rate", "double"),),
                                    removed=(("habit_rate", "double"),),
                                    retyped=(("users", "int64", "double"),))
    assert set(d.equal_share) == {"activation_rate"}
    assert summary_line(d) == "segment_summary: columns +setup_rate -habit_rate ~users"


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        # a duplicated key: rows are compared whole
        ({"k": [1, 1], "v": [1, 2]}, {"k": [1, 1], "v": [1, 3]}, (1, 1, "not unique")),
        # no key at all
        ({"k": [1, 2], "v": [1, 2]}, {"k": [2, 1], "v": [2, 1]}, (0, 0, "no key")),
    ],
)
def test_without_a_usable_key_rows_are_compared_whole(before, after, expected):
    key = ["k"] if expected[2] == "not unique" else []
    d = diff_tables("m", pd.DataFrame(before), pd.DataFrame(after), key)
    assert (d.rows_added, d.rows_removed) == expected[:2]
    assert expected[2] in d.note


def test_first_build_and_never_built():
    assert diff_tables("m", None, SUMMARY, ["segment_name"]).state == DiffState.NEW
    assert summary_line(diff_tables("m", None, SUMMARY)) == "m: first build (3 rows)"
    assert diff_tables("m", SUMMARY, None).state == DiffState.MISSING


@pytest.mark.parametrize(
    ("type_", "a", "b", "expected"),
    [
        (pa.float64(), [0.1 + 0.2, None, 1.0], [0.3, None, None], [True, True, False]),
        (pa.int64(), [1, None, 3], [1, None, 4], [True, True, False]),
        (pa.list_(pa.int32()), [[1, 2], None, [], [3]], [[1, 2], None, None, [3, 4]],
         [True, True, False, False]),
        (pa.map_(pa.string(), pa.date32()),
         [[("activation", dt.date(2022, 1, 4))], [("habit", dt.date(2022, 1, 9))], None],
         [[("activation", dt.date(2022, 1, 4))], [("habit", dt.date(2022, 1, 10))], None],
         [True, False, True]),
        (pa.struct([("x", pa.int32())]), [{"x": 1}, None, {"x": 2}], [{"x": 1}, None, {"x": 3}],
         [True, True, False]),
    ],
)
def test_arrays_equal(type_, a, b, expected):
    got = arrays_equal(pa.array(a, type=type_), pa.array(b, type=type_))
    assert got.tolist() == expected


def test_nested_column_changes_are_found_per_row():
    t = pa.map_(pa.string(), pa.date32())
    before = pa.table({"user_id": ["u1", "u2", "u3"],
                       "milestones": pa.array([[("a", dt.date(2022, 1, 1))], [], None], type=t)})
    after = pa.table({"user_id": ["u3", "u2", "u1"],
                      "milestones": pa.array([None, [("a", dt.date(2022, 1, 2))],
                                              [("a", dt.date(2022, 1, 1))]], type=t)})
    d = diff_tables("users", before, after, ["user_id"])
    assert d.rows_changed == 1
    assert d.changes[0].text == "milestones, u2: {} → {a: 2022-01-02}"


@pytest.mark.parametrize(
    ("column", "key", "before", "after", "type_", "text"),
    [
        ("activation_rate", ["sellers", "treatment"], 0.484, 0.479, pa.float64(),
         "activation_rate, sellers, treatment: 48.4% → 47.9%"),
        ("users", ["all"], 12000, 12345, pa.int64(), "users, all: 12,000 → 12,345"),
        ("significant", ["all", "habit"], False, True, pa.bool_(),
         "significant, all, habit: false → true"),
        ("p_value", ["all", "habit"], 0.051234, 0.049, pa.float64(),
         "p_value, all, habit: 0.05123 → 0.049"),
        ("rate_of_previous", ["all", "all", 2], None, 0.5, pa.float64(),
         "rate_of_previous, all, all, 2: null → 50.0%"),
        ("week_start", [1], dt.date(2021, 12, 27), dt.date(2022, 1, 3), pa.date32(),
         "week_start, 1: 2021-12-27 → 2022-01-03"),
    ],
)
def test_format_change(column, key, before, after, type_, text):
    assert format_change(column, key, before, after, type_) == text


def test_limit_caps_the_listed_changes_not_the_counts():
    before = pd.DataFrame({"k": range(50), "v": [0.1] * 50})
    after = pd.DataFrame({"k": range(50), "v": [0.2] * 50})
    d = diff_tables("m", before, after, ["k"], limit=5)
    assert len(d.changes) == 5 and d.changes_total == 50 and d.rows_changed == 50
    assert [c.key for c in d.changes] == [(0,), (1,), (2,), (3,), (4,)]
    assert len(diff_tables("m", before, after, ["k"], limit=0).changes) == 50


def test_json_document():
    after = SUMMARY.copy()
    after.loc[1, "activation_rate"] = 0.479
    doc = to_json([diff_tables("segment_summary", SUMMARY, after, ["segment_name"])])
    mart = doc["marts"][0]
    assert mart["rows"] == {"before": 3, "after": 3, "added": 0, "removed": 0, "changed": 1}
    assert mart["changes"] == [{"key": {"segment_name": "sellers"}, "column": "activation_rate",
                                "before": 0.484, "after": 0.479,
                                "text": "activation_rate, sellers: 48.4% → 47.9%"}]
    assert mart["summary"] == "segment_summary: 1 row changed (activation_rate)"


def test_summary_line_of_many_changed_columns():
    d = MartDiff("u", DiffState.CHANGED, ("user_id",), 10, 11, rows_added=1, rows_changed=3,
                 changed_columns=("a", "b", "c", "d", "e"))
    assert summary_line(d) == "u: 3 rows changed (a, b, c, +2 more), 1 row added"
