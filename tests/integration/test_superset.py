"""Superset reads the Cassandra marts live through the Spark Thrift Server (no mocks).

Uses `superset_stack` and `superset_marts` from superset_fixtures.py. The dashboards are synced
from a copy of dashboards/ with their own slug, so a developer's dashboard is never touched.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from runner.cli import main
from runner.errors import SupersetError
from runner.local import maven, redis_server, superset_venv, thrift_guard
from runner.paths import state_dir
from runner.spark import class_archive
from runner.superset.client import SupersetClient
from runner.superset.sync import SyncResult, sync_dashboards
from tests.integration import superset_fixtures
from tests.integration.superset_fixtures import (
    ERROR_TEXTS,
    PROJECT_DIR,
    SupersetStack,
    image_stats,
    take_screenshot,
)

# The session fixtures, bound here so the module runs alone too; conftest may import them as well.
superset_cassandra = superset_fixtures.superset_cassandra
superset_marts = superset_fixtures.superset_marts
superset_stack = superset_fixtures.superset_stack

pytestmark = pytest.mark.slow

DASHBOARDS = PROJECT_DIR / "dashboards"
TARGET = PROJECT_DIR / "target"
SCREENSHOT = TARGET / "screenshots" / "fintech-onboarding.png"


def _copy_dashboards(dest: Path, slug: str, drop_chart: str | None = None) -> Path:
    shutil.copytree(DASHBOARDS, dest)
    path = dest / "onboarding.yml"
    dash = yaml.safe_load(path.read_text())
    dash["slug"] = slug
    if drop_chart:
        del dash["charts"][drop_chart]
        for section in dash["layout"]:
            section["rows"] = [[k for k in row if k != drop_chart] for row in section["rows"]]
    path.write_text(yaml.safe_dump(dash, sort_keys=False))
    return dest


def test_setup_installs_every_tool() -> None:
    """`runner setup` installs the jars, the Spark class archive, the Superset venv, Chromium.

    First in this file, before any fixture installs the venv on its own.
    """
    result = CliRunner().invoke(main, ["setup", "--project-dir", str(PROJECT_DIR)])
    assert result.exit_code == 0, result.output
    assert superset_venv.venv_ready(PROJECT_DIR)
    assert superset_venv.venv_python(PROJECT_DIR).is_file()
    assert any((state_dir(PROJECT_DIR, "cassandra") / "lib").glob("cassandra-all-*.jar"))
    assert maven.ensure_connector_jars(PROJECT_DIR)  # already there: no download
    assert class_archive.archive_path(PROJECT_DIR).is_file()
    assert "Superset environment ready" in result.output
    assert "Thrift server guard classes ready" in result.output
    assert "Redis (Superset's cache) ready" in result.output
    assert redis_server.status(PROJECT_DIR).detail.startswith("Redis 7.")
    assert thrift_guard.ensure_guard_jar(PROJECT_DIR).is_file()  # built: no javac run now
    assert shutil.which("chromium") or "Chromium is missing" in result.output


def _login(stack: SupersetStack) -> tuple[str, str]:
    return stack.login


@pytest.fixture(scope="module")
def client(superset_stack: SupersetStack) -> SupersetClient:
    return SupersetClient.for_target(superset_stack.superset, superset_stack.login)


@pytest.fixture(scope="module")
def synced(
    superset_stack: SupersetStack, superset_marts: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[SyncResult, Path, float]:
    folder = _copy_dashboards(
        tmp_path_factory.mktemp("dash") / "dashboards", "fintech-onboarding-it"
    )
    began = time.monotonic()
    result = _sync(superset_stack, folder, superset_marts)
    return result, folder, time.monotonic() - began


def _sync(stack: SupersetStack, folder: Path, keyspace: str) -> SyncResult:
    """Sync as the runner does: its Superset login, the Thrift login in the database's URI."""
    return sync_dashboards(stack.superset, folder, cassandra_keyspace=keyspace,
                           login=stack.login, database_login=stack.thrift_login)


def _chart_data(client: SupersetClient, chart_id: int) -> list[dict[str, Any]]:
    return client.chart_data(chart_id)


def test_objects_exist_exactly_once(
    client: SupersetClient, synced: tuple[SyncResult, Path, float]
) -> None:
    result, folder, _ = synced
    assert len(client.find("database", database_name="superset_it")) == 1
    datasets = yaml.safe_load((folder / "datasets.yml").read_text())["datasets"]
    assert set(result.dataset_ids) == {d["name"] for d in datasets}
    for name, ds_id in result.dataset_ids.items():
        found = client.find("dataset", table_name=f"superset_it.{name}")
        assert [d["id"] for d in found] == [ds_id]
    charts = yaml.safe_load((folder / "onboarding.yml").read_text())["charts"]
    assert set(result.chart_ids) == set(charts)
    assert len(set(result.chart_ids.values())) == len(charts)
    linked = client.request("GET", f"/api/v1/dashboard/{result.dashboard_id}/charts")["result"]
    assert sorted(c["id"] for c in linked) == sorted(result.chart_ids.values())
    assert [d["id"] for d in client.find("dashboard", slug="fintech-onboarding-it")] == [
        result.dashboard_id
    ]
    assert result.dashboard_url.endswith("/superset/dashboard/fintech-onboarding-it/")


def test_every_chart_returns_rows(
    client: SupersetClient, synced: tuple[SyncResult, Path, float]
) -> None:
    result, _, sync_seconds = synced
    latencies = {}
    for key, chart_id in result.chart_ids.items():
        began = time.monotonic()
        rows = _chart_data(client, chart_id)
        latencies[key] = time.monotonic() - began
        assert rows, f"chart {key} returned no rows"
    values = sorted(latencies.values())
    figures = {
        "sync_seconds": round(sync_seconds, 2),
        "chart_query_p50_seconds": round(statistics.median(values), 3),
        "chart_query_p95_seconds": round(values[max(0, int(len(values) * 0.95 + 0.5) - 1)], 3),
        "chart_query_seconds": {k: round(v, 3) for k, v in latencies.items()},
    }
    TARGET.mkdir(exist_ok=True)
    (TARGET / "superset_timings.json").write_text(json.dumps(figures, indent=2))


def test_big_numbers_equal_cassandra(
    client: SupersetClient,
    synced: tuple[SyncResult, Path, float],
    superset_stack: SupersetStack,
    superset_marts: str,
) -> None:
    from cassandra.cluster import Cluster

    result = synced[0]
    target = superset_stack.cassandra
    cluster = Cluster(target.hosts, port=target.port)
    session = cluster.connect(superset_marts)
    users = list(
        session.execute('SELECT "drop", activation, setup, habit FROM user_onboarding_metrics')
    )
    excluded = sum(
        r.users_excluded for r in session.execute("SELECT users_excluded FROM data_quality")
    )
    last = max(r.finished_at for r in session.execute("SELECT finished_at FROM build_info"))
    cluster.shutdown()
    expected = {
        "users": len(users),
        "drop_rate": sum(u.drop for u in users) / len(users),
        "activation_rate": sum(u.activation for u in users) / len(users),
        "setup_rate": sum(u.setup for u in users) / len(users),
        "habit_rate": sum(u.habit for u in users) / len(users),
        "users_excluded": excluded,
    }
    for key, value in expected.items():
        [row] = _chart_data(client, result.chart_ids[key])
        assert next(iter(row.values())) == pytest.approx(value, rel=1e-9), key
    [row] = _chart_data(client, result.chart_ids["last_build"])
    shown = next(iter(row.values()))
    shown_dt = (
        dt.datetime.fromtimestamp(shown / 1000, dt.UTC).replace(tzinfo=None)
        if isinstance(shown, (int, float))
        else dt.datetime.fromisoformat(str(shown))
    )
    assert abs((shown_dt - last).total_seconds()) < 1


def test_charts_are_cached_until_the_cache_is_emptied(
    client: SupersetClient,
    synced: tuple[SyncResult, Path, float],
    superset_stack: SupersetStack,
    superset_marts: str,
) -> None:
    """Chart data comes from Redis until a build empties the cache; then from Cassandra again."""
    from cassandra.cluster import Cluster

    result = synced[0]
    before = _chart_data(client, result.chart_ids["users"])[0]["users"]
    target = superset_stack.cassandra
    cluster = Cluster(target.hosts, port=target.port)
    session = cluster.connect(superset_marts)
    session.execute(
        "INSERT INTO user_onboarding_metrics (user_id, segment, segment_name, ab_group, "
        "\"drop\", activation, setup, habit) VALUES ('MLB999999', 1, 'individuals', "
        "'control', 1, 0, 0, 0)"
    )
    try:
        assert _chart_data(client, result.chart_ids["users"])[0]["users"] == before  # cached
        assert redis_server.flush_data(PROJECT_DIR, superset_stack.superset.cache_port)
        assert _chart_data(client, result.chart_ids["users"])[0]["users"] == before + 1
    finally:
        session.execute("DELETE FROM user_onboarding_metrics WHERE user_id = 'MLB999999'")
        cluster.shutdown()
        redis_server.flush_data(PROJECT_DIR, superset_stack.superset.cache_port)


def test_second_sync_updates_in_place(
    superset_stack: SupersetStack, superset_marts: str, synced: tuple[SyncResult, Path, float]
) -> None:
    first, folder, _ = synced
    second = _sync(superset_stack, folder, superset_marts)
    assert (second.database_id, second.dataset_ids, second.chart_ids, second.dashboard_id) == (
        first.database_id,
        first.dataset_ids,
        first.chart_ids,
        first.dashboard_id,
    )
    assert second.created == 0 and second.deleted == 0
    assert second.updated == first.created + first.updated


def test_chart_removed_from_definition_is_deleted(
    client: SupersetClient, superset_stack: SupersetStack, superset_marts: str, tmp_path: Path
) -> None:
    slug = "fintech-onboarding-it-removal"
    full = _sync(superset_stack, _copy_dashboards(tmp_path / "a", slug), superset_marts)
    smaller = _sync(
        superset_stack, _copy_dashboards(tmp_path / "b", slug, drop_chart="raw_users"),
        superset_marts,
    )
    assert smaller.deleted == 1 and smaller.created == 0
    assert "raw_users" not in smaller.chart_ids
    assert smaller.dashboard_id == full.dashboard_id
    gone = full.chart_ids["raw_users"]
    with pytest.raises(SupersetError, match="HTTP 404"):
        client.request("GET", f"/api/v1/chart/{gone}")
    linked = client.request("GET", f"/api/v1/dashboard/{smaller.dashboard_id}/charts")["result"]
    assert sorted(c["id"] for c in linked) == sorted(smaller.chart_ids.values())


def test_dashboard_screenshot(
    synced: tuple[SyncResult, Path, float], superset_stack: SupersetStack
) -> None:
    result = synced[0]
    # a window as tall as the dashboard: Superset loads no chart below the window
    state = take_screenshot(result.dashboard_url, *_login(superset_stack), SCREENSHOT,
                            height=7200)
    text = state["text"]
    assert "Fintech onboarding" in text and "Users in population" in text
    assert not [e for e in ERROR_TEXTS if e in text], text[:2000]
    assert state["charts"] == len(result.chart_ids) and state["loading"] == 0
    stats = image_stats(superset_venv.ensure_superset_venv(PROJECT_DIR), SCREENSHOT)
    assert stats["stddev"] > 10 and stats["colors"] > 50, stats


def test_no_credentials_in_outputs(
    superset_stack: SupersetStack,
    synced: tuple[SyncResult, Path, float],
    capfd: pytest.CaptureFixture[str],
) -> None:
    user, password = _login(superset_stack)
    secrets = [password, superset_stack.thrift_login[1], superset_stack.cassandra.credentials()[1],
               redis_server.redis_password(PROJECT_DIR)]
    found: list[str] = [s for s in secrets if s]
    # A password equal to the user name cannot be told apart from the user name.
    literal = [s for s in found if s != user and len(s) >= 6]
    leak = re.compile(r"""password["']?[ \t]*[:=][ \t]*["']?(?!\*)\w""", re.IGNORECASE)
    files = [p for p in TARGET.rglob("*") if p.is_file() and p.suffix != ".png"]
    for service, log in (("superset", "gunicorn.log"), ("superset", "init.log"),
                         ("thrift", "thrift.log"), ("redis", "redis.log"),
                         ("redis", "redis.conf")):
        files.append(state_dir(PROJECT_DIR, service) / log)
    for path in files:
        if not path.exists():
            continue
        text = path.read_text(errors="replace")
        assert not [s for s in literal if s in text], f"a password is in {path}"
        assert not leak.search(text), f"something like a password is in {path}"
    out, err = capfd.readouterr()
    assert not [s for s in literal if s in out + err]
