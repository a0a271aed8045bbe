"""Synthetic data generator: determinism, exact file shape and the defects of the originals."""

from __future__ import annotations

import csv
import doctest
import hashlib
import importlib
from pathlib import Path

import pandas as pd
import pytest

from runner.generate import (
    ONBOARDING_FILE,
    TRANSACTIONS_FILE,
    USERS_FILE,
    generate_dataset,
    write_sample,
)
from tests.conftest import ORIGINAL_DATA, ROOT

FILES = (ONBOARDING_FILE, USERS_FILE, TRANSACTIONS_FILE)
DATES = ("first_login_dt", "habito_dt", "activacion_dt", "setup_dt", "return_dt")


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    """The default profile (13,000 users, seed 42), as the original."""
    out = tmp_path_factory.mktemp("gen")
    return out, generate_dataset(out)


@pytest.fixture(scope="module")
def frames(generated) -> dict[str, pd.DataFrame]:
    out, _ = generated
    on = _read(out / ONBOARDING_FILE)
    for col in DATES:
        on[col + "_d"] = pd.to_datetime(on[col].str[:10], format="%Y-%m-%d", errors="coerce")
    return {"on": on, "du": _read(out / USERS_FILE), "tx": _read(out / TRANSACTIONS_FILE)}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    for name in ("a", "b", "c"):
        generate_dataset(tmp_path / name, users=1500, seed=7 if name != "c" else 8)
    for file in FILES:
        assert _digest(tmp_path / "a" / file) == _digest(tmp_path / "b" / file)
        assert _digest(tmp_path / "a" / file) != _digest(tmp_path / "c" / file)


def test_heavy_profile_is_deterministic_too(tmp_path):
    generate_dataset(tmp_path / "a", users=500, seed=3, heavy=True)
    generate_dataset(tmp_path / "b", users=500, seed=3, heavy=True)
    for file in FILES:
        assert _digest(tmp_path / "a" / file) == _digest(tmp_path / "b" / file)


@pytest.mark.skipif(not ORIGINAL_DATA.is_dir(), reason="original data not available")
@pytest.mark.parametrize("file", FILES)
def test_header_is_exactly_the_original_header(generated, file):
    out, _ = generated
    with (ORIGINAL_DATA / file).open("rb") as fh:
        expected = fh.readline()
    with (out / file).open("rb") as fh:
        assert fh.readline() == expected


def test_returned_counts_and_file_shape(generated, frames):
    out, counts = generated
    assert counts == {
        ONBOARDING_FILE: 13500, USERS_FILE: 13000, TRANSACTIONS_FILE: len(frames["tx"])
    }
    assert len(frames["on"]) == 13500
    for file in FILES:
        data = (out / file).read_bytes()
        assert data.endswith(b"\n") and b"\r" not in data and not data.startswith(b"\xef\xbb\xbf")
        data.decode("utf-8")
    # the leading unnamed column is the row index 0..n-1 in file order
    for frame in frames.values():
        assert frame.iloc[:, 0].tolist() == [str(i) for i in range(len(frame))]


def test_dim_users_has_three_physical_lines_per_record(generated, frames):
    out, _ = generated
    lines = (out / USERS_FILE).read_bytes().count(b"\n")
    assert lines == 1 + 3 * 13000
    assert len(frames["du"]) == 13000
    assert (frames["du"].address.str.count("\n") == 2).all()
    # only the address is quoted, as csv.QUOTE_MINIMAL does
    with (out / USERS_FILE).open(newline="") as fh:
        next(fh)
        first = "".join(next(fh) for _ in range(3))
    row = next(csv.reader([first]))
    assert first == ",".join(f'"{v}"' if "\n" in v else v for v in row) + "\n"


def test_value_formats(frames):
    on, du, tx = frames["on"], frames["du"], frames["tx"]
    assert on.user_id.str.fullmatch(r"MLB\d+(-1)?").all()
    assert on["Unnamed: 0"].str.fullmatch(r"(\d+\.0)?").all()
    assert set(on.habito) == {"0.0", "1.0", ""}
    for flag in ("activacion", "setup", "return"):
        assert set(on[flag]) == {"0", "1"}
    for col in DATES:
        assert on[col].str.fullmatch(r"(\d{4}-\d\d-\d\d( 00:00:00)?)?").all()
    assert set(du.rubro) == {""} | {f"{v}.0" for v in range(1, 10)}
    assert set(du.type) == {"", "8.0", "9.0"}
    assert du.birth_dt.str.fullmatch(r"\d{4}-\d\d-\d\d").all()
    stamps = tx.transaction_dt[tx.transaction_dt != ""]
    assert stamps.str.fullmatch(r"2022-0[1-3]-\d\d \d\d:\d\d:\d\d\.\d{9}").all()
    assert (pd.to_datetime(on.first_login_dt_d).dt.isocalendar().week.astype(str)
            == on.week_year).all()


def test_blocks_duplicates_and_malformed_ids(frames):
    on = frames["on"]
    midnight = on.first_login_dt.str.len() > 10
    block_b = on["Unnamed: 0"] == ""
    assert (~block_b & ~midnight).sum() == 10000  # block A
    assert block_b.sum() == 2000 and midnight.sum() == 1500
    # block C: every date of the row in the midnight format, and only there
    for col in DATES:
        assert (on.loc[~midnight, col].str.len() <= 10).all()
        assert (on.loc[midnight, col].str.len().isin([0, 19])).all()

    assert on.user_id.nunique() == 13000
    counts = on.user_id.value_counts()
    assert (counts == 2).sum() == 500 and counts.max() == 2
    normalised = on[on.columns[2:13]].copy()
    normalised[list(DATES)] = normalised[list(DATES)].apply(lambda s: s.str[:10])
    dup_rows = normalised[on.user_id.duplicated(keep=False)]
    assert (dup_rows.groupby(on.user_id).nunique() == 1).all().all()

    malformed = on[on.user_id.str.endswith("-1")]
    assert len(malformed) == 1000 and malformed.user_id.is_unique
    base_ids = set(on.user_id[~midnight & ~block_b])
    assert set(malformed.user_id.str[:-2]) <= base_ids
    assert 0.4 < (malformed.habito == "").mean() < 0.6
    assert (on.habito[~on.user_id.str.endswith("-1")] != "").all()
    before = malformed.return_dt_d < malformed.first_login_dt_d
    assert 0.4 < before.mean() < 0.6
    assert ((malformed.first_login_dt_d - malformed.return_dt_d)[before].dt.days == 1).all()
    assert not (on.return_dt_d < on.first_login_dt_d)[~on.user_id.str.endswith("-1")].any()


def test_seller_cohort(frames):
    on, du = frames["on"], frames["du"]
    block_b = set(on.user_id[on["Unnamed: 0"] == ""])
    sellers = du[du.rubro != ""]
    assert set(sellers.user_id) == block_b
    assert 0.14 < len(sellers) / len(du) < 0.17
    assert (du.type[du.rubro == ""] == "").all() and 0.5 < (sellers.type != "").mean() < 0.8
    # most seller ids are MLB4 + the digits of a block-A id with an identical onboarding row
    plain = on[(on["Unnamed: 0"] != "") & (on.first_login_dt.str.len() == 10)].set_index("user_id")
    seller_rows = on[on["Unnamed: 0"] == ""].set_index("user_id")
    twins = [u for u in seller_rows.index if u.startswith("MLB4") and "MLB" + u[4:] in plain.index]
    assert 0.6 < len(twins) / len(seller_rows) < 0.75
    cols = list(on.columns[2:4]) + list(on.columns[5:13])
    twin_rows = plain.loc[["MLB" + u[4:] for u in twins], cols].to_numpy()
    assert (seller_rows.loc[twins, cols].to_numpy() == twin_rows).all()


def test_ids_match_across_files(frames):
    on, du, tx = frames["on"], frames["du"], frames["tx"]
    assert du.user_id.is_unique and set(du.user_id) == set(on.user_id)
    assert set(tx.user_id) <= set(on.user_id)


def test_transaction_users_are_the_habit_users(frames):
    on, tx = frames["on"], frames["tx"]
    users = on.drop_duplicates("user_id")
    habit = set(users.user_id[users.habito == "1.0"])
    assert set(tx.user_id) == habit
    assert 0.10 < len(habit) / len(users) < 0.14
    assert (tx.groupby("user_id").size() == 5).all()
    assert tx.groupby("user_id").segment.nunique().max() == 1
    assert set(tx.type[tx.segment == "1"]) == {str(v) for v in range(1, 8)}
    assert set(tx.type[tx.segment == "2"]) == {"8", "9"}
    sellers = set(frames["du"].user_id[frames["du"].rubro != ""])
    assert set(tx.user_id[tx.segment == "2"]) == sellers & habit


def test_transaction_defects(frames):
    on, tx = frames["on"], frames["tx"]
    users = on.drop_duplicates("user_id").set_index("user_id")
    empty = tx[tx.transaction_dt == ""]
    assert 2 <= empty.user_id.nunique() <= 8
    assert (tx[tx.user_id.isin(empty.user_id)].transaction_dt == "").all()  # whole 5-row sets
    assert (users.loc[empty.user_id.unique(), "activacion"] == "0").all()

    stamped = tx[tx.transaction_dt != ""].copy()
    stamped["day"] = pd.to_datetime(stamped.transaction_dt.str[:10])
    stamped["delta"] = (stamped.day - stamped.user_id.map(users.first_login_dt_d)).dt.days
    per_user = stamped.groupby("user_id").agg(
        first=("delta", "min"), last=("delta", "max"), days=("day", "nunique"),
        stamps=("transaction_dt", "nunique"), segment=("segment", "first"),
    )
    assert 3 <= (per_user["first"] < 0).sum() <= 12
    assert per_user["last"].max() < 30
    single = per_user[per_user.days == 1]
    assert (single.stamps == 1).all() and len(single) / len(per_user) > 0.99
    # the Individuals habit rule (>= 5 distinct days in the window) is reachable, but rarely
    reached = per_user[(per_user.segment == "1") & (per_user.days >= 5)]
    assert 2 <= len(reached) <= 20


def test_activation_timing(frames):
    users = frames["on"].drop_duplicates("user_id")
    delay = (users.activacion_dt_d - users.first_login_dt_d).dt.days
    assert 0.025 < (delay < 0).mean() < 0.055
    assert 5 <= (delay == 31).sum() <= 35 and delay.max() == 31
    assert users.activacion_dt_d.min() >= pd.Timestamp("2022-01-01")
    setup = (users.setup_dt_d - users.first_login_dt_d).dt.days
    assert setup.min() == 0 and setup.max() <= 29
    habit = (users.habito_dt_d - users.first_login_dt_d).dt.days
    assert habit.min() >= 0 and habit.max() <= 30
    assert not (users.habito_dt_d < users.activacion_dt_d).any()


def test_heavy_profile_spreads_transactions_over_days(tmp_path):
    counts = generate_dataset(tmp_path, users=2000, seed=5, heavy=True)
    tx = _read(tmp_path / TRANSACTIONS_FILE)
    assert counts[TRANSACTIONS_FILE] == len(tx)
    assert tx.user_id.nunique() == 800 and 45 < len(tx) / 800 < 55  # 40% of users, ~50 rows
    days = tx[tx.transaction_dt != ""].groupby("user_id").transaction_dt.agg(
        lambda s: s.str[:10].nunique()
    )
    assert (days >= 5).mean() > 0.3 and (days == 1).any()
    on = _read(tmp_path / ONBOARDING_FILE)
    assert set(tx.user_id) <= set(on.user_id)


def test_tx_users_share_adds_users_without_habit(tmp_path):
    generate_dataset(tmp_path, users=2000, seed=1, tx_users_share=0.3)
    tx, on = _read(tmp_path / TRANSACTIONS_FILE), _read(tmp_path / ONBOARDING_FILE)
    assert tx.user_id.nunique() == 600
    habit = set(on.user_id[on.habito == "1.0"])
    assert habit < set(tx.user_id)


def test_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        generate_dataset(tmp_path, users=0)
    with pytest.raises(ValueError):
        generate_dataset(tmp_path, users=10, tx_users_share=1.5)


def test_committed_sample_is_current(tmp_path):
    write_sample(tmp_path)
    for file in FILES:
        assert _digest(tmp_path / file) == _digest(ROOT / "seeds" / file), file
    assert sum((ROOT / "seeds" / file).stat().st_size for file in FILES) < 1_000_000


@pytest.mark.parametrize("name", ["columns", "days", "ids", "onboarding", "people", "sampling"])
def test_doctests(name):
    module = importlib.import_module(f"runner.generate.{name}")
    assert doctest.testmod(module).failed == 0
