"""Incremental models on real Spark (tests/fixtures/incremental): transactions arrive day by
day, `stg_transactions` parses only the new rows and `user_window_activity` recomputes only the
users they touch, merged by unique_key; the result equals a full build."""

from __future__ import annotations

import random
import shutil
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ROOT
from tests.integration.conftest import read_mart

START = date(2024, 1, 1)
USERS = 40


def _users(days: int) -> str:
    """Users who first logged in on one of the first `days` days (one file, rewritten whole)."""
    rng = random.Random(7)
    lines = [",user_id,first_login_dt"]
    for i in range(USERS):
        first = START + timedelta(days=rng.randrange(0, 40))
        if (first - START).days < days:
            lines.append(f"{len(lines) - 1},U{i},{first.isoformat()}")
    return "\n".join(lines) + "\n"


def _day_rows(day: int, first_index: int) -> list[str]:
    """The transactions of day `day` (0-based), row_index from `first_index` on."""
    rng = random.Random(day)
    rows = []
    for _ in range(rng.randrange(5, 15)):
        user = f"U{rng.randrange(USERS + 5)}"  # some users never onboard
        when = f"{START + timedelta(days=day)} {rng.randrange(24):02d}:{rng.randrange(60):02d}:00"
        rows.append(f"{first_index + len(rows)},{user},{when},{rng.choice([1, 3, 8, 9])}")
    return rows


def _write_days(data: Path, days: int) -> int:
    """Transactions of the first `days` days; returns how many rows the file has."""
    rows: list[str] = []
    for day in range(days):
        rows += _day_rows(day, len(rows))
    text = ",user_id,transaction_dt,type\n" + "\n".join(rows) + "\n"
    (data / "transactions.csv").write_text(text)
    (data / "users.csv").write_text(_users(days))
    return len(rows)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "incremental"
    shutil.copytree(ROOT / "tests" / "fixtures" / "incremental", root)
    (root / "data").mkdir()
    return root


def _mart(project: Path) -> pd.DataFrame:
    frame = read_mart(project, "user_window_activity")
    frame["transaction_days"] = frame["transaction_days"].map(lambda days: [str(d) for d in days])
    return frame.sort_values("user_id").reset_index(drop=True)


def test_incremental_days_equal_a_full_build(project, run_runner):
    rows = _write_days(project / "data", 20)
    first = run_runner(["build"], project_dir=project)
    assert first.exit_code == 0, first.output
    assert "incremental, all rows" in first.output

    for days in (21, 22, 35):  # one day, one more, then two weeks at once
        new_rows = _write_days(project / "data", days) - rows
        rows += new_rows
        day = run_runner(["build"], project_dir=project)
        assert day.exit_code == 0, day.output
        assert f"incremental, {new_rows} new rows merged ({rows} rows) stg_transactions" in (
            day.output), day.output
    incremental = _mart(project)
    stored = pd.read_parquet(project / "target" / "marts" / "stg_transactions")

    full = run_runner(["build", "--full-refresh"], project_dir=project)
    assert full.exit_code == 0, full.output
    assert full.output.count("incremental, all rows") == 2
    pd.testing.assert_frame_equal(incremental, _mart(project))
    assert sorted(stored["row_index"]) == sorted(
        pd.read_parquet(project / "target" / "marts" / "stg_transactions")["row_index"])
    assert len(incremental) > 5


def test_no_new_rows_keeps_the_stored_ones(project, run_runner):
    _write_days(project / "data", 10)
    assert run_runner(["build"], project_dir=project).exit_code == 0
    before = _mart(project)
    again = run_runner(["build"], project_dir=project)
    assert again.exit_code == 0, again.output
    assert "incremental, no new rows" in again.output
    pd.testing.assert_frame_equal(before, _mart(project))
    # nothing changed since: reused (it rendered with is_incremental() false the first time)
    third = run_runner(["build"], project_dir=project)
    assert "REUSED incremental model stg_transactions" in third.output, third.output
    pd.testing.assert_frame_equal(before, _mart(project))


def test_changed_columns_need_a_full_refresh(project, run_runner):
    _write_days(project / "data", 10)
    assert run_runner(["build"], project_dir=project).exit_code == 0
    model = project / "models" / "staging" / "stg_transactions.sql"
    model.write_text(model.read_text().replace("cast(type as int) as type",
                                               "cast(type as int) as type, 1 as extra"))
    _write_days(project / "data", 11)
    changed = run_runner(["build", "-s", "stg_transactions"], project_dir=project)
    assert changed.exit_code == 1
    assert "the new rows' columns differ from the stored ones (extra int)" in changed.output
    assert "runner build -s stg_transactions --full-refresh" in changed.output
    refreshed = run_runner(["build", "-s", "stg_transactions", "--full-refresh"],
                           project_dir=project)
    assert refreshed.exit_code == 0, refreshed.output
    assert "extra" in read_mart(project, "stg_transactions").columns
