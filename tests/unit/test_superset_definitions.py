"""dashboards/*.yml as typed definitions: the shipped files, every mistake at file:line, and the
JSON the charts and layout become (no Superset needed)."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from runner.errors import ConfigError
from runner.superset.charts import chart_body, native_filters, position, row_widths
from runner.superset.client import to_rison
from runner.superset.definitions import Definitions, load_definitions

ROOT = Path(__file__).resolve().parents[2]
VARIABLES = {"database_name": "db", "keyspace": "ks", "thrift_host": "127.0.0.1", "thrift_port": 1}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "dashboards", tmp_path / "dashboards")
    return tmp_path


def _edit(project: Path, name: str, old: str, new: str, count: int = 1) -> None:
    path = project / "dashboards" / name
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, count))


def _load(project: Path) -> Definitions:
    return load_definitions(project / "dashboards", VARIABLES, project_dir=project)


def test_shipped_definitions_load() -> None:
    defs = load_definitions(ROOT / "dashboards", VARIABLES)
    assert defs.database.sqlalchemy_uri == "hive://runner@127.0.0.1:1/default"
    assert "build_info" in defs.datasets
    [dash] = defs.dashboards.values()
    placed = [k for s in dash.layout for row in s.rows for k in row]
    assert sorted(placed) == sorted(dash.charts)
    for section in dash.layout:
        for row in section.rows:
            assert sum(row_widths(dash, row)) == 12


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        # a misspelt key is named, not the key it makes missing
        ("onboarding.yml", "    metric: drop_rate\n", "    metrc: drop_rate\n",
         "dashboards/onboarding.yml:37: charts.drop_rate.metrc: unknown key (and 1 more)"),
        ("onboarding.yml", "type: line", "type: pie",
         "dashboards/onboarding.yml:117: charts.cohort_rates.type: unknown chart type 'pie'"),
        # a metric or column the chart's dataset does not define
        ("onboarding.yml", "metric: activation_rate", "metric: activation_rte",
         "dashboards/onboarding.yml:43: charts.activation_rate.metric: metric 'activation_rte' "
         "is not in dataset 'user_onboarding_metrics'"),
        ("onboarding.yml", "x: segment_name", "x: segmnt",
         "dashboards/onboarding.yml:88: charts.segment_rates.x: column 'segmnt' is not in "
         "dataset 'segment_summary'"),
        ("onboarding.yml", "dataset: weekly_cohorts", "dataset: weekly_cohort",
         "dashboards/onboarding.yml:118: charts.cohort_rates.dataset: unknown dataset "
         "'weekly_cohort'"),
        ("onboarding.yml", "[ab_results]", "[ab_result]",
         "dashboards/onboarding.yml:199: layout[3].rows[0]: layout places undefined chart "
         "'ab_result'"),
        ("onboarding.yml", "[ab_results]", "[]",
         "dashboards/onboarding.yml:103: charts.ab_results: chart 'ab_results' is not in the "
         "layout"),
        ("onboarding.yml", "width: 2", "width: 13",
         "dashboards/onboarding.yml:63: charts.last_build.width: Input should be less than or "
         "equal to 12"),
        ("onboarding.yml", "order_by: [source, check]", "order_by: [source, check up]",
         "dashboards/onboarding.yml:157: charts.data_quality_table.order_by: 'check up' is not "
         "'column', 'column asc' or 'column desc'"),
        ("onboarding.yml", "title: Fintech onboarding\n", "",
         "dashboards/onboarding.yml:14: missing key 'title'"),
        ("onboarding.yml", "column: ab_group,", "column: group,",
         "dashboards/onboarding.yml:18: filters[0].column: column 'group' is not in dataset "
         "'user_onboarding_metrics'"),
        ("onboarding.yml", "title: Drop rate", "title: [Drop rate",
         "dashboards/onboarding.yml:35:9: invalid YAML"),
        ("datasets.yml", "  - name: segment_summary\n", "  - name: onboarding_funnel\n",
         "dashboards/datasets.yml:70: datasets[2].name: dataset 'onboarding_funnel' defined "
         "twice"),
        ("database.yml", "allow_dml: false", "allow_dml: maybe",
         "dashboards/database.yml:9: allow_dml: Input should be a valid boolean"),
    ],
)
def test_mistakes_name_file_line_and_key(
    project: Path, file: str, old: str, new: str, expected: str
) -> None:
    _edit(project, file, old, new)
    with pytest.raises(ConfigError) as err:
        _load(project)
    assert str(err.value).startswith(expected), str(err.value)


def test_unknown_variable_in_database_yml(project: Path) -> None:
    _edit(project, "database.yml", 'name: "{{ database_name }}"', 'name: "{{ nope }}"')
    with pytest.raises(ConfigError, match="database.yml: cannot render: 'nope' is undefined"):
        _load(project)


def test_two_dashboards_with_one_slug(project: Path) -> None:
    shutil.copy(project / "dashboards" / "onboarding.yml", project / "dashboards" / "copy.yml")
    with pytest.raises(ConfigError) as err:
        _load(project)
    assert str(err.value).startswith(
        "dashboards/onboarding.yml:15: slug: 'fintech-onboarding' is also the slug of "
        "dashboards/copy.yml"
    )


def test_chart_json_and_layout(project: Path) -> None:
    defs = _load(project)
    [dash] = defs.dashboards.values()
    ids = {key: i for i, key in enumerate(dash.charts, start=1)}
    body = chart_body("users", dash.charts["users"], 7, uuid.UUID(int=1))
    params = json.loads(body["params"])
    assert body["viz_type"] == params["viz_type"] == "big_number_total"
    assert params["runner_owner"] == str(uuid.UUID(int=1)) and params["datasource"] == "7__table"
    raw = json.loads(
        chart_body("raw_users", dash.charts["raw_users"], 7, uuid.UUID(int=1))["query_context"]
    )["queries"][0]
    assert raw["metrics"] is None and raw["orderby"] == [["user_id", True]]
    pos = position(dash, ids, {k: str(v) for k, v in ids.items()})
    assert pos["CHART-last_build"]["meta"]["width"] == 2
    assert pos["CHART-raw_users"]["meta"]["height"] == 100
    by_group, by_segment, by_week, by_source, by_reason = native_filters(
        dash, defs.datasets, {d: 1 for d in defs.datasets}, ids
    )
    assert ids["users"] in by_group["chartsInScope"]
    assert ids["last_build"] in by_segment["scope"]["excluded"]
    assert ids["cohort_rates"] in by_week["chartsInScope"]
    assert ids["funnel_by_group"] in by_week["chartsInScope"]
    assert ids["segment_table"] in by_week["scope"]["excluded"]  # no week in segment_summary
    dq = {ids[k] for k in ("quarantined_by_source", "data_quality_table", "quarantined_rows")}
    assert dq <= set(by_source["chartsInScope"]) and dq <= set(by_reason["chartsInScope"])
    assert ids["users"] in by_reason["scope"]["excluded"]
    where = json.loads(
        chart_body("quarantined_by_source", dash.charts["quarantined_by_source"], 7,
                   uuid.UUID(int=1))["query_context"]
    )["queries"][0]["extras"]["where"]
    assert where == "(rows_quarantined > 0)"


@pytest.mark.parametrize(
    ("value", "rison"),
    [
        ({"filters": [], "page_size": 100}, "(filters:!(),page_size:100)"),
        ("fintech-onboarding", "fintech-onboarding"),
        ("5f0c3f7e-8d0b", "'5f0c3f7e-8d0b'"),  # starts with a digit
        ("it's a b!", "'it!'s a b!!'"),
        ("", "''"),
        ([True, False, None], "!(!t,!f,!n)"),
    ],
)
def test_rison(value: object, rison: str) -> None:
    assert to_rison(value) == rison
