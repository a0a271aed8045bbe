"""`runner diff` and the end of `runner build` on real Spark: the seeds built with the default
onboarding window, then with `onboarding_days: 14`; the reported changes are checked against a
recomputation from the two Parquet copies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT

PROFILE = """
fintech_onboarding:
  target: local
  outputs:
    local:
      spark: {master: "local[2]", conf: {spark.sql.shuffle.partitions: "4"}}
"""
KEYS = {
    "segment_summary": ["segment_name"],
    "onboarding_funnel": ["segment_name", "ab_group", "stage_order"],
    "ab_test_results": ["segment_name", "metric"],
    "weekly_cohorts": ["week_year", "segment_name", "ab_group"],
    "user_onboarding_metrics": ["user_id"],
}


def copy_project(dest: Path) -> Path:
    """The repo's project (models, macros, data tests, seeds) with a Spark-only profile."""
    for name in ("runner_project.yml", "models", "macros", "seeds", "tests/data"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        else:
            shutil.copy(src, dest / name)
    (dest / "profiles.yml").write_text(PROFILE)
    return dest


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory, run_runner):
    """The project run with the default vars, then built with a 14-day window."""
    project = copy_project(tmp_path_factory.mktemp("diff"))
    first = run_runner(["run"], project_dir=project)
    assert first.exit_code == 0, first.output
    second = run_runner(["build", "--vars", "{onboarding_days: 14}"], project_dir=project)
    assert second.exit_code == 0, second.output
    return project, second.output


def recompute(project: Path, mart: str) -> dict:
    """Changed cells {(key, column): (before, after)} from the two copies, with pandas alone."""
    before = pd.read_parquet(project / "target" / "marts-previous" / mart)
    after = pd.read_parquet(project / "target" / "marts" / mart)
    key = KEYS[mart]
    both = before.merge(after, on=key, suffixes=("_b", "_a"), validate="one_to_one")
    assert len(both) == len(before) == len(after)  # a new window moves values, not rows
    changed = {}
    for column in [c for c in after.columns if c not in key]:
        b, a = both[f"{column}_b"], both[f"{column}_a"]
        for i in range(len(both)):
            x, y = b.iloc[i], a.iloc[i]
            same = (_missing(x) and _missing(y)) or (
                not _missing(x) and not _missing(y) and _equal(x, y))
            if not same:
                changed[(tuple(both[k].iloc[i] for k in key), column)] = (x, y)
    return changed


def _same(reported, value) -> bool:
    """A value of the JSON document against pandas' (NaN there is null here)."""
    return reported is None if _missing(value) else reported == pytest.approx(value)


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


def _equal(x, y) -> bool:
    if isinstance(x, float):
        return bool(np.isclose(x, y, rtol=1e-9, atol=0))
    if isinstance(x, np.ndarray | list):
        return [_norm(v) for v in x] == [_norm(v) for v in y]
    return bool(x == y)


def _norm(v):
    return tuple(v) if isinstance(v, tuple | list | np.ndarray) else v


def test_build_ends_with_one_line_per_changed_mart(rebuilt):
    project, output = rebuilt
    lines = [line.split("Changes: ", 1)[1] for line in output.splitlines() if "Changes: " in line]
    for mart in ("segment_summary", "onboarding_funnel", "ab_test_results", "weekly_cohorts"):
        changed = recompute(project, mart)
        rows = {k for k, _ in changed}
        order = list(pd.read_parquet(project / "target" / "marts" / mart).columns)
        columns = [c for c in order if any(c == column for _, column in changed)]
        shown = ", ".join(columns[:3]) + (f", +{len(columns) - 3} more" if len(columns) > 3 else "")
        plural = "s" if len(rows) != 1 else ""
        assert f"{mart}: {len(rows)} row{plural} changed ({shown})" in lines
    # the window does not change what is quarantined, nor the data quality counts: they do not
    # read it, so they are reused, not rebuilt, and have no line of their own
    assert not any(line.startswith(("quarantined_rows", "data_quality")) for line in lines)
    assert "REUSED cassandra model quarantined_rows" in output
    assert "REUSED cassandra model data_quality" in output


def test_diff_json_matches_a_recomputation_from_the_parquet_copies(rebuilt, run_runner):
    project, _ = rebuilt
    result = run_runner(["diff", "--output", "json", "-n", "0"], project_dir=project)
    assert result.exit_code == 0, result.output
    marts = {m["name"]: m for m in json.loads(result.output)["marts"]}
    assert set(KEYS) <= set(marts)
    for name, key in KEYS.items():
        mart = marts[name]
        expected = recompute(project, name)
        got = {(tuple(c["key"][k] for k in key), c["column"]): (c["before"], c["after"])
               for c in mart["changes"]}
        assert set(got) == {(tuple(_plain(v) for v in k), c) for k, c in expected}, name
        assert mart["rows"]["changed"] == len({k for k, _ in expected})
        assert mart["changes_total"] == len(expected)
        assert mart["key"] == key
        for (k, column), (before, after) in expected.items():
            old, new = got[(tuple(_plain(v) for v in k), column)]
            if isinstance(before, float) or isinstance(after, float):
                assert _same(old, before) and _same(new, after), (k, column)
        for column, share in mart["equal_share"].items():
            unequal = sum(1 for _, c in expected if c == column)
            assert share == pytest.approx(1 - unequal / mart["rows"]["after"])


def test_rates_read_as_percentages(rebuilt, run_runner):
    project, _ = rebuilt
    expected = recompute(project, "segment_summary")
    result = run_runner(["diff", "-s", "segment_summary", "--output", "json", "-n", "0"],
                        project_dir=project)
    texts = {c["text"] for c in json.loads(result.output)["marts"][0]["changes"]}
    for ((segment,), column), (before, after) in expected.items():
        if column.endswith("_rate") and f"{before:.1%}" != f"{after:.1%}":
            assert f"{column}, {segment}: {before:.1%} → {after:.1%}" in texts


def test_diff_table_in_the_terminal(rebuilt, run_runner):
    project, _ = rebuilt
    result = run_runner(["diff", "-s", "segment_summary ab_test_results", "-n", "2"],
                        project_dir=project)
    assert result.exit_code == 0, result.output
    assert "Marts against their previous build" in result.output
    assert "segment_summary: " in result.output and "ab_test_results: " in result.output
    assert "equal values: " in result.output
    assert "more changed values (-n 0 lists all)" in result.output


def test_a_mart_built_once_is_a_first_build(tmp_path, make_project, run_runner):
    project = make_project({"models/t.sql": "{{ config(materialized='table') }}\n"
                                            "select id, id / 2 as share from range(3)"})
    assert run_runner(["run"], project_dir=project).exit_code == 0
    result = run_runner(["diff", "--output", "json"], project_dir=project)
    assert json.loads(result.output)["marts"][0]["state"] == "new"
    (project / "models/t.sql").write_text("{{ config(materialized='table') }}\n"
                                          "select id, id / 4 as share from range(4)")
    assert run_runner(["run"], project_dir=project).exit_code == 0
    mart = json.loads(run_runner(["diff", "--output", "json"], project_dir=project).output)
    mart = mart["marts"][0]
    # no key declared: rows are compared whole
    assert (mart["rows"]["added"], mart["rows"]["removed"]) == (3, 2)
    assert "no key" in mart["note"]


def _plain(value):
    """A pandas value as JSON carries it."""
    if isinstance(value, np.integer):
        return int(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
