"""Session fixtures for the Superset integration tests: real Cassandra, Thrift and Superset.

The lead's `conftest.py` imports these. `superset_stack` starts the Spark Thrift Server and
Superset once per test run through `runner.superset_service` and stops only what it started.
Until the real marts exist, `superset_marts` writes tables with the exact mart schema
(docs/CONTRACTS.md) and deterministic rows into a throwaway keyspace.

Environment:
    RUNNER_IT_CASSANDRA_HOST / RUNNER_IT_CASSANDRA_PORT: an already running Cassandra node
        (default 127.0.0.1:9042; started with `runner.cassandra_node` when that module exists).
    RUNNER_IT_SUPERSET_KEYSPACE: the throwaway keyspace (default `superset_it`).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import pytest

from runner.config import CassandraTarget, SupersetTarget
from runner.superset_service import ServiceInfo, ensure_superset, ensure_thrift, status, stop_all

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
        rows.append({
            "user_id": f"MLB{100000 + i}", "segment": segment, "segment_name": SEGMENTS[segment],
            "ab_group": group, "ab_bucket": rng.randrange(100), "first_login_dt": first,
            "week_year": int(first.strftime("%G%V")), "drop": 1 - activation,
            "activation": activation, "setup": setup, "habit": habit,
            "habit_source": habit * rng.choice([1, 2]),
            "days_to_activation": (milestones["activation"] - first).days if activation else None,
            "days_to_setup": (milestones["setup"] - first).days if setup else None,
            "transactions_in_window": rng.randrange(0, 12) * activation,
            "collections_in_window": rng.randrange(0, 8) * setup,
            "milestones": milestones,
            "transaction_types": sorted({rng.randrange(1, 6) for _ in range(rng.randrange(0, 4))}),
        })
    return rows


def _funnel(users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for seg in [*SEGMENTS.values(), "all"]:
        for grp in [*GROUPS, "all"]:
            sel = [u for u in users if seg in ("all", u["segment_name"]) and grp in ("all", u["ab_group"])]
            counts = [len(sel)] + [sum(u[s] for u in sel) for s in STAGES[1:]]
            for i, stage in enumerate(STAGES):
                out.append({
                    "segment_name": seg, "ab_group": grp, "stage": stage, "stage_order": i + 1,
                    "users": counts[i], "rate_of_registered": _rate(counts[i], counts[0]),
                    "rate_of_previous": _rate(counts[i], counts[i - 1]) if i else 1.0,
                })
    return out


def _rates(sel: list[dict[str, Any]]) -> dict[str, float | None]:
    n = len(sel)
    return {f"{m}_rate": _rate(sum(u[m] for u in sel), n) for m in ("drop", *STAGES[1:])}


def _segments(users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for seg, name in SEGMENTS.items():
        sel = [u for u in users if u["segment"] == seg]
        out.append({"segment_name": name, "segment": seg, "users": len(sel), **_rates(sel),
                    "habit_source_rate": _rate(sum(u["habit_source"] > 0 for u in sel), len(sel))})
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
            out.append({
                "metric": metric, "segment_name": seg, "n_control": len(c), "n_treatment": len(t),
                "rate_control": rc, "rate_treatment": rt, "diff": rt - rc,
                "relative_lift": (rt - rc) / rc if rc else None, "z": z, "p_value": p,
                "ci_low": rt - rc - 1.96 * se, "ci_high": rt - rc + 1.96 * se,
                "significant": p < 0.05, "srm_chi2": 0.4, "srm_p_value": 0.52,
                "srm_detected": False,
            })
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
                sel = [u for u in wk if seg in ("all", u["segment_name"])
                       and grp in ("all", u["ab_group"])]
                if sel:
                    out.append({"week_year": week, "week_start": start, "segment_name": seg,
                                "ab_group": grp, "users": len(sel), **_rates(sel)})
    return out


DATA_QUALITY = [
    ("lk_onboarding", "bad_user_id", 1210, 1190, 20, 20, "user_id does not match ^MLB[0-9]+$"),
    ("lk_onboarding", "duplicate_user", 1190, 1185, 5, 5, "same user_id twice; first kept"),
    ("dim_users", "unknown_segment", 1300, 1288, 12, 12, "segment not in (1, 2)"),
    ("bt_users_transactions", "unparseable_row", 9100, 9087, 13, 0, "CSV record could not be split"),
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
        {"source": s, "reason": r, "row_id": f"{s}-{k}", "row_index": rng.randrange(10_000),
         "raw": {"user_id": f"X{k}", "note": d}}
        for s, r, _, _, q, _, d in DATA_QUALITY for k in range(min(q, 6))
    ]
    tables = {
        "user_onboarding_metrics": people,
        "onboarding_funnel": _funnel(people),
        "segment_summary": _segments(people),
        "ab_test_results": _ab(people),
        "weekly_cohorts": _cohorts(people),
        "data_quality": [dict(zip(("source", "check", "rows_in", "rows_kept", "rows_quarantined",
                                   "users_excluded", "description"), r)) for r in DATA_QUALITY],
        "quarantined_rows": quarantined,
        "build_info": [
            {"build_id": "b-0001", "finished_at": dt.datetime(2026, 11, 27, 21, 4, 5),
             "target": "dev", "models": 14},
            {"build_id": "b-0002", "finished_at": dt.datetime(2026, 11, 28, 6, 15, 30),
             "target": "dev", "models": 15},
        ],
    }
    for table, rows in tables.items():
        cols = list(rows[0])
        names = ", ".join(f'"{c}"' for c in cols)
        stmt = session.prepare(
            f"INSERT INTO {keyspace}.{table} ({names}) VALUES ({', '.join('?' * len(cols))})"
        )
        for row in rows:
            session.execute(stmt, [row[c] for c in cols])
