"""The marts built from data/original against the pandas reference of BUSINESS_RULES.md.

The project is copied to a tmp folder and built there with `--target spark_only`, so the marts
are read from its target/marts/ and other builds of the repo are not disturbed.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from tests.conftest import ORIGINAL_DATA, ROOT
from tests.integration.conftest import read_mart
from tests.reference import METRICS, Reference, compute_reference, xxhash64

pytestmark = pytest.mark.slow

MARTS = [
    "user_onboarding_metrics", "onboarding_funnel", "segment_summary", "ab_test_results",
    "weekly_cohorts", "data_quality", "quarantined_rows",
]

# docs/CONTRACTS.md, as Spark simple strings
CONTRACT_SCHEMAS = {
    "user_onboarding_metrics": "struct<user_id:string,segment:int,segment_name:string,"
    "ab_group:string,ab_bucket:int,first_login_dt:date,week_year:int,drop:int,activation:int,"
    "setup:int,habit:int,habit_source:int,days_to_activation:int,days_to_setup:int,"
    "transactions_in_window:int,collections_in_window:int,milestones:map<string,date>,"
    "transaction_types:array<int>>",
    "onboarding_funnel": "struct<segment_name:string,ab_group:string,stage:string,"
    "stage_order:int,users:bigint,rate_of_registered:double,rate_of_previous:double>",
    "segment_summary": "struct<segment_name:string,segment:int,users:bigint,drop_rate:double,"
    "activation_rate:double,setup_rate:double,habit_rate:double,habit_source_rate:double>",
    "ab_test_results": "struct<metric:string,segment_name:string,n_control:bigint,"
    "n_treatment:bigint,rate_control:double,rate_treatment:double,diff:double,"
    "relative_lift:double,z:double,p_value:double,ci_low:double,ci_high:double,"
    "significant:boolean,srm_chi2:double,srm_p_value:double,srm_detected:boolean>",
    "weekly_cohorts": "struct<week_year:int,week_start:date,segment_name:string,ab_group:string,"
    "users:bigint,drop_rate:double,activation_rate:double,setup_rate:double,habit_rate:double>",
    "data_quality": "struct<source:string,check:string,rows_in:bigint,rows_kept:bigint,"
    "rows_quarantined:bigint,users_excluded:bigint,description:string>",
    "quarantined_rows": "struct<source:string,reason:string,row_id:string,row_index:int,"
    "raw:map<string,string>>",
}

CONTRACT_KEYS = {
    "user_onboarding_metrics": (["user_id"], []),
    "onboarding_funnel": (["segment_name", "ab_group"], ["stage_order"]),
    "segment_summary": (["segment_name"], []),
    "ab_test_results": (["segment_name"], ["metric"]),
    "weekly_cohorts": (["week_year"], ["segment_name", "ab_group"]),
    "data_quality": (["source"], ["check"]),
    "quarantined_rows": (["source"], ["reason", "row_id"]),
}


def copy_project(project_dir: Path) -> Path:
    """Copy the project file, profiles, models and macros to `project_dir`."""
    for name in ["runner_project.yml", "profiles.yml"]:
        shutil.copy(ROOT / name, project_dir / name)
    for folder in ["models", "macros"]:
        shutil.copytree(ROOT / folder, project_dir / folder, dirs_exist_ok=True)
    return project_dir


def build_marts(run_runner, project_dir: Path, vars: dict[str, Any], *, copy: bool = True) -> Path:
    """Build the project (copied to `project_dir` first) with `--target spark_only`."""
    if copy:
        copy_project(project_dir)
    result = run_runner(
        ["build", "--target", "spark_only", "--vars", yaml.safe_dump(vars, default_flow_style=True)],
        project_dir=project_dir,
    )
    assert result.exit_code == 0, result.output
    return project_dir


def assert_close(actual: Any, expected: Any, tol: float = 1e-6, what: str = "") -> None:
    """Equal numbers to `tol` (absolute), or both missing (None / NaN)."""
    missing_a = actual is None or (isinstance(actual, float) and math.isnan(actual))
    missing_e = expected is None or (isinstance(expected, float) and math.isnan(expected))
    assert missing_a == missing_e, f"{what}: {actual!r} != {expected!r}"
    if not missing_a:
        assert abs(float(actual) - float(expected)) <= tol, f"{what}: {actual!r} != {expected!r}"


def compare_frames(
    actual: pd.DataFrame, expected: pd.DataFrame, keys: list[str], exact: list[str],
    close: list[str], tol: float = 1e-6,
) -> None:
    """Same keys; `exact` columns equal, `close` columns equal to `tol`, nulls in the same place."""
    a = actual.set_index(keys).sort_index()
    e = expected.set_index(keys).sort_index()
    assert list(a.index) == list(e.index)
    for key in a.index:
        for column in exact:
            got, want = a.at[key, column], e.at[key, column]
            if pd.isna(want):
                assert pd.isna(got), f"{key} {column}: {got!r} != {want!r}"
            else:
                assert got == want, f"{key} {column}: {got!r} != {want!r}"
        for column in close:
            assert_close(a.at[key, column], e.at[key, column], tol, f"{key} {column}")


@pytest.fixture(scope="module")
def reference() -> Reference:
    return compute_reference(ORIGINAL_DATA)


@pytest.fixture(scope="module")
def built(run_runner, tmp_path_factory) -> Path:
    return build_marts(run_runner, tmp_path_factory.mktemp("original"), {"raw_dir": str(ORIGINAL_DATA)})


@pytest.fixture(scope="module")
def marts(built) -> dict[str, pd.DataFrame]:
    return {name: read_mart(built, name) for name in MARTS}


def test_schemas_match_the_contract(built, spark):
    for name, schema in CONTRACT_SCHEMAS.items():
        path = built / "target" / "marts" / name
        assert spark.read.parquet(str(path)).schema.simpleString() == schema, name


def test_primary_keys_are_declared_and_unique(built, marts):
    manifest = json.loads((built / "target" / "manifest.json").read_text())
    configs = {node["name"]: node["config"] for node in manifest["nodes"].values()}
    for name, (partition, clustering) in CONTRACT_KEYS.items():
        config = configs[name]
        assert (config["materialized"], config["partition_key"], config["clustering_key"]) == (
            "cassandra", partition, clustering,
        ), name
        df = marts[name]
        assert not df.duplicated(partition + clustering).any(), name
        assert df[partition + clustering].notna().all().all(), name


def test_python_xxhash64_is_sparks(spark, reference):
    from pyspark.sql import functions as F

    ids = [f"onboarding-2022:{u}" for u in reference.all_users["user_id"]] + ["", "ação", "x" * 40]
    rows = spark.createDataFrame([(i,) for i in ids], "s string").select(
        "s", F.xxhash64("s").alias("h")
    ).collect()
    assert all(row.h == xxhash64(row.s) for row in rows)


def test_key_figures(marts):
    """The figures the final report quotes (default vars); a change here is a behaviour change."""
    users = marts["user_onboarding_metrics"]
    assert len(users) == 3061
    assert users.groupby("segment_name").size().to_dict() == {"individuals": 1143, "sellers": 1918}
    assert users.groupby("ab_group").size().to_dict() == {"control": 174, "treatment": 2887}
    assert users.groupby("segment_name")["habit"].sum().to_dict() == {"individuals": 0, "sellers": 250}
    quarantined = marts["quarantined_rows"].groupby(["source", "reason"]).size().to_dict()
    assert quarantined == {
        ("bt_users_transactions", "malformed_user_id"): 360,
        ("bt_users_transactions", "missing_transaction_dt"): 20,
        ("bt_users_transactions", "unknown_user"): 330,
        ("dim_users", "malformed_user_id"): 1000,
        ("lk_onboarding", "date_before_first_login"): 462,
        ("lk_onboarding", "malformed_user_id"): 1000,
    }


def test_users_match_reference(marts, reference):
    actual = marts["user_onboarding_metrics"]
    expected = reference.population.copy()
    expected["segment"] = expected["segment"].astype("Int64")
    compare_frames(
        actual, expected, ["user_id"],
        exact=["segment", "segment_name", "ab_group", "ab_bucket", "week_year", *METRICS,
               "habit_source", "transactions_in_window", "collections_in_window"],
        close=[],
    )
    assert (actual["first_login_dt"] == actual["milestones"].map(lambda m: dict(m)["registration"])).all()
    types = actual.set_index("user_id")["transaction_types"].map(list)
    assert types.to_dict() == expected.set_index("user_id")["transaction_types"].to_dict()


def test_quarantine_matches_reference(marts, reference):
    actual = marts["quarantined_rows"].groupby(["source", "reason"]).size().to_dict()
    assert actual == reference.quarantine_counts()
    assert marts["quarantined_rows"]["raw"].map(len).gt(0).all()


def test_data_quality(marts, reference):
    dq = marts["data_quality"].set_index(["source", "check"])
    for (source, reason), rows in reference.quarantine_counts().items():
        assert dq.at[(source, reason), "rows_quarantined"] == rows
    listed = dq.groupby(level="source")["rows_quarantined"].sum().to_dict()
    assert listed == marts["quarantined_rows"].groupby("source").size().reindex(listed, fill_value=0).to_dict()
    # a waterfall: what one check keeps the next one receives
    informational = ["identical_transaction_rows", *(c for _, c in reference.nulled_counts())]
    for source in ["lk_onboarding", "dim_users", "bt_users_transactions"]:
        checks = dq.loc[source].drop(index=informational, errors="ignore")
        assert (checks["rows_in"].iloc[1:].to_numpy() == checks["rows_kept"].iloc[:-1].to_numpy()).all()
    onboarding = dq.loc["lk_onboarding"]
    assert onboarding.at["malformed_record", "rows_in"] == 13500
    # 500 users have two identical rows; 16 of them are quarantined (both rows) for their dates
    collapsed = onboarding.at["identical_duplicate", "rows_in"] - onboarding.at["identical_duplicate", "rows_kept"]
    assert collapsed == 500 - 16
    assert onboarding.at["date_before_first_login", "rows_quarantined"] == 446 + 16
    assert onboarding.at["identical_duplicate", "rows_kept"] == len(reference.all_users) == 11554
    assert onboarding.at["date_before_first_login", "users_excluded"] == 446
    unknown = int(reference.all_users["segment"].isna().sum())
    assert dq.at[("population", "unknown_segment"), "users_excluded"] == unknown == 8493
    assert dq.at[("population", "segment_not_selected"), "rows_kept"] == len(reference.population)
    assert dq.at[("population", "segment_inconsistent"), "rows_in"] == int(
        reference.all_users["segment_inconsistent"].sum()
    )
    assert dq.at[("bt_users_transactions", "identical_transaction_rows"), "rows_quarantined"] == 0
    for key, rows in reference.nulled_counts().items():  # 'field' checks: rows kept, value NULL
        assert dq.loc[key, ["rows_in", "rows_kept", "rows_quarantined"]].tolist() == [rows, rows, 0]


def test_funnel_matches_reference(marts, reference):
    compare_frames(
        marts["onboarding_funnel"], reference.funnel(), ["segment_name", "ab_group", "stage"],
        exact=["stage_order", "users"], close=["rate_of_registered", "rate_of_previous"],
    )


def test_segment_summary_matches_reference(marts, reference):
    compare_frames(
        marts["segment_summary"], reference.segment_summary(), ["segment_name"],
        exact=["users"],
        close=["drop_rate", "activation_rate", "setup_rate", "habit_rate", "habit_source_rate"],
    )


def test_ab_results_match_reference(marts, reference):
    compare_frames(
        marts["ab_test_results"], reference.ab_results(), ["segment_name", "metric"],
        exact=["n_control", "n_treatment", "significant", "srm_detected"],
        close=["rate_control", "rate_treatment", "diff", "relative_lift", "z", "p_value",
               "ci_low", "ci_high", "srm_chi2", "srm_p_value"],
    )


def test_weekly_cohorts_match_reference(marts, reference):
    actual = marts["weekly_cohorts"]
    compare_frames(
        actual, reference.weekly_cohorts(), ["week_year", "segment_name", "ab_group"],
        exact=["users"], close=["drop_rate", "activation_rate", "setup_rate", "habit_rate"],
    )
    week_start = actual.drop_duplicates("week_year").set_index("week_year")["week_start"]
    assert str(week_start[52]) == "2021-12-27" and str(week_start[1]) == "2022-01-03"
