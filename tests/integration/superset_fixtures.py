"""Session fixtures for the Superset integration tests: real Cassandra, Thrift and Superset.

The lead's `conftest.py` imports these. `superset_stack` starts the Spark Thrift Server, Redis and
Superset once per test run through `runner.local.thrift`, `redis_server` and `superset_server`
and stops only what it started.
Until the real marts exist, `superset_marts` writes tables with the exact mart schema
(docs/CONTRACTS.md) and deterministic rows into a throwaway keyspace.

Environment:
    RUNNER_IT_CASSANDRA_HOST / RUNNER_IT_CASSANDRA_PORT: an already running Cassandra node
        (default: the `cassandra_node` fixture of cassandra_fixtures.py).
    RUNNER_IT_SUPERSET_KEYSPACE: the throwaway keyspace (default `superset_it`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from runner.config import CassandraTarget, SupersetTarget
from runner.errors import ServiceError
from runner.local import dashboard_visit, redis_server, superset_server, thrift
from runner.local.processes import ServiceInfo
from runner.local.superset_server import ensure_superset
from runner.local.superset_venv import ensure_superset_venv
from runner.local.thrift import ensure_thrift, hive_query, thrift_login, thrift_process

if TYPE_CHECKING:
    from cassandra.cluster import Session

PROJECT_DIR = Path(__file__).resolve().parents[2]
SEGMENTS = {1: "individuals", 2: "sellers"}
GROUPS = ("control", "treatment")
STAGES = ("registration", "activation", "setup", "habit")

MART_DDL = {
    "user_onboarding_metrics": """
        user_id text PRIMARY KEY, segment int, segment_name text, ab_group text, ab_bucket int,
        first_login_dt date, week_year int, "drop" int, activation int, setup int, habit int,
        habit_source int, days_to_activation int, days_to_setup int,
        transactions_in_window int, collections_in_window int,
        milestones map<text, date>, transaction_types set<int>""",
    "onboarding_funnel": """
        segment_name text, ab_group text, stage text, stage_order int, users bigint,
        rate_of_registered double, rate_of_previous double,
        PRIMARY KEY ((segment_name, ab_group), stage_order)""",
    "segment_summary": """
        segment_name text PRIMARY KEY, segment int, users bigint, drop_rate double,
        activation_rate double, setup_rate double, habit_rate double, habit_source_rate double""",
    "ab_test_results": """
        metric text, segment_name text, n_control bigint, n_treatment bigint,
        rate_control double, rate_treatment double, diff double, relative_lift double, z double,
        p_value double, ci_low double, ci_high double, significant boolean, srm_chi2 double,
        srm_p_value double, srm_detected boolean, PRIMARY KEY ((segment_name), metric)""",
    "weekly_cohorts": """
        week_year int, week_start date, segment_name text, ab_group text, users bigint,
        drop_rate double, activation_rate double, setup_rate double, habit_rate double,
        PRIMARY KEY ((week_year), segment_name, ab_group)""",
    "data_quality": """
        source text, check text, rows_in bigint, rows_kept bigint, rows_quarantined bigint,
        users_excluded bigint, description text, PRIMARY KEY ((source), check)""",
    "quarantined_rows": """
        source text, reason text, row_id text, row_index int, raw map<text, text>,
        PRIMARY KEY ((source), reason, row_id)""",
    "build_info": """
        build_id text PRIMARY KEY, finished_at timestamp, target text, models int""",
}


@dataclass(frozen=True)
class SupersetStack:
    """What the Superset tests run against."""

    project_dir: Path
    superset: SupersetTarget
    cassandra: CassandraTarget
    thrift_info: ServiceInfo
    superset_info: ServiceInfo
    login: tuple[str, str]  # Superset's (generated unless RUNNER_SUPERSET_PASSWORD is set)
    thrift_login: tuple[str, str]


def copy_project(stack: SupersetStack, root: Path, *, slug: str, keyspace: str,
                 database_name: str, master: str = "local[1]") -> Path:
    """The project's models, macros, dashboards and seeds in `root`, with a dashboard `slug` and a
    target `it` on the stack's Cassandra (`keyspace`) and Superset (`database_name`)."""
    import yaml

    root.mkdir(parents=True)
    for name in ("runner_project.yml", "models", "macros", "dashboards", "seeds"):
        src = PROJECT_DIR / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / name)
    (root / "tests" / "data").mkdir(parents=True)
    board = root / "dashboards" / "onboarding.yml"
    board.write_text(board.read_text().replace("slug: fintech-onboarding", f"slug: {slug}"))
    cass, sup = stack.cassandra, stack.superset
    (root / "profiles.yml").write_text(yaml.safe_dump({"fintech_onboarding": {
        "target": "it", "outputs": {"it": {
            "spark": {"master": master},
            "cassandra": {"hosts": cass.hosts, "port": cass.port, "keyspace": keyspace},
            "superset": {"url": sup.url, "database_name": database_name},
        }}}}))
    return root


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


def _users(rng: random.Random, n: int) -> list[dict[str, Any]]:
    start = dt.date(2022, 1, 3)
    rows = []
    for i in range(n):
        segment = 1 if rng.random() < 0.6 else 2
        group = "control" if rng.random() < 0.3 else "treatment"
        first = start + dt.timedelta(days=rng.randrange(0, 42))
        boost = 0.08 if group == "treatment" else 0.0
        activation = int(rng.random() < 0.55 + boost)
        setup = int(activation and rng.random() < 0.6 + boost)
        habit = int(setup and rng.random() < 0.5)
        milestones = {"registration": first}
        if activation:
            milestones["activation"] = first + dt.timedelta(days=rng.randrange(0, 10))
        if setup:
            milestones["setup"] = milestones["activation"] + dt.timedelta(days=rng.randrange(0, 8))
        if habit:
            milestones["habit"] = milestones["setup"] + dt.timedelta(days=rng.randrange(1, 10))
        rows.append(
            {
                "user_id": f"MLB{100000 + i}",
                "segment": segment,
                "segment_name": SEGMENTS[segment],
                "ab_group": group,
                "ab_bucket": rng.randrange(100),
                "first_login_dt": first,
                "week_year": int(first.strftime("%G%V")),
                "drop": 1 - activation,
                "activation": activation,
                "setup": setup,
                "habit": habit,
                "habit_source": habit * rng.choice([1, 2]),
                "days_to_activation": (milestones["activation"] - first).days
                if activation
                else None,
                "days_to_setup": (milestones["setup"] - first).days if setup else None,
                "transactions_in_window": rng.randrange(0, 12) * activation,
                "collections_in_window": rng.randrange(0, 8) * setup,
                "milestones": milestones,
                "transaction_types": sorted(
                    {rng.randrange(1, 6) for _ in range(rng.randrange(0, 4))}
                ),
            }
        )
    return rows


def _funnel(users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for seg in [*SEGMENTS.values(), "all"]:
        for grp in [*GROUPS, "all"]:
            sel = [
                u
                for u in users
                if seg in ("all", u["segment_name"]) and grp in ("all", u["ab_group"])
            ]
            counts = [len(sel)] + [sum(u[s] for u in sel) for s in STAGES[1:]]
            for i, stage in enumerate(STAGES):
                out.append(
                    {
                        "segment_name": seg,
                        "ab_group": grp,
                        "stage": stage,
                        "stage_order": i + 1,
                        "users": counts[i],
                        "rate_of_registered": _rate(counts[i], counts[0]),
                        "rate_of_previous": _rate(counts[i], counts[i - 1]) if i else 1.0,
                    }
                )
    return out


def _rates(sel: list[dict[str, Any]]) -> dict[str, float | None]:
    n = len(sel)
    return {f"{m}_rate": _rate(sum(u[m] for u in sel), n) for m in ("drop", *STAGES[1:])}


def _segments(users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for seg, name in SEGMENTS.items():
        sel = [u for u in users if u["segment"] == seg]
        out.append(
            {
                "segment_name": name,
                "segment": seg,
                "users": len(sel),
                **_rates(sel),
                "habit_source_rate": _rate(sum(u["habit_source"] > 0 for u in sel), len(sel)),
            }
        )
    return out


def _ab(users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for seg in [*SEGMENTS.values(), "all"]:
        sel = [u for u in users if seg in ("all", u["segment_name"])]
        c = [u for u in sel if u["ab_group"] == "control"]
        t = [u for u in sel if u["ab_group"] == "treatment"]
        for metric in ("drop", *STAGES[1:]):
            rc, rt = sum(u[metric] for u in c) / len(c), sum(u[metric] for u in t) / len(t)
            se = (rc * (1 - rc) / len(c) + rt * (1 - rt) / len(t)) ** 0.5 or 1.0
            z = (rt - rc) / se
            p = 2 * (1 - 0.5 * (1 + _erf(abs(z) / 2**0.5)))
            out.append(
                {
                    "metric": metric,
                    "segment_name": seg,
                    "n_control": len(c),
                    "n_treatment": len(t),
                    "rate_control": rc,
                    "rate_treatment": rt,
                    "diff": rt - rc,
                    "relative_lift": (rt - rc) / rc if rc else None,
                    "z": z,
                    "p_value": p,
                    "ci_low": rt - rc - 1.96 * se,
                    "ci_high": rt - rc + 1.96 * se,
                    "significant": p < 0.05,
                    "srm_chi2": 0.4,
                    "srm_p_value": 0.52,
                    "srm_detected": False,
                }
            )
    return out


def _erf(x: float) -> float:
    import math

    return math.erf(x)


def _cohorts(users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for week in sorted({u["week_year"] for u in users}):
        wk = [u for u in users if u["week_year"] == week]
        start = min(u["first_login_dt"] for u in wk)
        start -= dt.timedelta(days=start.weekday())
        for seg in [*SEGMENTS.values(), "all"]:
            for grp in [*GROUPS, "all"]:
                sel = [
                    u
                    for u in wk
                    if seg in ("all", u["segment_name"]) and grp in ("all", u["ab_group"])
                ]
                if sel:
                    out.append(
                        {
                            "week_year": week,
                            "week_start": start,
                            "segment_name": seg,
                            "ab_group": grp,
                            "users": len(sel),
                            **_rates(sel),
                        }
                    )
    return out


DATA_QUALITY = [
    ("lk_onboarding", "bad_user_id", 1210, 1190, 20, 20, "user_id does not match ^MLB[0-9]+$"),
    ("lk_onboarding", "duplicate_user", 1190, 1185, 5, 5, "same user_id twice; first kept"),
    ("dim_users", "unknown_segment", 1300, 1288, 12, 12, "segment not in (1, 2)"),
    (
        "bt_users_transactions",
        "unparseable_row",
        9100,
        9087,
        13,
        0,
        "CSV record could not be split",
    ),
    ("bt_users_transactions", "unknown_user", 9087, 9050, 37, 0, "user_id not in lk_onboarding"),
]


def create_test_marts(session: Session, keyspace: str, *, users: int = 400) -> None:
    """Create every mart table of docs/CONTRACTS.md plus `build_info` in `keyspace`, with rows."""
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    for table, cols in MART_DDL.items():
        session.execute(f"DROP TABLE IF EXISTS {keyspace}.{table}")
        session.execute(f"CREATE TABLE {keyspace}.{table} ({cols})")
    people = _users(random.Random(20220103), users)
    rng = random.Random(5)
    quarantined = [
        {
            "source": s,
            "reason": r,
            "row_id": f"{s}-{k}",
            "row_index": rng.randrange(10_000),
            "raw": {"user_id": f"X{k}", "note": d},
        }
        for s, r, _, _, q, _, d in DATA_QUALITY
        for k in range(min(q, 6))
    ]
    tables = {
        "user_onboarding_metrics": people,
        "onboarding_funnel": _funnel(people),
        "segment_summary": _segments(people),
        "ab_test_results": _ab(people),
        "weekly_cohorts": _cohorts(people),
        "data_quality": [
            dict(
                zip(
                    (
                        "source",
                        "check",
                        "rows_in",
                        "rows_kept",
                        "rows_quarantined",
                        "users_excluded",
                        "description",
                    ),
                    r,
                    strict=True,
                )
            )
            for r in DATA_QUALITY
        ],
        "quarantined_rows": quarantined,
        "build_info": [
            {
                "build_id": "b-0001",
                "finished_at": dt.datetime(2026, 11, 27, 21, 4, 5),
                "target": "dev",
                "models": 14,
            },
            {
                "build_id": "b-0002",
                "finished_at": dt.datetime(2026, 11, 28, 6, 15, 30),
                "target": "dev",
                "models": 15,
            },
        ],
    }
    for table, rows in tables.items():
        columns = list(rows[0])
        names = ", ".join(f'"{c}"' for c in columns)
        stmt = session.prepare(
            f"INSERT INTO {keyspace}.{table} ({names}) VALUES ({', '.join('?' * len(columns))})"
        )
        for row in rows:
            session.execute(stmt, [row[c] for c in columns])


# ---------------------------------------------------------------------------------------------
# Fixtures


def _thrift_cassandra() -> tuple[str, int] | None:
    """The Cassandra a running managed Thrift server reads (its catalog is fixed at start)."""
    if not thrift.status(PROJECT_DIR).running:
        return None
    conf = dict(
        line.split(" ", 1) for line in
        (thrift_process(PROJECT_DIR).state_dir / "spark.conf").read_text().splitlines()
        if " " in line
    )
    host = conf["spark.cassandra.connection.host"].split(",")[0]
    return host, int(conf.get("spark.cassandra.connection.port", "9042"))


@pytest.fixture(scope="session")
def superset_cassandra(request: pytest.FixtureRequest) -> CassandraTarget:
    """The Cassandra the Superset tests use, keyspace $RUNNER_IT_SUPERSET_KEYSPACE (superset_it).

    The one a running Thrift server reads, else $RUNNER_IT_CASSANDRA_HOST/_PORT, else the
    `cassandra_node` fixture of cassandra_fixtures.py (conftest imports it).
    """
    keyspace = os.environ.get("RUNNER_IT_SUPERSET_KEYSPACE", "superset_it")
    running = _thrift_cassandra()
    if running:
        return CassandraTarget(hosts=[running[0]], port=running[1], keyspace=keyspace)
    if os.environ.get("RUNNER_IT_CASSANDRA_PORT"):
        host = os.environ.get("RUNNER_IT_CASSANDRA_HOST", "127.0.0.1")
        port = int(os.environ["RUNNER_IT_CASSANDRA_PORT"])
        return CassandraTarget(hosts=[host], port=port, keyspace=keyspace)
    node = request.getfixturevalue("cassandra_node")
    return node.target.model_copy(update={"keyspace": keyspace})


@pytest.fixture(scope="session")
def superset_marts(
    superset_cassandra: CassandraTarget, superset_stack: SupersetStack
) -> Iterator[str]:
    """The throwaway keyspace with every mart table and deterministic rows; dropped at the end.

    Ready once the Thrift server lists every table: the Cassandra driver inside Spark learns
    about schema changes through debounced events.
    """
    from cassandra.cluster import Cluster

    target = superset_cassandra
    cluster = Cluster(target.hosts, port=target.port)
    session = cluster.connect()
    create_test_marts(session, target.keyspace)
    python = ensure_superset_venv(PROJECT_DIR)
    sql = [f"SHOW TABLES IN cass.{target.keyspace}"]
    deadline = time.monotonic() + 60
    seen: set[str] = set()
    while time.monotonic() < deadline and not set(MART_DDL) <= seen:
        try:
            port = superset_stack.superset.thrift_port
            rows = hive_query(python, "127.0.0.1", port, sql, login=superset_stack.thrift_login)
            seen = {str(row[1]) for row in rows[0]}
        except ServiceError:
            pass
        time.sleep(0.5)
    assert set(MART_DDL) <= seen, f"Thrift server sees only {sorted(seen)}"
    yield target.keyspace
    # Schema changes wait for every node's agreement: slow on a loaded machine.
    session.execute(f"DROP KEYSPACE IF EXISTS {target.keyspace}", timeout=120)
    cluster.shutdown()


@pytest.fixture(scope="session")
def superset_stack(superset_cassandra: CassandraTarget) -> Iterator[SupersetStack]:
    """Spark Thrift Server, Redis (Superset's cache) and Superset, started once per run; stops
    only what it started."""
    superset = SupersetTarget(managed=True, database_name="superset_it")
    started: list[Any] = []  # the service modules whose process this fixture launched
    try:
        # Generous timeouts: the Thrift server's JVM shares 2 cores with the other test JVMs.
        thrift_info = ensure_thrift(PROJECT_DIR, superset_cassandra, superset, timeout=360)
        started += [thrift] if thrift_info.started else []
        redis_info = redis_server.ensure_redis(PROJECT_DIR, superset.cache_port)
        started += [redis_server] if redis_info.started else []
        superset_info = ensure_superset(PROJECT_DIR, superset, timeout=240)
        started += [superset_server] if superset_info.started else []
        yield SupersetStack(
            PROJECT_DIR, superset, superset_cassandra, thrift_info, superset_info,
            superset_server.admin_login(PROJECT_DIR, superset)[0], thrift_login(PROJECT_DIR),
        )
    finally:
        for service in reversed(started):
            service.stop(PROJECT_DIR)
    assert not any(service.status(PROJECT_DIR).running for service in started)


# ---------------------------------------------------------------------------------------------
# Headless Chromium screenshot: Debian's Chromium driven by Playwright (as in test_docs.py)

CHROMIUM_APT = "apt-get update && apt-get install -y chromium"
CHROMIUM_ARGS = [*dashboard_visit.CHROMIUM_ARGS, "--hide-scrollbars"]
ERROR_TEXTS = (
    "Unexpected error",
    "There is no chart definition",
    "Internal server error",
    "Network error",
    "Exception",
    "not found",
    "Error running query",
)
PAGE_STATE_JS = """JSON.stringify({
  charts: document.querySelectorAll('.chart-container, [data-test="chart-container"]').length,
  loading: document.querySelectorAll('.loading, [data-test="loading-indicator"]').length,
  drawn: document.querySelectorAll('.dashboard-chart canvas, .dashboard-chart svg, '
         + '.dashboard-chart table, .big_number, .superset-legacy-chart-big-number').length,
  text: document.body ? document.body.innerText : ''
})"""


def take_screenshot(
    dashboard_url: str,
    username: str,
    password: str,
    out: Path,
    *,
    width: int = 1600,
    height: int = 2400,
    timeout: float = 120,
) -> dict[str, Any]:
    """Log in, render `dashboard_url` in headless Chromium and save a PNG to `out`.

    Returns:
        The page state when the shot was taken: chart count, spinners left, drawn charts, text.
    """
    chromium = dashboard_visit.find_chromium()
    if chromium is None:
        pytest.skip(f"chromium is not installed ({CHROMIUM_APT})")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    base = dashboard_url.split("/superset/")[0]
    cookie = dashboard_visit.login_cookie(base, (username, password))
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            context.add_cookies(
                [{"name": "session", "value": cookie, "domain": "127.0.0.1", "path": "/"}]
            )
            page = context.new_page()
            page.goto(dashboard_url, wait_until="commit", timeout=timeout * 1000)
            state: dict[str, Any] = {}
            deadline = time.monotonic() + timeout
            settled_since = None
            while time.monotonic() < deadline:
                try:
                    state = json.loads(page.evaluate(PAGE_STATE_JS))
                except sync_api.Error:  # the page is between documents (a redirect)
                    time.sleep(0.5)
                    continue
                ready = state["charts"] > 0 and state["loading"] == 0 and state["drawn"] > 0
                settled_since = (settled_since or time.monotonic()) if ready else None
                if settled_since and time.monotonic() - settled_since > 2:  # let animations end
                    break
                time.sleep(0.5)
            # The window only: Superset loads no chart below it, so callers make it tall enough.
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))
            return state
        finally:
            browser.close()


def image_stats(python: Path, png: Path) -> dict[str, float]:
    """Size, largest channel standard deviation and colour count of a PNG (Superset venv's PIL)."""
    code = (
        "import json,sys; from PIL import Image, ImageStat;"
        "im=Image.open(sys.argv[1]).convert('RGB');"
        "st=ImageStat.Stat(im); small=im.resize((200, 300));"
        "print(json.dumps({'width': im.width, 'height': im.height, 'stddev': max(st.stddev),"
        "'colors': len(set(small.getdata()))}))"
    )
    out = subprocess.run([str(python), "-c", code, str(png)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)
