"""Superset both ways, the pure parts: charts and layout read back into YAML terms, the
fingerprint that tells UI edits apart, the edit error, and in-place YAML edits (no Superset)."""

from __future__ import annotations

import doctest
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.superset import charts, readback, yaml_edit
from runner.superset.charts import chart_body, position
from runner.superset.definitions import load_definitions
from runner.superset.edits import ChartEdit, edits_error
from runner.superset.readback import (
    read_chart,
    read_layout,
    size_changes,
    spec_differences,
    was_edited,
)
from runner.superset.yaml_edit import set_field, set_layout

ROOT = Path(__file__).resolve().parents[2]
VARIABLES = {"database_name": "db", "keyspace": "ks", "thrift_host": "127.0.0.1", "thrift_port": 1}
OWNER = uuid.UUID(int=1)
SHOWN = Path("dashboards/onboarding.yml")


@pytest.fixture(scope="module")
def dash() -> Any:
    defs = load_definitions(ROOT / "dashboards", VARIABLES)
    return next(iter(defs.dashboards.values()))


def _row(key: str, chart: Any) -> dict[str, Any]:
    """A chart as Superset's chart list API returns it after the runner wrote it."""
    body = chart_body(key, chart, 7, OWNER)
    return {"id": 1, "slice_name": body["slice_name"], "viz_type": body["viz_type"],
            "description": body["description"], "params": body["params"],
            "datasource_id": 7}


@pytest.mark.parametrize("module", [charts, readback, yaml_edit])
def test_doctests(module: Any) -> None:
    assert doctest.testmod(module).failed == 0


def test_every_shipped_chart_reads_back_as_written(dash: Any) -> None:
    for key, chart in dash.charts.items():
        row = _row(key, chart)
        read = read_chart(row, chart, {7: chart.dataset})
        assert read.unexpressible == [], key
        assert spec_differences(chart, read.spec) == [], key
        assert not was_edited(row), key


@pytest.mark.parametrize(
    ("key", "change", "field", "superset"),
    [
        # a metric added in explore
        ("segment_rates", {"metrics": ["segment_drop_rate"]}, "metrics", ["segment_drop_rate"]),
        # the bar chart turned into a line chart
        ("quarantined_by_source", {}, "type", "line"),
        # a table's rows per page and number format
        ("funnel_table", {"page_length": 10}, "page_length", 10),
        ("users", {"y_axis_format": ",.0f"}, "format", ",.0f"),
    ],
)
def test_ui_edit_is_detected_and_named(
    dash: Any, key: str, change: dict[str, Any], field: str, superset: Any
) -> None:
    row = _row(key, dash.charts[key])
    params = {**json.loads(row["params"]), **change}
    row["params"] = json.dumps(params)
    if field == "type":
        row["viz_type"] = "echarts_timeseries_line"
    assert was_edited(row)
    diffs = spec_differences(dash.charts[key], read_chart(row, dash.charts[key], {}).spec)
    assert (field, superset, getattr(dash.charts[key], field)) in diffs


def test_title_edit_and_dropped_marks_count_as_edits(dash: Any) -> None:
    row = _row("users", dash.charts["users"])
    assert was_edited({**row, "slice_name": "Users"})
    params = {k: v for k, v in json.loads(row["params"]).items() if not k.startswith("runner_")}
    assert was_edited({**row, "params": json.dumps(params)})  # a UI save that dropped them
    legacy = {k: v for k, v in json.loads(row["params"]).items() if k != "runner_hash"}
    assert not was_edited({**row, "params": json.dumps(legacy)})  # written before the hash


def test_adhoc_metric_is_not_expressible(dash: Any) -> None:
    row = _row("segment_rates", dash.charts["segment_rates"])
    adhoc = {"expressionType": "SQL", "sqlExpression": "SUM(users)", "label": "x"}
    row["params"] = json.dumps({**json.loads(row["params"]), "metrics": [adhoc]})
    read = read_chart(row, dash.charts["segment_rates"], {})
    assert read.spec.metrics == dash.charts["segment_rates"].metrics
    assert read.unexpressible and "metrics" in read.unexpressible[0]


def test_edit_error_names_chart_field_and_both_values() -> None:
    err = edits_error([ChartEdit("funnel_by_group", "metrics", ["a", "b"], ["a"], 63)], SHOWN)
    assert str(err).splitlines() == [
        "dashboards/onboarding.yml: 1 chart was edited in Superset since the runner last wrote "
        "it (funnel_by_group); a sync would overwrite:",
        "  line 63: funnel_by_group.metrics: Superset ['a', 'b'] vs YAML ['a']",
        "hint: `runner superset export` writes the UI edits into dashboards/ to keep them; "
        "`--force` overwrites them with the YAML",
    ]


def test_layout_reads_back_and_sizes_only_when_changed(dash: Any) -> None:
    ids = {k: i for i, k in enumerate(dash.charts)}
    uuids = {k: f"u-{k}" for k in dash.charts}
    pos = position(dash, ids, uuids)
    layout = read_layout(pos, uuids, dash)
    assert layout.sections == [(s.section, s.rows) for s in dash.layout]
    assert layout.missing == [] and size_changes(dash, layout) == {}
    # resize in the UI: a row of two charts split 4 + 8, a taller table
    row = pos["ROW-1-0"]["children"]
    pos[row[0]]["meta"]["width"], pos[row[1]]["meta"]["width"] = 4, 8
    pos[row[1]]["meta"]["height"] = 90
    # a chart dragged into the section above
    pos["ROW-0-0"]["children"].append(pos["ROW-2-0"]["children"].pop())
    layout = read_layout(pos, uuids, dash)
    first, second = (r.removeprefix("CHART-") for r in row)
    assert size_changes(dash, layout)[first] == {"width": 4}
    assert size_changes(dash, layout)[second] == {"width": 8, "height": 90}
    assert layout.sections[0][1][0][-1] == dash.layout[2].rows[0][-1]


def test_yaml_edits_keep_comments_and_order(tmp_path: Path) -> None:
    text = (ROOT / "dashboards" / "onboarding.yml").read_text()
    new = set_field(text, ("charts", "cohort_rates"), "metrics", ["cohort_habit_rate"], SHOWN)
    new = set_field(new, ("charts", "cohort_rates"), "height", 80, SHOWN)
    new = set_field(new, ("charts", "last_build"), "width", None, SHOWN, remove=True)
    new = set_field(new, ("charts", "users"), "title", 'Users: "all"', SHOWN)
    old_lines, new_lines = text.splitlines(), new.splitlines()
    assert [line for line in old_lines if "#" in line] == [
        line for line in new_lines if "#" in line
    ]  # every comment stays, the inline one of cohort_rates.x included
    data = yaml.safe_load(new)
    assert data["charts"]["cohort_rates"]["metrics"] == ["cohort_habit_rate"]
    assert data["charts"]["cohort_rates"]["height"] == 80
    assert "width" not in data["charts"]["last_build"]
    assert data["charts"]["users"]["title"] == 'Users: "all"'
    assert list(data["charts"]) == list(yaml.safe_load(text)["charts"])
    sections = [(s["section"], s["rows"]) for s in data["layout"]]
    sections[0][1].append(["raw_users"])
    sections[-1] = ("Raw data (moved)", [])
    relaid = set_layout(new, [s for s in sections if s[1]], SHOWN)
    assert yaml.safe_load(relaid)["layout"][0]["rows"][-1] == ["raw_users"]
    assert relaid.splitlines()[: len(new_lines) - 25] == new_lines[: len(new_lines) - 25]
    folder = tmp_path / "dashboards"
    shutil.copytree(ROOT / "dashboards", folder)
    (folder / "onboarding.yml").write_text(new)
    load_definitions(folder, VARIABLES)  # still valid
