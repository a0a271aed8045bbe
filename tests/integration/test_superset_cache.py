"""Superset's cache (Redis) never shows numbers older than the last build (no mocks).

Real builds of a copy of the project (the shipped seeds, its own keyspace and dashboard slug)
against the test stack's Superset, which caches chart data in the project's Redis. The copy's
Superset target is not managed (the stack belongs to the project, not to the copy), so its build
relies on the sync changing every dataset, which changes Superset's cache keys; the managed
build's own step, emptying the cache and replaying remembered views, is then run on the same
stack as `runner build` runs it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from runner.local import dashboard_visit, redis_server
from runner.local.dashboard_visit import viewed_chart
from runner.local.superset_cache import remembered
from runner.local.superset_config import VIEWED_INDEX
from runner.publish import _refresh_cache
from runner.superset import sync_state
from runner.superset.client import SupersetClient
from tests.integration import superset_fixtures
from tests.integration.superset_fixtures import PROJECT_DIR, SupersetStack

superset_cassandra = superset_fixtures.superset_cassandra
superset_stack = superset_fixtures.superset_stack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory, superset_stack: SupersetStack,
         run_runner: Any) -> Iterator[dict[str, Any]]:
    """The copied project after one build on the seeds, synced to its own dashboard."""
    keyspace = f"cache_{uuid.uuid4().hex[:8]}"
    root = superset_fixtures.copy_project(
        superset_stack, tmp_path_factory.mktemp("cache") / "project", slug=keyspace,
        keyspace=keyspace, database_name=keyspace, master="local[2]",
    )
    env = pytest.MonkeyPatch()  # the stack's Superset and Thrift logins, as for any remote one
    for name, value in (("RUNNER_SUPERSET_USERNAME", superset_stack.login[0]),
                        ("RUNNER_SUPERSET_PASSWORD", superset_stack.login[1]),
                        ("RUNNER_THRIFT_USERNAME", superset_stack.thrift_login[0]),
                        ("RUNNER_THRIFT_PASSWORD", superset_stack.thrift_login[1]),
                        ("RUNNER_ENGINE", "process")):
        env.setenv(name, value)
    args = ["build", "--profiles-dir", str(root)]
    result = run_runner(args, project_dir=root)
    assert result.exit_code == 0, result.output
    from cassandra.cluster import Cluster

    cass = superset_stack.cassandra
    cluster = Cluster(cass.hosts, port=cass.port)
    yield {"project": root, "keyspace": keyspace, "args": args,
           "session": cluster.connect(keyspace)}
    cluster.connect().execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)
    cluster.shutdown()
    env.undo()


def _view(client: SupersetClient, chart_id: int) -> tuple[Any, bool]:
    """One chart's first value as a dashboard viewer gets it (POST /api/v1/chart/data), and
    whether it came from the cache."""
    chart = client.request("GET", f"/api/v1/chart/{chart_id}")["result"]
    body = json.loads(chart["query_context"])
    body["form_data"]["slice_id"] = chart_id
    out = client.request("POST", "/api/v1/chart/data", json=body)["result"][0]
    return next(iter(out["data"][0].values())), bool(out["is_cached"])


def _users(session: Any) -> int:
    return len(list(session.execute("SELECT user_id FROM user_onboarding_metrics")))


def test_a_rebuild_with_other_data_shows_its_numbers(
    copy: dict[str, Any], superset_stack: SupersetStack, run_runner: Any
) -> None:
    client = SupersetClient.for_target(superset_stack.superset, superset_stack.login)
    chart = client.dashboard_charts(copy["keyspace"])["Users in population"]
    first, _ = _view(client, chart)
    assert first == _users(copy["session"]) > 0
    assert _view(client, chart) == (first, True)  # the second viewer: from the cache

    # Other data: sellers only. The build writes the marts; the dashboards did not change, so
    # its sync only marks the written marts' datasets changed, which changes their cache keys.
    result = run_runner([*copy["args"], "--vars", "{segments: [2]}", "-s", "int_user_metrics+"],
                        project_dir=copy["project"])
    assert result.exit_code == 0, result.output
    assert "Superset: dashboards unchanged" in result.output, result.output
    sellers = _users(copy["session"])
    assert 0 < sellers < first
    assert _view(client, chart) == (sellers, False)  # new numbers, not the cached ones
    assert _view(client, chart) == (sellers, True)


def test_the_managed_build_step_empties_and_warms_the_cache(
    copy: dict[str, Any], superset_stack: SupersetStack
) -> None:
    client = SupersetClient.for_target(superset_stack.superset, superset_stack.login)
    chart = client.dashboard_charts(copy["keyspace"])["Users in population"]
    value, _ = _view(client, chart)  # a viewer's request, remembered for the warm-up
    port = superset_stack.superset.cache_port
    assert any(body["form_data"].get("slice_id") == chart
               for _, _, body in remembered(PROJECT_DIR, port))
    data = redis_server.client(PROJECT_DIR, port)
    assert int(data.dbsize()) > 0  # type: ignore[arg-type]
    # what a managed `runner build` does once its sync is done
    lines: list[str] = []
    _refresh_cache(PROJECT_DIR, superset_stack.superset.url, superset_stack.login, port,
                   lambda event: lines.append(str(getattr(event, "message", event))))
    assert any("emptied and warmed" in line for line in lines), lines
    assert not any("Warning" in line for line in lines), lines
    assert _view(client, chart) == (value, True)  # the first viewer after it: cached, current


def test_after_a_one_mart_build_only_its_charts_are_dropped_and_warmed(
    copy: dict[str, Any], superset_stack: SupersetStack
) -> None:
    client = SupersetClient.for_target(superset_stack.superset, superset_stack.login)
    charts = client.dashboard_charts(copy["keyspace"])
    users, cohorts = charts["Users in population"], charts["Weekly cohorts"]
    value, _ = _view(client, users)
    cohort_value, _ = _view(client, cohorts)
    assert _view(client, cohorts) == (cohort_value, True)
    state = sync_state.load(sync_state.state_path(copy["project"], "it"))
    assert state is not None  # the copy's first build made a full sync and kept its record
    written = state.dataset_ids(frozenset({"user_onboarding_metrics"}))
    cohort_datasets = state.dataset_ids(frozenset({"weekly_cohorts"}))
    assert written and cohort_datasets and not set(written) & set(cohort_datasets)
    # what a managed build does after writing user_onboarding_metrics, then at its sync's end
    sync_state.touch(client, state, written)
    lines: list[str] = []
    _refresh_cache(PROJECT_DIR, superset_stack.superset.url, superset_stack.login,
                   superset_stack.superset.cache_port,
                   lambda event: lines.append(str(getattr(event, "message", event))),
                   datasets=written)
    assert any(f"warmed for {len(written)} datasets" in line for line in lines), lines
    assert _view(client, users) == (value, True)  # replayed under the dataset's new cache key
    assert _view(client, cohorts) == (cohort_value, True)  # never dropped


def test_a_dashboard_nobody_viewed_is_warmed_by_opening_it_once(
    copy: dict[str, Any], superset_stack: SupersetStack
) -> None:
    if dashboard_visit.find_chromium() is None:
        pytest.skip("chromium is not installed (`runner setup` installs it as root)")
    pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    client = SupersetClient.for_target(superset_stack.superset, superset_stack.login)
    board = client.find("dashboard", slug=copy["keyspace"])[0]["id"]
    charts = set(client.dashboard_charts(copy["keyspace"]).values())
    state = sync_state.load(sync_state.state_path(copy["project"], "it"))
    assert state is not None
    written = state.dataset_ids(frozenset({"user_onboarding_metrics"}))
    # A fresh machine: no viewer's request remembered; then a build wrote one mart.
    port = superset_stack.superset.cache_port
    redis_server.client(PROJECT_DIR, port, db=redis_server.USER_DB).delete(VIEWED_INDEX)
    sync_state.touch(client, state, written)
    lines: list[str] = []
    _refresh_cache(PROJECT_DIR, superset_stack.superset.url, superset_stack.login, port,
                   lambda event: lines.append(str(getattr(event, "message", event))),
                   datasets=written, dashboards=[board])
    assert any(f"dashboard {copy['keyspace']} opened once to warm {len(charts)} charts" in line
               for line in lines), lines
    # What the browser asked on first view, every chart of the dashboard: now from the cache.
    first_view = [(query, body) for _, query, body in remembered(PROJECT_DIR, port)
                  if viewed_chart(query, body)[0] == board]
    assert {viewed_chart(query, body)[1] for query, body in first_view} >= charts
    for query, body in first_view:
        out = client.request("POST", f"/api/v1/chart/data?{query}", json=body)
        assert all(result["is_cached"] for result in out["result"]), body
