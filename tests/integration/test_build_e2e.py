"""`runner build` end to end on the original data: Spark → Cassandra → Superset, all real.

The project is copied to a tmp folder with a profile whose target writes to a unique keyspace of
the Cassandra node the Thrift server reads, and registers its own dashboard slug in Superset.
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ORIGINAL_DATA, ROOT
from tests.integration.conftest import read_mart

MARTS = [
    "user_onboarding_metrics",
    "onboarding_funnel",
    "segment_summary",
    "ab_test_results",
    "weekly_cohorts",
    "data_quality",
    "quarantined_rows",
]
PROFILE = """
fintech_onboarding:
  target: it
  outputs:
    it:
      spark: {{master: "local[2]"}}
      cassandra: {{hosts: ["{host}"], port: {port}, keyspace: {keyspace}}}
      superset: {{url: "http://127.0.0.1:8088", database_name: {keyspace}}}
    it_no_superset:
      spark: {{master: "local[2]"}}
      cassandra: {{hosts: ["{host}"], port: {port}, keyspace: {keyspace}}}
    unreachable:
      spark: {{master: "local[2]"}}
      cassandra: {{hosts: ["127.0.0.1"], port: 1, keyspace: {keyspace}, connect_timeout: 5}}
"""


def _copy_project(dest: Path, keyspace: str, host: str, port: int) -> Path:
    for name in ("runner_project.yml", "models", "macros", "dashboards", "tests/data"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        elif src.exists():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dest / name)
    (dest / "profiles.yml").write_text(PROFILE.format(host=host, port=port, keyspace=keyspace))
    dash = dest / "dashboards" / "onboarding.yml"
    spec = yaml.safe_load(dash.read_text())
    spec["slug"] = f"e2e-{keyspace}"
    dash.write_text(yaml.safe_dump(spec, sort_keys=False))
    return dest


@pytest.fixture(scope="module")
def e2e(tmp_path_factory, superset_cassandra, superset_stack, run_runner):
    """The copied project after one full build on the original data."""
    keyspace = f"e2e_{uuid.uuid4().hex[:8]}"
    host, port = superset_cassandra.hosts[0], superset_cassandra.port
    project = _copy_project(tmp_path_factory.mktemp("e2e"), keyspace, host, port)
    env = pytest.MonkeyPatch()  # Superset and Thrift named by URL: logins from the env
    env.setenv("RUNNER_SUPERSET_USERNAME", superset_stack.login[0])
    env.setenv("RUNNER_SUPERSET_PASSWORD", superset_stack.login[1])
    env.setenv("RUNNER_THRIFT_USERNAME", superset_stack.thrift_login[0])
    env.setenv("RUNNER_THRIFT_PASSWORD", superset_stack.thrift_login[1])
    args = ["build", "--vars", f"{{raw_dir: {ORIGINAL_DATA}}}", "--profiles-dir", str(project)]
    result = run_runner(args, project_dir=project)
    assert result.exit_code == 0, result.output
    from cassandra.cluster import Cluster

    cluster = Cluster([host], port=port)
    session = cluster.connect()
    yield {"project": project, "keyspace": keyspace, "session": session, "args": args,
           "output": result.output}
    session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")
    env.undo()
    cluster.shutdown()


def _norm(value: Any) -> Any:
    """One comparable Python value for a Cassandra or a Parquet (pandas) cell."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "date") and type(value).__name__ == "Date":  # cassandra.util.Date
        return value.date()
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    if hasattr(value, "items"):
        return tuple(sorted((str(k), _norm(v)) for k, v in value.items())) or None
    if isinstance(value, (list, tuple, set, frozenset)) or type(value).__name__ in (
        "ndarray", "SortedSet"
    ):
        items = list(value)
        if items and isinstance(items[0], tuple) and len(items[0]) == 2:  # pyarrow map
            return tuple(sorted((str(k), _norm(v)) for k, v in items)) or None
        return tuple(sorted(_norm(v) for v in items)) or None
    if hasattr(value, "item"):  # numpy scalar
        return _norm(value.item())
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return round(value, 12)
    return value


def _rows_cassandra(session, keyspace: str, table: str) -> list[tuple]:
    rows = session.execute(f'SELECT * FROM "{keyspace}"."{table}"')
    return sorted((tuple(sorted((k, _norm(v)) for k, v in r._asdict().items())) for r in rows),
                  key=repr)


def _rows_parquet(project: Path, table: str) -> list[tuple]:
    df = read_mart(project, table)
    return sorted(
        (tuple(sorted((k, _norm(v)) for k, v in rec.items())) for rec in df.to_dict("records")),
        key=repr,
    )


@pytest.mark.parametrize("mart", MARTS)
def test_cassandra_holds_exactly_the_spark_result(e2e, mart):
    in_cassandra = _rows_cassandra(e2e["session"], e2e["keyspace"], mart)
    in_spark = _rows_parquet(e2e["project"], mart)
    assert len(in_cassandra) == len(in_spark) > 0
    assert in_cassandra == in_spark


def test_output_shows_progress_summary_and_dashboard(e2e):
    out = e2e["output"]
    assert "1 of " in out and "START" in out
    assert "Done. OK=" in out and "ERROR=0" in out
    assert f"/superset/dashboard/e2e-{e2e['keyspace']}/" in out


def test_overview_and_funnel_charts_equal_cassandra(e2e, superset_stack):
    from runner.superset.client import SupersetClient

    client = SupersetClient(superset_stack.superset.url, *superset_stack.login)
    charts = client.dashboard_charts(f"e2e-{e2e['keyspace']}")
    session, ks = e2e["session"], e2e["keyspace"]
    users = list(session.execute(f'SELECT "drop", activation, setup, habit FROM {ks}.user_onboarding_metrics'))
    n = len(users)
    expected = {
        "Users in population": n,
        "Drop rate": sum(u.drop for u in users) / n,
        "Activation rate": sum(u.activation for u in users) / n,
        "Setup rate": sum(u.setup for u in users) / n,
        "Habit rate": sum(u.habit for u in users) / n,
    }
    for title, value in expected.items():
        rows = client.chart_data(charts[title])
        got = next(iter(rows[0].values()))
        assert got == pytest.approx(value, rel=1e-9), title
    funnel = {
        (r.segment_name, r.ab_group, r.stage): r.users
        for r in session.execute(f"SELECT segment_name, ab_group, stage, users FROM {ks}.onboarding_funnel")
    }
    table = client.chart_data(charts["Funnel stages"])
    assert {(r["segment_name"], r["ab_group"], r["stage"]): r["users"] for r in table} == funnel


def test_second_build_gives_identical_tables(e2e, run_runner):
    before = {m: _rows_cassandra(e2e["session"], e2e["keyspace"], m) for m in MARTS}
    result = run_runner(e2e["args"] + ["--target", "it_no_superset"], project_dir=e2e["project"])
    assert result.exit_code == 0, result.output
    after = {m: _rows_cassandra(e2e["session"], e2e["keyspace"], m) for m in MARTS}
    assert after == before
    # the same data: the Parquet copies say what the tables hold, no row is sent again
    assert result.output.count(", 0 changed)") == len(MARTS), result.output


def test_after_a_failed_write_the_next_build_sends_every_row(e2e, run_runner):
    session, ks, project = e2e["session"], e2e["keyspace"], e2e["project"]
    user = session.execute(f"SELECT user_id FROM {ks}.user_onboarding_metrics LIMIT 1").one()
    # what a write cut off midway can leave: a table that differs from the last Parquet copy
    session.execute(f"DELETE FROM {ks}.user_onboarding_metrics WHERE user_id = %s",
                    (user.user_id,))
    marker = project / "target" / "marts" / ".user_onboarding_metrics.cassandra-dirty"
    marker.touch()
    result = run_runner(e2e["args"] + ["--target", "it_no_superset", "-s", "user_onboarding_metrics"],
                        project_dir=project)
    assert result.exit_code == 0, result.output
    assert not marker.exists()
    assert session.execute(f"SELECT user_id FROM {ks}.user_onboarding_metrics WHERE user_id = %s",
                           (user.user_id,)).one() is not None


def test_rebuild_that_removes_users_deletes_exactly_those_rows(e2e, run_runner):
    session, ks = e2e["session"], e2e["keyspace"]
    rows = session.execute(f"SELECT user_id, segment FROM {ks}.user_onboarding_metrics")
    before = {r.user_id: r.segment for r in rows}
    sellers = {u for u, s in before.items() if s == 2}
    assert sellers and len(sellers) < len(before)
    args = ["build", "--vars", f"{{raw_dir: {ORIGINAL_DATA}, segments: [2]}}", "--profiles-dir",
            str(e2e["project"]), "--target", "it_no_superset", "-s", "int_user_metrics+"]
    try:
        result = run_runner(args, project_dir=e2e["project"])
        assert result.exit_code == 0, result.output
        after = {
            r.user_id for r in session.execute(f"SELECT user_id FROM {ks}.user_onboarding_metrics")
        }
        assert after == sellers
    finally:  # back to the defaults for the tests that follow
        result = run_runner(e2e["args"] + ["--target", "it_no_superset"],
                            project_dir=e2e["project"])
        assert result.exit_code == 0, result.output


def test_failing_mart_keeps_earlier_marts_and_its_previous_content(e2e, run_runner):
    session, ks, project = e2e["session"], e2e["keyspace"], e2e["project"]
    before = {m: _rows_cassandra(session, ks, m) for m in MARTS}
    model = project / "models" / "marts" / "weekly_cohorts.sql"
    original = model.read_text()
    # the same columns (the charts' check passes), an error once Spark runs it
    ref = "from {{ ref('int_user_metrics') }}"
    model.write_text(original.replace(ref, f"{ref}\nwhere raise_error('broken on purpose') is null"))
    try:  # its unit tests left out: the model itself must fail
        result = run_runner(e2e["args"] + ["--target", "it_no_superset",
                                           "--exclude", "test_type:unit"], project_dir=project)
    finally:
        model.write_text(original)
    assert result.exit_code == 1
    assert "weekly_cohorts" in result.output and "ERROR=1" in result.output
    after = {m: _rows_cassandra(session, ks, m) for m in MARTS}
    assert after == before


def test_unreachable_cassandra_on_other_target_is_quick_and_clear(e2e, run_runner):
    started = time.monotonic()
    args = ["run", "--profiles-dir", str(e2e["project"]), "--target", "unreachable",
            "--vars", f"{{raw_dir: {ORIGINAL_DATA}}}"]
    result = run_runner(args, project_dir=e2e["project"])
    elapsed = time.monotonic() - started
    assert result.exit_code == 1
    assert "127.0.0.1:1" in result.output
    assert "Traceback" not in result.output
    assert elapsed < 30
