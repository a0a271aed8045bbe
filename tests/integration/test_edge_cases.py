"""Hand-made edge cases (tests/fixtures/edge/) through the real models, with hand-derived answers.

The fixture's users, all registered on 2022-01-10 (day 29 = 2022-02-08, day 30 = 2022-02-09)
unless noted:

| user | what it exercises |
| --- | --- |
| MLB1001 | 5 distinct days in the window, the 5th on day 29 at 23:59:59.999999999 -> habit |
| MLB1002 | 4 days in the window + one on day 30 (outside) -> no habit |
| MLB1003 | a transaction the day before first login + 4 days in the window -> no habit |
| MLB1004 | 5 identical collection rows (segment 2) -> all kept, seller habit |
| MLB1005 | 4 collections in the window + one on day 30 -> no seller habit |
| MLB1006 | segment 1 rows but one of type 8 -> seller |
| MLB1007 | segment 1 transactions and a rubro -> individual, segment_inconsistent |
| MLB1008 | no transactions, rubro -> seller |
| MLB1009 | no transactions, no rubro -> unknown segment |
| MLB1010 | segment 2 with a payment type -> seller (its dim_users row has a bad birth_dt: kept) |
| MLB1011 | two rows identical after normalising formats (registered 2022-01-01, week 52) -> one user |
| MLB1012 | two rows that differ -> both conflicting_duplicate; its transaction -> unknown_user |
| MLB1013-1 | malformed id in every source |
| MLB1014 | activation before first login -> date_before_first_login |
| MLB1015 / MLB1017 | unparseable first_login_dt / habito |
| MLB1016 | a transaction without timestamp, one with type 'x', one on 2022-01-32 |
| MLB1018 | no transactions, rubro, birth_dt 1990-02-30 -> row kept (birth_dt NULL), seller |
| MLB9999 | transaction of a user absent from onboarding; one record with an extra field |
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ROOT
from tests.integration.conftest import read_mart
from tests.integration.test_marts_original import build_marts, compare_frames, copy_project
from tests.reference import compute_reference

pytestmark = pytest.mark.slow

EDGE = ROOT / "tests" / "fixtures" / "edge"
MARTS = ["user_onboarding_metrics", "onboarding_funnel", "segment_summary", "ab_test_results",
         "weekly_cohorts", "data_quality", "quarantined_rows"]


def _build(run_runner, tmp_path_factory, name: str, **vars) -> dict[str, pd.DataFrame]:
    project = build_marts(
        run_runner, tmp_path_factory.mktemp(name), {"raw_dir": str(EDGE), **vars}
    )
    return {mart: read_mart(project, mart) for mart in MARTS}


@pytest.fixture(scope="module")
def default(run_runner, tmp_path_factory) -> dict[str, pd.DataFrame]:
    return _build(run_runner, tmp_path_factory, "edge_default")


@pytest.fixture(scope="module")
def no_control(run_runner, tmp_path_factory) -> dict[str, pd.DataFrame]:
    return _build(
        run_runner, tmp_path_factory, "edge_no_control",
        control_share=0, include_unknown_segment=True,
    )


@pytest.fixture(scope="module")
def varied(run_runner, tmp_path_factory) -> dict[str, pd.DataFrame]:
    return _build(
        run_runner, tmp_path_factory, "edge_varied",
        control_share=0.5, onboarding_days=31, habit_min_days=4, segments=[1],
    )


def _users(marts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return marts["user_onboarding_metrics"].set_index("user_id").sort_index()


def test_population_and_segments(default):
    users = _users(default)
    assert users["segment"].to_dict() == {
        "MLB1001": 1, "MLB1002": 1, "MLB1003": 1,
        "MLB1004": 2,  # segment = 2
        "MLB1005": 2,
        "MLB1006": 2,  # segment 1 rows, but a type-8 collection
        "MLB1007": 1,  # transactions win over rubro
        "MLB1008": 2,  # rubro only
        "MLB1010": 2,  # segment = 2 with a payment type
        "MLB1011": 2,  # rubro only; two identical rows, one user
        "MLB1016": 1,
        "MLB1018": 2,  # rubro only, on a dim_users row with an unparseable birth_dt
    }
    assert "MLB1009" not in users.index  # unknown segment excluded by default
    dq = default["data_quality"].set_index(["source", "check"])
    assert dq.loc[("population", "unknown_segment"), ["rows_in", "rows_kept", "users_excluded"]].tolist() == [13, 12, 1]
    assert dq.at[("population", "segment_inconsistent"), "rows_in"] == 1


def test_window_boundaries_and_habit(default):
    users = _users(default)
    counts = users[["transactions_in_window", "collections_in_window", "habit"]]
    assert counts.loc["MLB1001"].tolist() == [5, 0, 1]  # day 29 at the last nanosecond is in
    assert counts.loc["MLB1002"].tolist() == [4, 0, 0]  # day 30 is out: 4 days
    assert counts.loc["MLB1003"].tolist() == [4, 0, 0]  # the day before first login is out
    assert counts.loc["MLB1004"].tolist() == [5, 5, 1]  # 5 identical collections: 5
    assert counts.loc["MLB1005"].tolist() == [4, 4, 0]  # 4 collections in, the 5th on day 30
    assert counts.loc["MLB1006"].tolist() == [2, 1, 0]
    assert dict(users.loc["MLB1001", "milestones"]) == {
        "registration": dt.date(2022, 1, 10), "return": dt.date(2022, 1, 12),
        "activation": dt.date(2022, 1, 10), "setup": dt.date(2022, 1, 11),
        "habit": dt.date(2022, 2, 8),
    }
    assert dict(users.loc["MLB1004", "milestones"])["habit"] == dt.date(2022, 1, 15)
    assert "habit" not in dict(users.loc["MLB1002", "milestones"])
    assert list(users.loc["MLB1001", "transaction_types"]) == [1, 2, 3, 7]
    assert list(users.loc["MLB1006", "transaction_types"]) == [1, 8]
    assert list(users.loc["MLB1008", "transaction_types"]) == []
    assert users.loc["MLB1001", ["days_to_activation", "days_to_setup"]].tolist() == [0, 1]
    assert users.loc["MLB1001", "habit_source"] == 1 and users.loc["MLB1002", "habit_source"] == 0


def test_duplicates_and_quarantine(default):
    users = _users(default)
    assert users.loc["MLB1011", ["first_login_dt", "week_year"]].tolist() == [dt.date(2022, 1, 1), 52]
    q = default["quarantined_rows"]
    assert q.groupby(["source", "reason"]).size().to_dict() == {
        ("bt_users_transactions", "malformed_record"): 1,
        ("bt_users_transactions", "malformed_user_id"): 1,
        ("bt_users_transactions", "missing_transaction_dt"): 1,
        ("bt_users_transactions", "unknown_user"): 3,
        ("bt_users_transactions", "unparseable_transaction_dt"): 1,
        ("bt_users_transactions", "unparseable_type"): 1,
        ("dim_users", "malformed_user_id"): 1,
        ("lk_onboarding", "conflicting_duplicate"): 2,
        ("lk_onboarding", "date_before_first_login"): 1,
        ("lk_onboarding", "malformed_user_id"): 1,
        ("lk_onboarding", "unparseable_first_login_dt"): 1,
        ("lk_onboarding", "unparseable_habito"): 1,
    }
    conflicting = q[q["reason"] == "conflicting_duplicate"]
    assert sorted(conflicting["row_index"]) == [12, 13]
    assert set(conflicting["raw"].map(lambda m: dict(m)["user_id"])) == {"MLB1012"}
    malformed = q[q["reason"] == "malformed_record"].iloc[0]
    assert dict(malformed["raw"])["_corrupt_record"] == "35,MLB1001,2022-01-14 10:00:00,1,1,extra"
    unknown = q[(q["reason"] == "unknown_user")]["raw"].map(lambda m: dict(m)["user_id"])
    assert sorted(unknown) == ["MLB1012", "MLB1014", "MLB9999"]
    dq = default["data_quality"].set_index(["source", "check"])
    collapse = dq.loc[("lk_onboarding", "identical_duplicate")]
    assert (collapse["rows_in"], collapse["rows_kept"], collapse["rows_quarantined"]) == (14, 13, 0)
    assert dq.at[("lk_onboarding", "conflicting_duplicate"), "users_excluded"] == 1
    assert dq.at[("bt_users_transactions", "identical_transaction_rows"), "rows_in"] == 4


def test_unparseable_birth_dt_keeps_the_row(default):
    """A bad birth_dt (no rule uses it) is set to NULL: the row stays, and with it the rubro."""
    q = default["quarantined_rows"]
    dim_ids = q[q["source"] == "dim_users"]["raw"].map(lambda m: dict(m)["user_id"])
    assert "MLB1010" not in set(dim_ids) and "MLB1018" not in set(dim_ids)
    dq = default["data_quality"].set_index(["source", "check"])
    # outside the waterfall: the kept rows whose birth_dt was set to NULL (MLB1010, MLB1018)
    counts = ["rows_in", "rows_kept", "rows_quarantined", "users_excluded"]
    assert dq.loc[("dim_users", "unparseable_birth_dt"), counts].tolist() == [2, 2, 0, 0]
    dim = dq.loc["dim_users"].drop(index="unparseable_birth_dt")
    assert dim.loc["malformed_record", "rows_in"] == 18
    assert dim.loc["unparseable_rubro", "rows_kept"] == 17  # only MLB1013-1 is quarantined
    users = _users(default)
    assert users.loc["MLB1018", ["segment_name", "activation", "drop"]].tolist() == [
        "sellers", 1, 0,
    ]


def test_default_marts_match_reference(default):
    _compare_with_reference(default, {})


def test_empty_control_group_gives_null_statistics(no_control):
    ab = no_control["ab_test_results"]
    assert (ab["n_control"] == 0).all() and (ab["n_treatment"] > 0).all()
    for column in ["rate_control", "diff", "relative_lift", "z", "p_value", "ci_low", "ci_high",
                   "significant", "srm_chi2", "srm_p_value", "srm_detected"]:
        assert ab[column].isna().all(), column
    funnel = no_control["onboarding_funnel"]
    control = funnel[funnel["ab_group"] == "control"]
    assert (control["users"] == 0).all() and control["rate_of_registered"].isna().all()
    _compare_with_reference(no_control, {"control_share": 0, "include_unknown_segment": True})


def test_unknown_segment_included_with_individuals_rule(no_control):
    users = _users(no_control)
    assert users.loc["MLB1009", ["segment_name", "habit"]].tolist() == ["unknown", 0]
    assert pd.isna(users.loc["MLB1009", "segment"])
    summary = no_control["segment_summary"].set_index("segment_name")["users"]
    assert summary.loc[["individuals", "sellers", "unknown", "all"]].tolist() == [5, 7, 1, 13]
    dq = no_control["data_quality"].set_index(["source", "check"])
    assert dq.at[("population", "unknown_segment"), "users_excluded"] == 0


def test_vars_change_window_threshold_and_segments(varied):
    users = _users(varied)
    assert sorted(users.index) == ["MLB1001", "MLB1002", "MLB1003", "MLB1007", "MLB1016"]
    assert users["habit"].to_dict() == {
        "MLB1001": 1,
        "MLB1002": 1,  # day 30 is inside a 31-day window: 5 days
        "MLB1003": 1,  # 4 days reach a threshold of 4
        "MLB1007": 0,
        "MLB1016": 0,
    }
    dq = varied["data_quality"].set_index(["source", "check"])
    assert dq.at[("population", "segment_not_selected"), "users_excluded"] == 7
    assert set(varied["ab_test_results"]["segment_name"]) == {"individuals", "all"}
    _compare_with_reference(
        varied, {"control_share": 0.5, "onboarding_days": 31, "habit_min_days": 4, "segments": [1]}
    )


def _compare_with_reference(marts: dict[str, pd.DataFrame], vars: dict) -> None:
    reference = compute_reference(EDGE, vars)
    expected = reference.population.copy()
    expected["segment"] = expected["segment"].astype("Int64")
    compare_frames(
        marts["user_onboarding_metrics"], expected, ["user_id"],
        exact=["segment", "segment_name", "ab_group", "ab_bucket", "drop", "activation", "setup",
               "habit", "habit_source", "transactions_in_window", "collections_in_window"],
        close=[],
    )
    compare_frames(
        marts["onboarding_funnel"], reference.funnel(), ["segment_name", "ab_group", "stage"],
        exact=["users"], close=["rate_of_registered", "rate_of_previous"],
    )
    compare_frames(
        marts["ab_test_results"], reference.ab_results(), ["segment_name", "metric"],
        exact=["n_control", "n_treatment", "significant", "srm_detected"],
        close=["rate_control", "rate_treatment", "diff", "relative_lift", "z", "p_value",
               "ci_low", "ci_high", "srm_chi2", "srm_p_value"],
    )
    actual_q = marts["quarantined_rows"].groupby(["source", "reason"]).size().to_dict()
    assert actual_q == reference.quarantine_counts()
    dq = marts["data_quality"].set_index(["source", "check"])
    for key, rows in reference.nulled_counts().items():  # 'field' checks: rows kept, value NULL
        counts = dq.loc[key, ["rows_in", "rows_kept", "rows_quarantined"]].tolist()
        assert counts == [rows, rows, 0], key


def test_statistics_macros_are_accurate(run_runner, make_project):
    """normal_cdf against math.erfc on [-40, 40], and the p-value helpers, to 1e-7 or better."""
    project = make_project(
        {
            "macros/stats.sql": (ROOT / "macros" / "stats.sql").read_text(),
            "models/stats_check.sql": textwrap.dedent(
                """\
                {{ config(materialized='table') }}
                select
                    x,
                    {{ normal_cdf('x') }} as cdf,
                    {{ two_sided_p_value('x') }} as p_two_sided,
                    {{ chi2_1df_p_value('x * x') }} as p_chi2
                from (
                    select cast(id as double) / 200 - 40 as x from range(0, 16001)
                    union all
                    select cast(null as double)
                )
                """
            ),
        }
    )
    result = run_runner(["run"], project_dir=project)
    assert result.exit_code == 0, result.output
    df = read_mart(Path(project), "stats_check")
    assert df[df["x"].isna()][["cdf", "p_two_sided", "p_chi2"]].isna().all().all()
    df = df.dropna()
    expected_cdf = df["x"].map(lambda x: 0.5 * math.erfc(-x / math.sqrt(2)))
    expected_p = df["x"].map(lambda x: math.erfc(abs(x) / math.sqrt(2)))
    assert (df["cdf"] - expected_cdf).abs().max() < 1e-7
    assert (df["p_two_sided"] - expected_p).abs().max() < 1e-7
    assert (df["p_chi2"] - expected_p).abs().max() < 1e-7
    # relative accuracy in the tails too, where p-values are tiny (down to 1e-299)
    tail = df[df["x"].abs().between(5, 37)]
    assert ((tail["p_two_sided"] - expected_p[tail.index]).abs() / expected_p[tail.index]).max() < 1e-7


def test_group_column_wins_when_declared(run_runner, tmp_path_factory):
    """var ab_group_column names a source column; its control/treatment values beat the hash."""
    project = copy_project(tmp_path_factory.mktemp("edge_group_column"))
    sources = project / "models" / "sources.yml"
    sources.write_text(sources.read_text().replace(
        '          - {name: return_dt, data_type: date, description: "Return date"}\n',
        '          - {name: return_dt, data_type: date, description: "Return date"}\n'
        '          - {name: ab_group, data_type: string, description: "Assigned group"}\n',
        1,
    ))
    raw = project / "raw"
    shutil.copytree(EDGE, raw)
    groups = {"MLB1001": "control", "MLB1003": "Treatment", "MLB1004": "bogus"}
    lines = (raw / "lk_onboarding.csv").read_text().splitlines()
    out = [lines[0] + ",ab_group"]
    for line in lines[1:]:
        out.append(line + "," + groups.get(line.split(",")[4], ""))
    (raw / "lk_onboarding.csv").write_text("\n".join(out) + "\n")
    build_marts(run_runner, project, {"raw_dir": str(raw), "ab_group_column": "ab_group"}, copy=False)
    users = _users({"user_onboarding_metrics": read_mart(project, "user_onboarding_metrics")})
    hashed = _users({"user_onboarding_metrics": _hash_groups()})
    assert users.loc["MLB1001", "ab_group"] == "control"
    assert hashed.loc["MLB1003", "ab_group"] == "control"  # the hash's answer ...
    assert users.loc["MLB1003", "ab_group"] == "treatment"  # ... loses to the column
    assert users.loc["MLB1004", "ab_group"] == hashed.loc["MLB1004", "ab_group"]  # invalid: hash
    others = users.index.difference(["MLB1001", "MLB1003"])
    assert (users.loc[others, "ab_group"] == hashed.loc[others, "ab_group"]).all()


def _hash_groups() -> pd.DataFrame:
    return compute_reference(EDGE).population[["user_id", "ab_group"]]
