"""Superset both ways (no mocks): a chart edited as the UI would is not overwritten by a sync
unless `--force`, and `runner superset export` writes the edit into the YAML.

Uses `superset_stack` and `superset_marts` from superset_fixtures.py and a copy of the project
with its own dashboard slug, so neither the developer's dashboard nor test_superset's is touched.
The CLI runs in-process against that copy (target `it`: the test Superset, its login from the
environment); syncs that write go through `sync_dashboards` with the Thrift login, as
test_superset does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from runner.cli import main
from runner.superset.client import SupersetClient
from runner.superset.sync import SyncResult, sync_dashboards
from tests.integration import superset_fixtures
from tests.integration.superset_fixtures import SupersetStack

superset_cassandra = superset_fixtures.superset_cassandra
superset_marts = superset_fixtures.superset_marts
superset_stack = superset_fixtures.superset_stack

pytestmark = pytest.mark.slow

SLUG = "fintech-onboarding-both-ways"


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, superset_stack: SupersetStack, superset_marts: str
) -> Path:
    """A copy of the project whose target `it` is the test Superset and keyspace."""
    root = superset_fixtures.copy_project(
        superset_stack, tmp_path_factory.mktemp("both") / "project", slug=SLUG,
        keyspace=superset_marts, database_name=superset_stack.superset.database_name,
    )
    return root


@pytest.fixture(scope="module")
def client(superset_stack: SupersetStack) -> SupersetClient:
    return SupersetClient.for_target(superset_stack.superset, superset_stack.login)


def _sync(stack: SupersetStack, project: Path, keyspace: str, force: bool = False) -> SyncResult:
    return sync_dashboards(stack.superset, project / "dashboards", cassandra_keyspace=keyspace,
                           project_dir=project, login=stack.login,
                           database_login=stack.thrift_login, force=force)


@pytest.fixture(scope="module")
def synced(project: Path, superset_stack: SupersetStack, superset_marts: str) -> SyncResult:
    return _sync(superset_stack, project, superset_marts)


def _cli(project: Path, stack: SupersetStack, *args: str) -> Result:
    """`runner <args>` on the copy; the Superset login comes from the environment."""
    env = {"RUNNER_SUPERSET_USERNAME": stack.login[0], "RUNNER_SUPERSET_PASSWORD": stack.login[1],
           "RUNNER_ENGINE": "process"}
    return CliRunner().invoke(
        main, [*args, "--project-dir", str(project), "--profiles-dir", str(project)], env=env
    )


def _chart(client: SupersetClient, chart_id: int) -> tuple[str, dict[str, Any]]:
    row = client.request("GET", f"/api/v1/chart/{chart_id}")["result"]
    return row["slice_name"], json.loads(row["params"])


def _edit_in_ui(client: SupersetClient, chart_id: int, title: str, **changes: Any) -> None:
    """Save a chart as explore does: the form data of its controls (the runner's own keys
    dropped, as getFormDataFromControls drops them) and the title, in one PUT."""
    _, params = _chart(client, chart_id)
    params = {k: v for k, v in params.items() if not k.startswith("runner_")}
    body = {"slice_name": title, "params": json.dumps({**params, **changes})}
    client.request("PUT", f"/api/v1/chart/{chart_id}", json=body)


def test_sync_refuses_ui_edit_then_force_overwrites(
    client: SupersetClient,
    synced: SyncResult,
    project: Path,
    superset_stack: SupersetStack,
    superset_marts: str,
) -> None:
    chart_id = synced.chart_ids["segment_rates"]
    yaml_metrics = yaml.safe_load((project / "dashboards" / "onboarding.yml").read_text())[
        "charts"]["segment_rates"]["metrics"]
    _edit_in_ui(client, chart_id, "Individuals vs sellers (UI)", metrics=yaml_metrics[:2])

    refused = _cli(project, superset_stack, "superset", "sync")
    assert refused.exit_code == 1, refused.output
    text = refused.output
    assert "Error: dashboards/onboarding.yml: 1 chart was edited in Superset" in text, text
    assert (f"segment_rates.metrics: Superset {yaml_metrics[:2]!r} vs YAML {yaml_metrics!r}"
            in text), text
    assert ("segment_rates.title: Superset 'Individuals vs sellers (UI)' vs YAML "
            "'Individuals vs sellers'") in text, text
    assert "runner superset export" in text and "--force" in text
    title, params = _chart(client, chart_id)  # untouched
    assert (title, params["metrics"]) == ("Individuals vs sellers (UI)", yaml_metrics[:2])

    forced = _sync(superset_stack, project, superset_marts, force=True)
    assert {(e.key, e.field) for e in forced.overwritten} == {
        ("segment_rates", "metrics"), ("segment_rates", "title")}
    title, params = _chart(client, chart_id)
    assert (title, params["metrics"]) == ("Individuals vs sellers", yaml_metrics)
    assert _sync(superset_stack, project, superset_marts).overwritten == ()  # no edit left


def test_export_writes_ui_edit_into_yaml_and_next_sync_keeps_it(
    client: SupersetClient,
    synced: SyncResult,
    project: Path,
    superset_stack: SupersetStack,
    superset_marts: str,
) -> None:
    path = project / "dashboards" / "onboarding.yml"
    before = path.read_text()
    chart_id = synced.chart_ids["cohort_rates"]
    _edit_in_ui(client, chart_id, "Weekly cohorts (rates)", y_axis_format=".1%",
                metrics=["cohort_activation_rate", "cohort_habit_rate"])
    # the dashboard edited too: the funnel chart made wider than the table next to it
    board = client.request("GET", f"/api/v1/dashboard/{synced.dashboard_id}")["result"]
    pos = json.loads(board["position_json"])
    pos["CHART-funnel_by_group"]["meta"]["width"] = 8
    pos["CHART-funnel_table"]["meta"]["width"] = 4
    client.request("PUT", f"/api/v1/dashboard/{synced.dashboard_id}",
                   json={"position_json": json.dumps(pos)})

    exported = _cli(project, superset_stack, "superset", "export")
    assert exported.exit_code == 0, exported.output
    for where in ("charts.cohort_rates.title", "charts.cohort_rates.metrics",
                  "charts.cohort_rates.format", "charts.funnel_by_group.width",
                  "charts.funnel_table.width"):
        assert where in exported.output, exported.output
    chart = yaml.safe_load(path.read_text())["charts"]["cohort_rates"]
    assert chart["title"] == "Weekly cohorts (rates)" and chart["format"] == ".1%"
    assert chart["metrics"] == ["cohort_activation_rate", "cohort_habit_rate"]
    comments = [line for line in before.splitlines() if "#" in line]
    assert comments == [line for line in path.read_text().splitlines() if "#" in line]

    again = _sync(superset_stack, project, superset_marts)  # no refusal, nothing overwritten
    assert again.overwritten == ()
    title, params = _chart(client, chart_id)
    assert title == "Weekly cohorts (rates)" and params["y_axis_format"] == ".1%"
    assert params["metrics"] == ["cohort_activation_rate", "cohort_habit_rate"]
    board = client.request("GET", f"/api/v1/dashboard/{synced.dashboard_id}")["result"]
    assert json.loads(board["position_json"])["CHART-funnel_by_group"]["meta"]["width"] == 8
    unchanged = _cli(project, superset_stack, "superset", "export")
    assert "No changes" in unchanged.output, unchanged.output
